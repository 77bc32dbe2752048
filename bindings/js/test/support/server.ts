// A real jazz-tools sync server and an external identity provider for the
// adapter tests against the real core: the server binary is built from this
// checkout (`go build ./cmd/jazz-tools`, cached by Go), started with
// --port 0 (its address read from the "listening on" line), an app bundle and
// --jwt-public-key set to the PEM of an Ed25519 key made here, whose private
// half signs the test's JWTs (node:crypto only).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { hasWasm, wasmPath } from "./cores.js";

export const repoRoot = resolve(process.cwd(), "../..");
export const hasGo = spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;

/** Why the real-server suites cannot run here, or null when they can. */
export const realServerSkip: string | null = !hasGo
  ? "`go` is not on PATH (the test builds the server)"
  : !hasWasm
    ? `${wasmPath} does not exist (build wasm/ first)`
    : null;

/** An identity provider: its public key (PEM) for the server, and a JWT minter. */
export function identityProvider() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return {
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    /** An EdDSA JWT for sub expiring ttlSeconds from now; also returns exp (ms). */
    mint(sub: string, ttlSeconds: number, claims: object = {}): { token: string; expMs: number } {
      const now = Math.floor(Date.now() / 1000);
      const exp = now + ttlSeconds;
      const input = `${b64({ alg: "EdDSA", typ: "JWT" })}.${b64({ sub, iat: now, exp, ...claims })}`;
      return { token: `${input}.${sign(null, Buffer.from(input), privateKey).toString("base64url")}`, expMs: exp * 1000 };
    },
  };
}

export interface RunningServer {
  url: string;
  appId: string;
  stop(): Promise<void>;
  logs(): string;
}

/**
 * Runs `bin server appId --port 0 --in-memory --bundle <file> ...extra` and
 * resolves once it prints its address. The bundle file is written into dir;
 * a null bundle starts a server with none published.
 */
export async function runServer(bin: string, dir: string, appId: string, bundle: object | null, extra: string[]): Promise<RunningServer> {
  const args = ["server", appId, "--port", "0", "--in-memory", ...extra];
  if (bundle) {
    const bundleFile = join(dir, `${appId}.bundle.json`);
    writeFileSync(bundleFile, JSON.stringify(bundle));
    args.push("--bundle", bundleFile);
  }
  const child: ChildProcess = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NODE_ENV: "test" } });
  let logs = "";
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  try {
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
      child.once("exit", (code) => {
        clearTimeout(timer);
        rej(new Error(`server exited with ${code}:\n${logs}`));
      });
    });
    return {
      url,
      appId,
      logs: () => logs,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        await exited;
      },
    };
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
}

/** Builds the binary into a temporary directory and runs `jazz-tools server appId` over bundle. */
export async function startRealServer(appId: string, bundle: object | null, jwtPublicKey: string): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), "jazz-adapters-test-"));
  const bin = join(dir, "jazz-tools");
  const built = spawnSync("go", ["build", "-o", bin, "./cmd/jazz-tools"], { cwd: repoRoot, encoding: "utf8" });
  if (built.status !== 0) throw new Error(`go build ./cmd/jazz-tools failed:\n${built.stderr}`);
  try {
    const server = await runServer(bin, dir, appId, bundle, ["--jwt-public-key", jwtPublicKey]);
    return {
      ...server,
      async stop() {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
