import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError, configureWasm, loadCore } from "../src/index.js";
import { createFakeCore } from "./support/fake-core.js";

afterEach(() => void delete (globalThis as { __jazzCore?: unknown }).__jazzCore);

describe("loader", () => {
  it("uses a core already on globalThis", async () => {
    const core = createFakeCore();
    (globalThis as { __jazzCore?: unknown }).__jazzCore = core;
    expect(await loadCore()).toBe(core);
  });

  it("fails with ConfigError naming the missing wasm_exec.js, and can retry", async () => {
    configureWasm({ url: "/nonexistent/jazz.wasm", execUrl: "/nonexistent/wasm_exec.js" });
    const err = await loadCore().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String(err)).toMatch(/wasm_exec\.js/);
    const core = createFakeCore();
    (globalThis as { __jazzCore?: unknown }).__jazzCore = core;
    expect(await loadCore()).toBe(core);
  });

  it("fails with ConfigError naming the missing jazz.wasm", async () => {
    const g = globalThis as { Go?: unknown };
    g.Go = class {
      importObject = {};
      run() {
        return new Promise(() => {});
      }
    };
    try {
      configureWasm({ url: "/nonexistent/jazz.wasm" });
      const err = await loadCore().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect(String(err)).toContain("file:///nonexistent/jazz.wasm");
    } finally {
      delete g.Go;
    }
  });
});

describe("loader with a stand-in Go runtime", () => {
  // The smallest valid wasm module: magic and version.
  const wasm = join(mkdtempSync(join(tmpdir(), "jazz-loader-")), "empty.wasm");
  writeFileSync(wasm, new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  const g = globalThis as { Go?: unknown; __jazzCore?: unknown };
  afterEach(() => void delete g.Go);

  it("instantiates the module, runs it, and waits for the core it publishes", async () => {
    const core = createFakeCore();
    let ran = 0;
    g.Go = class {
      importObject = {};
      run(instance: WebAssembly.Instance) {
        expect(instance).toBeInstanceOf(WebAssembly.Instance);
        ran++;
        setTimeout(() => (g.__jazzCore = core), 20);
        return new Promise(() => {});
      }
    };
    configureWasm({ url: wasm });
    const [a, b] = await Promise.all([loadCore(), loadCore()]);
    expect(a).toBe(core);
    expect(b).toBe(core);
    expect(ran).toBe(1);
  });

  it("imports wasm_exec.js from execUrl to get the Go runtime", async () => {
    const exec = join(mkdtempSync(join(tmpdir(), "jazz-exec-")), "wasm_exec.js");
    writeFileSync(exec, `globalThis.Go = class { importObject = {}; run() { globalThis.__jazzCore = { version: "stand-in" }; return new Promise(() => {}); } };`);
    configureWasm({ url: wasm, execUrl: exec });
    expect((await loadCore()).version).toBe("stand-in");
  });

  it("fails when the program exits or never publishes the core", async () => {
    g.Go = class {
      importObject = {};
      run = () => Promise.resolve();
    };
    configureWasm({ url: wasm, startTimeoutMs: 50 });
    await expect(loadCore()).rejects.toThrow(/exited without publishing/);
    g.Go = class {
      importObject = {};
      run = () => new Promise(() => {});
    };
    await expect(loadCore()).rejects.toThrow(/did not start/);
  });
});

describe("loader: how it learns the core started", () => {
  const wasm = join(mkdtempSync(join(tmpdir(), "jazz-ready-")), "empty.wasm");
  writeFileSync(wasm, new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  type G = { Go?: unknown; __jazzCore?: unknown; __jazzCoreReady?: (core?: unknown) => void };
  const g = globalThis as G;
  // Only the loader's timers (the fallback poll, the start timeout) are faked:
  // a load that settles without advancing them did not wait on them.
  afterEach(() => {
    vi.useRealTimers();
    delete g.Go;
  });
  // A Go runtime whose run() calls run; resolves once it did.
  const standIn = (run: () => void) =>
    new Promise<void>((ran) => {
      g.Go = class {
        importObject = {};
        run() {
          run();
          ran();
          return new Promise(() => {});
        }
      };
    });
  // Whether p settles within a few turns of the event loop after the program ran.
  const settlesSoon = async (ran: Promise<void>, p: Promise<unknown>) => {
    let done = false;
    void p.then(
      () => (done = true),
      () => (done = true),
    );
    await ran;
    for (let i = 0; i < 5 && !done; i++) await new Promise((r) => setImmediate(r));
    return done;
  };

  it("resolves as soon as the program announces the core, without polling", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    const core = createFakeCore();
    // As the bridge does (wasm/bridge Install), from a later task than run().
    const ran = standIn(() =>
      setImmediate(() => {
        g.__jazzCore = core;
        g.__jazzCoreReady?.(core);
      }),
    );
    configureWasm({ url: wasm, startTimeoutMs: 10_000 });
    const p = loadCore();
    expect(await settlesSoon(ran, p)).toBe(true);
    expect(await p).toBe(core);
    expect("__jazzCoreReady" in g).toBe(false);
  });

  it("still finds a core published without the announcement (an older jazz.wasm)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    const core = createFakeCore();
    const ran = standIn(() => setImmediate(() => (g.__jazzCore = core)));
    configureWasm({ url: wasm, startTimeoutMs: 10_000 });
    const p = loadCore();
    expect(await settlesSoon(ran, p)).toBe(false);
    vi.advanceTimersByTime(50);
    expect(await p).toBe(core);
    expect("__jazzCoreReady" in g).toBe(false);
  });

  it("removes its hook when the start fails", async () => {
    void standIn(() => {});
    configureWasm({ url: wasm, startTimeoutMs: 30 });
    await expect(loadCore()).rejects.toMatchObject({ name: "ConfigError", code: "wasm_start_failed" });
    expect("__jazzCoreReady" in g).toBe(false);
  });
});

