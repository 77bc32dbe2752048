// Loads the Go core (jazz.wasm) once per page or process. The Go side sets
// globalThis.__jazzCore when it starts; a core already there (preloaded by
// the host, or a test double) is used as is.
import type { JazzCore } from "./core.js";
import { ConfigError } from "./errors.js";
import { installHost } from "./host.js";

export interface WasmOptions {
  /** Where jazz.wasm is. Default: `./wasm/jazz.wasm` next to this module. */
  url?: string | URL;
  /** Where Go's wasm_exec.js is. Default: `./wasm/wasm_exec.js` next to this module. */
  execUrl?: string | URL;
  /** How long to wait for the Go program to publish its API (ms). */
  startTimeoutMs?: number;
}

interface GoRuntime {
  importObject: WebAssembly.Imports;
  run(instance: WebAssembly.Instance): Promise<void>;
}

type Globals = { __jazzCore?: JazzCore; Go?: new () => GoRuntime };
const g = globalThis as Globals;

let configured: WasmOptions = {};
let loading: Promise<JazzCore> | undefined;

/** Sets where the wasm assets are served from; call before the first createDb. */
export function configureWasm(options: WasmOptions): void {
  configured = { ...configured, ...options };
}

/** The loaded core, or the load in progress (one per page/process; the first options win). */
export function loadCore(options: WasmOptions = {}): Promise<JazzCore> {
  if (g.__jazzCore) return Promise.resolve(g.__jazzCore);
  // Only the load in flight is shared: once done, the global is the source of
  // truth, and after a failure a later call may retry (e.g. after configureWasm).
  loading ??= start({ ...configured, ...options }).finally(() => (loading = undefined));
  return loading;
}

function toURL(u: string | URL): URL {
  if (u instanceof URL) return u;
  // A bare path in Node (no scheme) is a file path.
  if (!/^[a-z][a-z0-9+.-]*:/i.test(u) && typeof document === "undefined") return new URL(`file://${u.startsWith("/") ? "" : "/"}${u}`);
  return new URL(u, typeof document !== "undefined" ? document.baseURI : import.meta.url);
}

async function wasmSource(url: URL, imports: WebAssembly.Imports): Promise<WebAssembly.Instance> {
  if (url.protocol === "file:") {
    const fsName = "node:fs/promises"; // a variable keeps browser bundlers from resolving it
    const fs = (await import(/* @vite-ignore */ fsName)) as { readFile(u: URL): Promise<Uint8Array<ArrayBuffer>> };
    const bytes = await fs.readFile(url);
    return (await WebAssembly.instantiate(bytes, imports)).instance;
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  if (res.headers.get("content-type")?.startsWith("application/wasm")) {
    return (await WebAssembly.instantiateStreaming(res, imports)).instance;
  }
  return (await WebAssembly.instantiate(await res.arrayBuffer(), imports)).instance;
}

async function start(options: WasmOptions): Promise<JazzCore> {
  const url = toURL(options.url ?? new URL("./wasm/jazz.wasm", import.meta.url));
  if (!g.Go) {
    try {
      // Referenced like jazz.wasm (new URL + import.meta.url), which bundlers copy as an asset.
      const exec = options.execUrl ? toURL(options.execUrl) : new URL("./wasm/wasm_exec.js", import.meta.url);
      await import(/* @vite-ignore */ exec.href);
    } catch (e) {
      throw new ConfigError(`jazz-tools: could not load Go's wasm_exec.js (${String(e)}); set configureWasm({ execUrl })`, { code: "wasm_load_failed", cause: e });
    }
    if (!g.Go) throw new ConfigError("jazz-tools: wasm_exec.js did not define globalThis.Go", { code: "wasm_load_failed" });
  }
  installHost();
  const go = new g.Go();
  let instance: WebAssembly.Instance;
  try {
    instance = await wasmSource(url, go.importObject);
  } catch (e) {
    throw new ConfigError(`jazz-tools: could not load ${url.href} (${String(e)}); serve jazz.wasm and pass its URL with configureWasm({ url }) or createDb({ wasmUrl })`, { code: "wasm_load_failed", cause: e });
  }
  let exited = false;
  void go.run(instance).finally(() => (exited = true));
  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  while (!g.__jazzCore) {
    if (exited || Date.now() > deadline) {
      throw new ConfigError(`jazz-tools: ${url.href} ${exited ? "exited" : "did not start"} without publishing globalThis.__jazzCore`, { code: "wasm_start_failed" });
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return g.__jazzCore;
}
