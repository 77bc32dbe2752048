// npm run build: tsc to dist/, plus the files tsc does not emit: the core
// contract (core.d.ts), the Svelte component (shipped as source, compiled by
// the app's Svelte), and the wasm assets when the Go build has produced them.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const r = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.json")], { stdio: "inherit" });
if (r.status !== 0) process.exit(r.status ?? 1);

cpSync(join(root, "src/core.d.ts"), join(dist, "core.d.ts"));
for (const f of readdirSync(join(root, "src/svelte")).filter((f) => f.endsWith(".svelte"))) {
  cpSync(join(root, "src/svelte", f), join(dist, "svelte", f));
}

const wasm = join(root, "wasm");
if (existsSync(wasm) && readdirSync(wasm).length > 0) {
  cpSync(wasm, join(dist, "wasm"), { recursive: true });
  console.log(`build: copied ${readdirSync(wasm).join(", ")} to dist/wasm/`);
} else {
  console.log("build: no wasm/ assets yet (the Go build puts jazz.wasm and wasm_exec.js there); dist/wasm/ left out");
}
