// Bundle-size budget: each entry bundled as an app would (minified, the
// frameworks and the wasm left out), brotli-compressed. Fails over 10 KB.
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants } from "node:zlib";
import * as esbuild from "esbuild";
import { compile, compileModule } from "svelte/compiler";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const BUDGET = 10 * 1024;
const entries = { "jazz-tools": "src/index.ts", "jazz-tools/react": "src/react/index.tsx", "jazz-tools/vue": "src/vue/index.ts", "jazz-tools/svelte": "src/svelte/index.ts" };

// Compiles the Svelte sources as the app's vite-plugin-svelte would.
const sveltePlugin = {
  name: "svelte",
  setup(build) {
    build.onLoad({ filter: /\.svelte$/ }, async (a) => {
      const { js } = compile(await readFile(a.path, "utf8"), { filename: a.path, generate: "client" });
      return { contents: js.code, loader: "js" };
    });
    build.onLoad({ filter: /\.svelte\.ts$/ }, async (a) => {
      const { code } = await esbuild.transform(await readFile(a.path, "utf8"), { loader: "ts" });
      return { contents: compileModule(code, { filename: a.path, generate: "client" }).js.code, loader: "js" };
    });
  },
};

let failed = false;
for (const [name, entry] of Object.entries(entries)) {
  const result = await esbuild.build({
    entryPoints: [join(root, entry)],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    write: false,
    external: ["react", "react-dom", "react/*", "vue", "svelte", "svelte/*", "*.wasm", "./wasm/*"],
    plugins: [sveltePlugin],
    logLevel: "error",
  });
  const code = result.outputFiles[0].contents;
  const br = brotliCompressSync(code, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  const over = br > BUDGET;
  failed ||= over;
  console.log(`${name.padEnd(18)} ${(code.length / 1024).toFixed(1).padStart(6)} KB min  ${(br / 1024).toFixed(2).padStart(5)} KB brotli${over ? "  OVER BUDGET (10 KB)" : ""}`);
}
if (failed) process.exit(1);
