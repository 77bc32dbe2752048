// Loads the Go core (jazz.wasm) once per page or process. The Go side sets
// globalThis.__jazzCore when it starts, and then calls
// globalThis.__jazzCoreReady, which the loader sets while it waits; a core
// already there (preloaded by the host, or a test double) is used as is.
//
// The wasm is fetched and compiled while Go's wasm_exec.js is imported: the
// compile is the long part and needs nothing from it.
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

type Globals = { __jazzCore?: JazzCore; __jazzCoreReady?: (core?: JazzCore) => void; Go?: new () => GoRuntime };
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

/**
 * Fetches and compiles jazz.wasm. It needs nothing from wasm_exec.js (only
 * instantiating does), so it runs while that is being imported. Streaming
 * compilation starts compiling while bytes still arrive and lets browsers
 * cache the compiled code; it requires the application/wasm content type,
 * so other responses are compiled from their bytes.
 */
async function compileWasm(url: URL): Promise<WebAssembly.Module> {
  if (url.protocol === "file:") {
    const fsName = "node:fs/promises"; // a variable keeps browser bundlers from resolving it
    const fs = (await import(/* @vite-ignore */ fsName)) as { readFile(u: URL): Promise<Uint8Array<ArrayBuffer>> };
    return WebAssembly.compile(await fs.readFile(url));
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  if (res.headers.get("content-type")?.startsWith("application/wasm")) return WebAssembly.compileStreaming(res);
  return WebAssembly.compile(await res.arrayBuffer());
}

/** Imports Go's wasm_exec.js unless globalThis.Go is already there. */
async function loadGoRuntime(options: WasmOptions): Promise<void> {
  if (g.Go) return;
  try {
    // Referenced like jazz.wasm (new URL + import.meta.url), which bundlers copy as an asset.
    const exec = options.execUrl ? toURL(options.execUrl) : new URL("./wasm/wasm_exec.js", import.meta.url);
    await import(/* @vite-ignore */ exec.href);
  } catch (e) {
    throw new ConfigError(`jazz-tools: could not load Go's wasm_exec.js (${String(e)}); set configureWasm({ execUrl })`, { code: "wasm_load_failed", cause: e });
  }
  if (!g.Go) throw new ConfigError("jazz-tools: wasm_exec.js did not define globalThis.Go", { code: "wasm_load_failed" });
}

async function start(options: WasmOptions): Promise<JazzCore> {
  const url = toURL(options.url ?? new URL("./wasm/jazz.wasm", import.meta.url));
  const loadFailed = (e: unknown) =>
    new ConfigError(`jazz-tools: could not load ${url.href} (${String(e)}); serve jazz.wasm and pass its URL with configureWasm({ url }) or createDb({ wasmUrl })`, { code: "wasm_load_failed", cause: e });
  const compiling = compileWasm(url);
  // Awaited below; until then a failure must not count as unhandled.
  compiling.catch(() => {});
  await loadGoRuntime(options);
  installHost();
  const go = new g.Go!();
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(await compiling, go.importObject);
  } catch (e) {
    throw loadFailed(e);
  }
  return waitForCore(go, instance, url, options.startTimeoutMs ?? 10_000);
}

/** How often to look for a core published without the ready call (see waitForCore). */
const fallbackPollMs = 50;

/**
 * Runs the Go program and resolves with the core it publishes. The bridge
 * calls globalThis.__jazzCoreReady(core) right after setting
 * globalThis.__jazzCore (wasm/bridge: ReadyName), usually before go.run
 * even returns. A core that appears without that call (a jazz.wasm built
 * before it, or one set by the host page) is still found: right after
 * go.run returns, and then every fallbackPollMs. It fails if the program
 * exits first, or after timeoutMs.
 */
function waitForCore(go: GoRuntime, instance: WebAssembly.Instance, url: URL, timeoutMs: number): Promise<JazzCore> {
  return new Promise<JazzCore>((resolve, reject) => {
    let settled = false;
    const settle = () => {
      settled = true;
      clearTimeout(timer);
      clearInterval(poll);
      if (g.__jazzCoreReady === ready) delete g.__jazzCoreReady;
    };
    const ready = (core?: JazzCore) => {
      const c = core ?? g.__jazzCore;
      if (settled || !c) return;
      settle();
      resolve(c);
    };
    const fail = (why: string, cause?: unknown) => {
      if (settled) return;
      settle();
      reject(new ConfigError(`jazz-tools: ${url.href} ${why} without publishing globalThis.__jazzCore`, { code: "wasm_start_failed", cause }));
    };
    const timer = setTimeout(() => fail("did not start"), timeoutMs);
    const poll = setInterval(() => ready(), fallbackPollMs);
    const exited = (cause?: unknown) => {
      ready(); // published, then exited: the core is there all the same
      fail("exited", cause);
    };
    g.__jazzCoreReady = ready;
    go.run(instance).then(() => exited(), exited);
    ready();
  });
}
