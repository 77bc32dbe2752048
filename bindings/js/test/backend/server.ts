// A real jazz-tools server for the backend tests: the Go binary and
// jazz-backend.wasm are built from this checkout into a temporary directory
// (so they always match the sources), then `jazz-tools server` runs with
// --port 0 and the test reads its address from the "listening on" line.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, runServer, type RunningServer } from "../support/server.js";

export { hasGo, repoRoot, type RunningServer } from "../support/server.js";

export const BACKEND_SECRET = "backend-secret-for-tests";
export const ADMIN_SECRET = "admin-secret-for-tests";

export interface Built {
  dir: string;
  bin: string;
  wasm: string;
  wasmExec: string;
}

/** Builds the server binary and jazz-backend.wasm (Go's build cache makes repeats cheap). */
export function buildArtifacts(): Built {
  const dir = mkdtempSync(join(tmpdir(), "jazz-backend-test-"));
  const bin = join(dir, "jazz-tools");
  const wasm = join(dir, "jazz-backend.wasm");
  const wasmExec = join(dir, "wasm_exec.js");
  const go = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync("go", args, { cwd: repoRoot, env: { ...process.env, ...env }, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`go ${args.join(" ")} failed:\n${r.stderr}`);
    return r.stdout;
  };
  go(["build", "-o", bin, "./cmd/jazz-tools"]);
  go(["build", "-tags", "jazzbackend", "-trimpath", "-ldflags=-s -w", "-o", wasm, "./wasm"], { GOOS: "js", GOARCH: "wasm" });
  copyFileSync(join(go(["env", "GOROOT"]).trim(), "lib/wasm/wasm_exec.js"), wasmExec);
  return { dir, bin, wasm, wasmExec };
}

/** Starts `jazz-tools server appId` with the bundle, the test secrets and the given extra flags. */
export function startServer(built: Built, appId: string, bundle: object, extra: string[] = []): Promise<RunningServer> {
  return runServer(built.bin, built.dir, appId, bundle,
    ["--allow-local-first-auth", "--backend-secret", BACKEND_SECRET, "--admin-secret", ADMIN_SECRET, ...extra]);
}

export function cleanup(built: Built | undefined): void {
  if (built) rmSync(built.dir, { recursive: true, force: true });
}
