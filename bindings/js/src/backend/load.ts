// Loads jazz-backend.wasm in Node: the browser core plus the backend entry
// points (wasm/bridge/backend.go), built separately (`-tags jazzbackend`) so
// the browser's jazz.wasm never carries the server's token verification.
import type { JazzCore } from "../core.js";
import { ConfigError } from "../errors.js";
import { ensureWebSocket, nodeImport } from "../node-websocket.js";
import type { WasmOptions } from "../loader.js";
import type { BackendCore } from "./contract.js";

interface GoRuntime {
  importObject: WebAssembly.Imports;
  run(instance: WebAssembly.Instance): Promise<void>;
}

type Globals = { __jazzCore?: JazzCore; Go?: new () => GoRuntime };
const g = globalThis as Globals;

let configured: WasmOptions = {};
let loaded: BackendCore | undefined;
let loading: Promise<BackendCore> | undefined;

/** Where jazz-backend.wasm (url) and Go's wasm_exec.js (execUrl) are; default: `../wasm/` next to this module. */
export function configureBackendWasm(options: WasmOptions): void {
  configured = { ...configured, ...options };
}

const isBackendCore = (c: unknown): c is BackendCore =>
  typeof c === "object" && c !== null && typeof (c as { createBackend?: unknown }).createBackend === "function";

/** The backend core, loaded once per process. */
export function loadBackendCore(options: WasmOptions = {}): Promise<BackendCore> {
  if (loaded) return Promise.resolve(loaded);
  if (isBackendCore(g.__jazzCore)) return Promise.resolve((loaded = g.__jazzCore));
  loading ??= start({ ...configured, ...options })
    .then((c) => (loaded = c))
    .finally(() => (loading = undefined));
  return loading;
}

function toURL(u: string | URL): URL {
  if (u instanceof URL) return u;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(u)) return new URL(`file://${u.startsWith("/") ? "" : "/"}${u}`);
  return new URL(u);
}

async function readWasm(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (url.protocol === "file:") {
    const fs = (await nodeImport("node:fs/promises")) as { readFile(u: URL): Promise<Uint8Array<ArrayBuffer>> };
    return fs.readFile(url);
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function start(options: WasmOptions): Promise<BackendCore> {
  await ensureWebSocket("jazz-tools/backend");
  const url = toURL(options.url ?? new URL("../wasm/jazz-backend.wasm", import.meta.url));
  if (!g.Go) {
    const exec = options.execUrl ? toURL(options.execUrl) : new URL("../wasm/wasm_exec.js", import.meta.url);
    try {
      await import(/* @vite-ignore */ exec.href);
    } catch (e) {
      throw new ConfigError(`jazz-tools/backend: could not load Go's wasm_exec.js from ${exec.href} (${String(e)})`, { code: "wasm_load_failed", cause: e });
    }
    if (!g.Go) throw new ConfigError("jazz-tools/backend: wasm_exec.js did not define globalThis.Go", { code: "wasm_load_failed" });
  }
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await readWasm(url);
  } catch (e) {
    throw new ConfigError(
      `jazz-tools/backend: could not load ${url.href} (${String(e)}); it is built by \`npm run build\` (or ./build.sh build) next to jazz.wasm; pass its location with createJazzContext({ wasm: { url } })`,
      { code: "wasm_load_failed", cause: e },
    );
  }
  const go = new g.Go();
  const { instance } = await WebAssembly.instantiate(bytes, go.importObject);
  // Both cores publish themselves as globalThis.__jazzCore: keep a browser
  // core already there (its Dbs use it) and take the backend core aside.
  const previous = g.__jazzCore;
  delete g.__jazzCore;
  let exited = false;
  void go.run(instance).finally(() => (exited = true));
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  try {
    while (!isBackendCore(g.__jazzCore)) {
      if (exited || Date.now() > deadline) {
        throw new ConfigError(`jazz-tools/backend: ${url.href} ${exited ? "exited" : "did not start"} without publishing the backend core (is it jazz.wasm rather than jazz-backend.wasm?)`, { code: "wasm_start_failed" });
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    return g.__jazzCore;
  } finally {
    // The backend core is a superset of the browser one: it stays the
    // global when there was none, so createDb in the same process shares it.
    if (previous) g.__jazzCore = previous;
  }
}