describe("loader: fetching the wasm", () => {
  type G = { Go?: unknown; __jazzCore?: unknown; __execEvaluated?: boolean };
  const g = globalThis as G;
  const bytes = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  afterEach(() => {
    vi.restoreAllMocks();
    delete g.Go;
    delete g.__execEvaluated;
  });
  // A wasm_exec.js whose Go publishes a core at once, and notes when it was evaluated.
  const execFile = () => {
    const exec = join(mkdtempSync(join(tmpdir(), "jazz-exec-")), "wasm_exec.js");
    writeFileSync(
      exec,
      `globalThis.__execEvaluated = true; globalThis.Go = class { importObject = {}; run() { globalThis.__jazzCore = { version: "fetched" }; return new Promise(() => {}); } };`,
    );
    return exec;
  };

  it("starts fetching jazz.wasm before wasm_exec.js is in, and compiles it streaming", async () => {
    let execInAtFetch: boolean | undefined;
    vi.spyOn(globalThis, "fetch").mockImplementation(async () => {
      execInAtFetch ??= g.__execEvaluated === true;
      return new Response(bytes, { headers: { "content-type": "application/wasm" } });
    });
    const streaming = vi.spyOn(WebAssembly, "compileStreaming");
    configureWasm({ url: "http://jazz.test/jazz.wasm", execUrl: execFile(), startTimeoutMs: 10_000 });
    expect((await loadCore()).version).toBe("fetched");
    expect(execInAtFetch).toBe(false);
    expect(streaming).toHaveBeenCalledTimes(1);
  });

  it("compiles from the bytes when the server does not say application/wasm", async () => {
    vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response(bytes, { headers: { "content-type": "application/octet-stream" } }));
    const streaming = vi.spyOn(WebAssembly, "compileStreaming");
    configureWasm({ url: "http://jazz.test/jazz.wasm", execUrl: execFile() });
    expect((await loadCore()).version).toBe("fetched");
    expect(streaming).not.toHaveBeenCalled();
  });

  it("fails with ConfigError on an HTTP error, naming the URL and status", async () => {
    vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response("no", { status: 404 }));
    configureWasm({ url: "http://jazz.test/missing/jazz.wasm", execUrl: execFile() });
    const err = await loadCore().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ code: "wasm_load_failed" });
    expect(String(err)).toContain("http://jazz.test/missing/jazz.wasm (Error: HTTP 404)");
  });
});
