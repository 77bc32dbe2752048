import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main, type CliDeps } from "../src/cli/bundle.js";
import { schema as s } from "../src/index.js";
import { todoApp, todoPermissions } from "./support/apps.js";

const expected = JSON.stringify(s.compileBundle(todoApp, todoPermissions), null, 2) + "\n";

function deps(modules: Record<string, Record<string, unknown>>, extra: Partial<CliDeps> = {}) {
  const files = new Map<string, string>();
  const out: string[] = [];
  const err: string[] = [];
  const d: CliDeps = {
    importModule: async (p) => {
      if (!(p in modules)) throw Object.assign(new Error(`Cannot find module ${p}`), { code: "ERR_MODULE_NOT_FOUND" });
      return modules[p]!;
    },
    writeFile: async (p, data) => void files.set(p, data),
    fetch: globalThis.fetch,
    out: (t) => void out.push(t),
    err: (t) => void err.push(t),
    env: {},
    ...extra,
  };
  return { d, files, out, err };
}

const mod = { app: todoApp, permissions: todoPermissions };

async function withServer(fn: (url: string, requests: { req: IncomingMessage; body: string }[]) => Promise<void>, status = 200) {
  const requests: { req: IncomingMessage; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      requests.push({ req, body });
      res.writeHead(status).end(status === 200 ? "ok" : "bad secret");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  try {
    await fn(`http://127.0.0.1:${port}`, requests);
  } finally {
    server.close();
  }
}

describe("jazz-tools-bundle", () => {
  it("writes the bundle to stdout or --out", async () => {
    const a = deps({ "m.js": mod });
    expect(await main(["m.js"], a.d)).toBe(0);
    expect(a.out.join("")).toBe(expected);
    const b = deps({ "m.js": mod });
    expect(await main(["m.js", "--out", "b.json"], b.d)).toBe(0);
    expect(b.files.get("b.json")).toBe(expected);
    expect(b.out).toEqual([]);
  });

  it("accepts a default export and an app without permissions", async () => {
    const a = deps({ "m.js": { default: { app: todoApp } } });
    expect(await main(["m.js", "--out=x.json"], a.d)).toBe(0);
    expect(JSON.parse(a.files.get("x.json")!).policies).toEqual({});
  });

  it.each([
    [[], /usage/],
    [["m.js", "--bogus"], /unknown option --bogus/],
    [["m.js", "--out"], /--out needs a value/],
    [["m.js", "--deploy", "--server", "http://x"], /--deploy needs --server, --app and --admin-secret/],
  ])("refuses bad arguments %j", async (argv, message) => {
    const a = deps({ "m.js": mod });
    expect(await main(argv, a.d)).toBe(2);
    expect(a.err.join("")).toMatch(message);
  });

  it("fails clearly on a module without app", async () => {
    const a = deps({ "m.js": { nothing: 1 } });
    expect(await main(["m.js"], a.d)).toBe(1);
    expect(a.err.join("")).toMatch(/does not export `app`/);
  });

  it("PUTs the bundle with the admin secret header", async () => {
    await withServer(async (url, requests) => {
      const a = deps({ "m.js": mod }, { env: { JAZZ_ADMIN_SECRET: "from-env" } });
      expect(await main(["m.js", "--deploy", "--server", `${url}/`, "--app", "my app"], a.d)).toBe(0);
      expect(requests).toHaveLength(1);
      const { req, body } = requests[0]!;
      expect([req.method, req.url]).toEqual(["PUT", "/apps/my%20app/admin/bundle"]);
      expect(req.headers["x-jazz-admin-secret"]).toBe("from-env");
      expect(req.headers["content-type"]).toBe("application/json");
      expect(body).toBe(expected);
    });
  });

  it("asks the server to force the publish with --force", async () => {
    await withServer(async (url, requests) => {
      const a = deps({ "m.js": mod });
      expect(await main(["m.js", "--deploy", "--force", "--server", url, "--app", "a", "--admin-secret", "s"], a.d)).toBe(0);
      expect(requests[0]!.req.url).toBe("/apps/a/admin/bundle?force=true");
    });
  });

  it("exits 1 with the server's answer on a refused deploy", async () => {
    await withServer(async (url) => {
      const a = deps({ "m.js": mod });
      expect(await main(["m.js", "--deploy", "--server", url, "--app", "a", "--admin-secret", "wrong"], a.d)).toBe(1);
      expect(a.err.join("")).toMatch(/answered 401: bad secret/);
    }, 401);
  });

  const built = existsSync(new URL("../dist/cli/bundle.js", import.meta.url));
  it.skipIf(!built)("runs as the installed bin on a module importing jazz-tools (after npm run build)", () => {
    const dir = mkdtempSync(join(tmpdir(), "jazz-cli-"));
    const out = join(dir, "bundle.json");
    const r = spawnSync(process.execPath, ["bin/jazz-tools-bundle", "test/fixtures/app.mjs", "--out", out], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(JSON.parse(readFileSync(out, "utf8")).policies.todos.read).toEqual({ eq: [{ col: "owner_id" }, { session: "user_id" }] });
  });
});
