// A real jazz-tools server for the backend tests: the Go binary and
// jazz-backend.wasm are built from this checkout into a temporary directory
// (so they always match the sources), then `jazz-tools server` runs with
// --port 0 and the test reads its address from the "listening on" line.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const repoRoot = resolve(process.cwd(), "../..");
export const hasGo = spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;

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

export interface RunningServer {
  url: string;
  appId: string;
  stop(): Promise<void>;
  logs(): string;
}

/** Starts `jazz-tools server appId` with the bundle and the given extra flags. */
export async function startServer(built: Built, appId: string, bundle: object, extra: string[] = []): Promise<RunningServer> {
  const bundleFile = join(built.dir, `${appId}.bundle.json`);
  writeFileSync(bundleFile, JSON.stringify(bundle));
  const args = ["server", appId, "--port", "0", "--in-memory", "--allow-local-first-auth", "--backend-secret", BACKEND_SECRET,
    "--admin-secret", ADMIN_SECRET, "--bundle", bundleFile, ...extra];
  const child: ChildProcess = spawn(built.bin, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NODE_ENV: "test" } });
  let logs = "";
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server did not start:\n${logs}`)), 20_000);
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      logs += chunk;
      const m = /listening on (http:\/\/[^\s"]+)/.exec(logs);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      rej(new Error(`server exited with ${code}:\n${logs}`));
    });
  });
  return {
    url,
    appId,
    logs: () => logs,
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once("exit", () => res());
        child.kill("SIGTERM");
      }),
  };
}

export function cleanup(built: Built | undefined): void {
  if (built) rmSync(built.dir, { recursive: true, force: true });
}
