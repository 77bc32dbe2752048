#!/usr/bin/env node
// Loads the built jazz.wasm in Node 20 with Go's wasm_exec.js and returns
// globalThis.__jazzCore (the JazzCore of bindings/js/src/core.d.ts).
//
// As a library (for the JS package's Node tests):
//   import { loadJazzCore } from "../../scripts/wasm/node-run.mjs";
//   const core = await loadJazzCore();            // bindings/js/wasm/jazz.wasm
//   const core = await loadJazzCore({ wasm, wasmExec, checkFresh: true });
//
// As a command, a smoke test of the built artifact (used by ./build.sh):
//   node --experimental-websocket scripts/wasm/node-run.mjs [--check-fresh] [path/to/jazz.wasm]
//
// Node 20 has no global WebSocket, which the sync client needs: this sets
// one from the npm package "ws" when it is installed, otherwise node must
// run with --experimental-websocket (Node >= 22 has it by default).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const outDir = join(root, "bindings/js/wasm");

async function ensureWebSocket() {
  if (typeof globalThis.WebSocket === "function") return;
  try {
    const require = createRequire(join(root, "bindings/js/package.json"));
    globalThis.WebSocket = require("ws");
  } catch {
    throw new Error("jazz: no WebSocket in this Node; run node with --experimental-websocket or install the npm package ws");
  }
}

/** The build id of the current Go sources (needs Go; see tools/buildinfo). */
export function currentBuildId() {
  return execFileSync("go", ["run", "./tools/buildinfo/buildid"], { cwd: root, encoding: "utf8" }).trim();
}

let loading;

/**
 * Starts the wasm once per process and resolves to globalThis.__jazzCore.
 * checkFresh refuses a jazz.wasm whose BUILD_ID does not match the sources.
 */
export function loadJazzCore({ wasm = join(outDir, "jazz.wasm"), wasmExec = join(outDir, "wasm_exec.js"), checkFresh = false } = {}) {
  loading ??= (async () => {
    if (checkFresh) {
      const built = readFileSync(join(dirname(wasm), "BUILD_ID"), "utf8").trim();
      const now = currentBuildId();
      if (built !== now) throw new Error(`jazz: ${wasm} is stale (built from ${built}, sources are ${now}): run ./build.sh build`);
    }
    await ensureWebSocket();
    if (typeof globalThis.Go !== "function") {
      vm.runInThisContext(readFileSync(wasmExec, "utf8"), { filename: wasmExec });
    }
    const go = new globalThis.Go();
    const { instance } = await WebAssembly.instantiate(readFileSync(wasm), go.importObject);
    go.run(instance).catch((e) => console.error("jazz: wasm exited:", e));
    for (let i = 0; i < 200 && !globalThis.__jazzCore; i++) await new Promise((r) => setTimeout(r, 5));
    if (!globalThis.__jazzCore) throw new Error("jazz: the wasm did not set globalThis.__jazzCore");
    return globalThis.__jazzCore;
  })();
  return loading;
}

async function smoke(args) {
  const checkFresh = args.includes("--check-fresh");
  const wasm = args.find((a) => !a.startsWith("--"));
  const t0 = performance.now();
  const core = await loadJazzCore({ checkFresh, ...(wasm ? { wasm: resolve(wasm), wasmExec: join(dirname(resolve(wasm)), "wasm_exec.js") } : {}) });
  const ready = performance.now() - t0;
  const db = await core.createDb(JSON.stringify({ appId: "smoke", secret: core.newSecret(), storage: "memory" }));
  db.useSchema(JSON.stringify({ tables: [{ name: "todos", columns: [{ name: "title", type: "string" }] }] }));
  const updates = [];
  const unsubscribe = db.subscribe(JSON.stringify({ table: "todos" }), (u) => updates.push(JSON.parse(u)));
  await db.insert("todos", JSON.stringify({ title: "milk" }));
  const rows = JSON.parse(await db.all(JSON.stringify({ table: "todos" })));
  let denied;
  const anon = await core.createDb(JSON.stringify({ appId: "smoke", storage: "memory" }));
  anon.useSchema(JSON.stringify({ tables: [{ name: "todos", columns: [{ name: "title", type: "string" }] }] }));
  try {
    await anon.insert("todos", JSON.stringify({ title: "x" }));
  } catch (e) {
    denied = e;
  }
  await new Promise((r) => setTimeout(r, 10));
  unsubscribe();
  await db.close();
  await anon.close();
  const ok = rows.length === 1 && rows[0].title === "milk" && updates.length >= 1 && denied instanceof Error && denied.name === "AnonymousWriteDeniedError" && denied.table === "todos";
  console.log(JSON.stringify({ ok, version: core.version, readyMs: Math.round(ready), rows: rows.length, updates: updates.length, denied: denied && `${denied.name}/${denied.code}` }));
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  smoke(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
