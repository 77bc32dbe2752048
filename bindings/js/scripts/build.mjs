// npm run build: tsc to dist/, plus the files tsc does not emit: the core
// contract (core.d.ts), the Svelte component (shipped as source, compiled by
// the app's Svelte), and the wasm assets when the Go build has produced them
// (building jazz-backend.wasm, for jazz-tools/backend, when Go is available).
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
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
// jazz-tools/backend runs jazz-backend.wasm: the core plus package backend
// (server-side session resolution), built with -tags jazzbackend so the
// browser's jazz.wasm never links it. Built here when the Go toolchain and
// the repository are at hand (the Go build cache makes a rebuild cheap).
const repo = join(root, "../..");
if (existsSync(join(repo, "go.mod")) && spawnSync("go", ["version"], { stdio: "ignore" }).status === 0) {
  mkdirSync(wasm, { recursive: true });
  const out = join(wasm, "jazz-backend.wasm");
  const b = spawnSync("go", ["build", "-tags", "jazzbackend", "-trimpath", "-ldflags=-s -w", "-o", out, "./wasm"], {
    cwd: repo,
    stdio: "inherit",
    env: { ...process.env, GOOS: "js", GOARCH: "wasm" },
  });
  if (b.status !== 0) process.exit(b.status ?? 1);
  if (!existsSync(join(wasm, "wasm_exec.js"))) {
    const goroot = spawnSync("go", ["env", "GOROOT"], { encoding: "utf8" }).stdout.trim();
    cpSync(join(goroot, "lib/wasm/wasm_exec.js"), join(wasm, "wasm_exec.js"));
  }
  console.log("build: built wasm/jazz-backend.wasm (jazz-tools/backend)");
} else {
  console.log("build: no Go toolchain; wasm/jazz-backend.wasm (jazz-tools/backend) not rebuilt");
}

if (existsSync(wasm) && readdirSync(wasm).length > 0) {
  cpSync(wasm, join(dist, "wasm"), { recursive: true });
  console.log(`build: copied ${readdirSync(wasm).join(", ")} to dist/wasm/`);
} else {
  console.log("build: no wasm/ assets yet (the Go build puts jazz.wasm and wasm_exec.js there); dist/wasm/ left out");
}
