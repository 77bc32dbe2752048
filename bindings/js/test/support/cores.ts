// The cores the Db and adapter suites run against: always the in-memory fake
// (test/support/fake-core.ts), and the real Go core from wasm/jazz.wasm once
// the Go build has produced it. Tests install one as globalThis.__jazzCore,
// which the loader uses as is.
import { existsSync } from "node:fs";
import { describe } from "vitest";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { configureWasm, loadCore, type JazzCore } from "../../src/index.js";
import { createFakeCore } from "./fake-core.js";

// Vitest runs from the package root; under happy-dom import.meta.url is not a file: URL.
export const wasmDir = join(process.cwd(), "wasm/");
export const wasmPath = `${wasmDir}jazz.wasm`;
export const hasWasm = existsSync(wasmPath) && existsSync(`${wasmDir}wasm_exec.js`);


type G = { __jazzCore?: JazzCore };

let real: Promise<JazzCore> | undefined;
/** Loads the real core once per test file. */
export function loadRealCore(): Promise<JazzCore> {
  real ??= (async () => {
    const g = globalThis as G;
    delete g.__jazzCore;
    configureWasm({ url: pathToFileURL(wasmPath), execUrl: pathToFileURL(`${wasmDir}wasm_exec.js`) });
    return loadCore();
  })();
  return real;
}

export interface CoreVariant {
  name: "fake" | "wasm";
  available: boolean;
  /** Installs a fresh (fake) or the shared (real) core as globalThis.__jazzCore. */
  install(): Promise<JazzCore>;
}

export const coreVariants: CoreVariant[] = [
  { name: "fake", available: true, install: async () => ((globalThis as G).__jazzCore = createFakeCore()) },
  { name: "wasm", available: hasWasm, install: async () => ((globalThis as G).__jazzCore = await loadRealCore()) },
];

/**
 * Declares suite once per core. The real-core variant is skipped, visibly
 * (a message, and skipped tests in the summary), until wasm/jazz.wasm exists.
 */
export function describeCores(title: string, suite: (core: CoreVariant) => void): void {
  if (!hasWasm) console.warn(`SKIPPED: "${title}" against the real core: ${wasmPath} does not exist yet (build wasm/ first)`);
  for (const core of coreVariants) describe.skipIf(!core.available)(`${title} (${core.name} core)`, () => suite(core));
}

/** A local-first secret for tests (valid format). */
export const testSecret = (n = 0) => Buffer.alloc(32, n).toString("base64url");
