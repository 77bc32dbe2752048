import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
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
