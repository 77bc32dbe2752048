// The built package as users get it (runs after `npm run build`).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { compile, compileModule } from "svelte/compiler";
import { describe, expect, it } from "vitest";

const root = process.cwd();
const built = existsSync(join(root, "dist/index.js"));
if (!built) console.warn("SKIPPED: built-package checks (run `npm run build` first)");

describe.skipIf(!built)("built package", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, string | Record<string, string>> };

  it("has a file behind every export condition", () => {
    for (const [entry, target] of Object.entries(pkg.exports)) {
      for (const file of typeof target === "string" ? [target] : Object.values(target)) {
        expect(existsSync(join(root, file)), `${entry} -> ${file}`).toBe(true);
      }
    }
  });

  it("keeps the contract with the core, and a real backend entry", () => {
    expect(readFileSync(join(root, "dist/core.d.ts"), "utf8")).toBe(readFileSync(join(root, "src/core.d.ts"), "utf8"));
    expect(pkg.exports["./backend"]).toMatchObject({ types: "./dist/backend/index.d.ts", import: "./dist/backend/index.js" });
    expect(readFileSync(join(root, "dist/backend/index.js"), "utf8")).toMatch(/export function createJazzContext/);
  });

  it("ships Svelte sources that the app's Svelte compiler accepts", () => {
    const dir = join(root, "dist/svelte");
    const files = readdirSync(dir).filter((f) => f.endsWith(".svelte") || f.endsWith(".svelte.js"));
    expect(files.sort()).toEqual(["JazzSvelteProvider.svelte", "auth.svelte.js", "query.svelte.js"]);
    for (const f of files) {
      const source = readFileSync(join(dir, f), "utf8");
      const out = f.endsWith(".svelte") ? compile(source, { filename: f }) : compileModule(source, { filename: f });
      expect(out.js.code).not.toMatch(/\$state|\$effect|\$derived/);
    }
  });

  it("imports by package name in plain Node (ESM self-reference to dist/)", () => {
    const script = `
      const main = await import("jazz-tools");
      const react = await import("jazz-tools/react");
      const vue = await import("jazz-tools/vue");
      console.log(import.meta.resolve("jazz-tools"), typeof main.schema.defineApp, typeof main.createDb, typeof react.useAll, typeof vue.useAll);`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toMatch(/\/dist\/index\.js function function function function$/);
  });
});
