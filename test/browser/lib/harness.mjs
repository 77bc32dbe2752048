// Shared harness of the browser tests and benchmarks: the built artifact and
// its freshness, the real sync server (the jazz-tools binary), a TCP proxy in
// front of it that can be unplugged, the static test page, and Chromium
// through playwright-core.
//
// Environment:
//   JAZZ_JS_DIST      the built package (default bindings/js/dist)
//   JAZZ_WASM_DIR     its wasm (default dist/wasm when the build copied it, else bindings/js/wasm)
//   JAZZ_SERVER_BIN   a built jazz-tools binary (default: go build once into a temp dir)
//   JAZZ_CHROMIUM     the browser (default /usr/bin/chromium)
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

export const TB = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT = resolve(TB, "../..");
export const PAGE = join(TB, "page");

/** Where the built package and its wasm are. */
export function artifact() {
  const dist = resolve(process.env.JAZZ_JS_DIST || join(ROOT, "bindings/js/dist"));
  let wasmDir = process.env.JAZZ_WASM_DIR && resolve(process.env.JAZZ_WASM_DIR);
  if (!wasmDir) wasmDir = existsSync(join(dist, "wasm/jazz.wasm")) ? join(dist, "wasm") : join(ROOT, "bindings/js/wasm");
  return { dist, wasmDir };
}

let buildIdCache;
/** The build id of the current Go sources (what build_wasm stamps into BUILD_ID). */
export function currentBuildId() {
  buildIdCache ??= execFileSync("go", ["run", "./tools/buildinfo/buildid"], { cwd: ROOT, encoding: "utf8" }).trim();
  return buildIdCache;
}

/**
 * Refuses (throws) unless wasmDir holds a jazz.wasm whose BUILD_ID matches the
 * current sources and the package's dist/index.js exists. Returns the id.
 */
export function checkFresh({ dist, wasmDir } = artifact(), expected = currentBuildId()) {
  const problems = [];
  if (!existsSync(join(dist, "index.js"))) problems.push(`${dist}/index.js is missing: run (cd bindings/js && npm ci && npm run build)`);
  if (!existsSync(join(wasmDir, "jazz.wasm"))) problems.push(`${wasmDir}/jazz.wasm is missing: run ./build.sh build`);
  let built = "";
  try {
    built = readFileSync(join(wasmDir, "BUILD_ID"), "utf8").trim();
  } catch {
    problems.push(`${wasmDir}/BUILD_ID is missing: run ./build.sh build`);
  }
  if (built && built !== expected) {
    problems.push(`${wasmDir}/jazz.wasm is stale: built from ${built}, the sources are ${expected}; run ./build.sh build (then npm run build in bindings/js if dist/wasm is used)`);
  }
  if (problems.length) throw new Error(`jazz browser tests: refusing to run on a stale or missing artifact:\n  ${problems.join("\n  ")}`);
  return built;
}

export function sha256(file) {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

export function tempDir(prefix = "jazz-browser-") {
  return mkdtempSync(join(tmpdir(), prefix));
}

// --- the sync server ----------------------------------------------------------

let binaryPromise;
/** The jazz-tools binary: JAZZ_SERVER_BIN, or built once per process. */
export function serverBinary() {
  binaryPromise ??= (async () => {
    if (process.env.JAZZ_SERVER_BIN) return resolve(process.env.JAZZ_SERVER_BIN);
    const dir = tempDir("jazz-bin-");
    process.on("exit", () => cleanup(dir));
    const out = join(dir, "jazz-tools");
    execFileSync("go", ["build", "-o", out, "./cmd/jazz-tools"], { cwd: ROOT, stdio: "inherit" });
    return out;
  })();
  return binaryPromise;
}

/** Compiles the todos app (page/schema.js) with the built package's compileBundle; returns the file. */
export async function writeBundle(dir) {
  const { schema: s } = await import(pathToFileURL(join(artifact().dist, "index.js")).href);
  const { defineTodos } = await import(pathToFileURL(join(PAGE, "schema.js")).href);
  const { app, permissions } = defineTodos(s);
  const file = join(dir, "bundle.json");
  writeFileSync(file, JSON.stringify(s.compileBundle(app, permissions)));
  return file;
}

/**
 * Starts `jazz-tools server` and resolves once it printed "listening on".
 * backendSecret, if given, lets trusted backends connect (--backend-secret).
 * The returned object has url, port, logs (stderr lines), stop().
 */
export async function startServer({ appId, dataDir, bundle, adminSecret = "A", backendSecret }) {
  const bin = await serverBinary();
  mkdirSync(dataDir, { recursive: true });
  const args = ["server", appId, "--port", "0", "--data-dir", dataDir, "--allow-local-first-auth", "--admin-secret", adminSecret, "--bundle", bundle];
  if (backendSecret) args.push("--backend-secret", backendSecret);
  const proc = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  const logs = [];
  let exited = false;
  const exit = new Promise((r) => proc.on("exit", (code, sig) => ((exited = true), r({ code, sig }))));
  const url = await new Promise((res, rej) => {
    let buf = "";
    const timer = setTimeout(() => rej(new Error(`server did not start in 15 s:\n${logs.join("\n")}`)), 15_000);
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        logs.push(l);
        const m = /listening on (http:\/\/[^\s"]+)/.exec(l);
        if (m) {
          clearTimeout(timer);
          res(m[1]);
        }
      }
    });
    exit.then(({ code, sig }) => {
      clearTimeout(timer);
      rej(new Error(`server exited (${code ?? sig}) before listening:\n${logs.join("\n")}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    appId,
    logs,
    /** GET /health: {status, appId, seq}; seq counts the changes the server applied. */
    async health() {
      const r = await fetch(`${url}/health`);
      return r.json();
    },
    async stop() {
      if (!exited) proc.kill("SIGTERM");
      const t = setTimeout(() => exited || proc.kill("SIGKILL"), 5000);
      await exit;
      clearTimeout(t);
    },
  };
}

/**
 * Parses the client-to-server half of a WebSocket connection (the HTTP upgrade
 * request, then masked frames; the server does not negotiate compression) and
 * calls onMessage with each complete text message.
 */
function wsClientTap(onMessage) {
  let buf = Buffer.alloc(0);
  let upgraded = false;
  let parts = [];
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    if (!upgraded) {
      const i = buf.indexOf("\r\n\r\n");
      if (i < 0) return;
      upgraded = true;
      buf = buf.subarray(i + 4);
    }
    while (buf.length >= 2) {
      const fin = buf[0] & 0x80;
      const op = buf[0] & 0x0f;
      const masked = buf[1] & 0x80;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      const maskAt = off;
      if (masked) off += 4;
      if (buf.length < off + len) return;
      const payload = Buffer.from(buf.subarray(off, off + len));
      if (masked) for (let k = 0; k < len; k++) payload[k] ^= buf[maskAt + (k & 3)];
      buf = buf.subarray(off + len);
      if (op >= 8) continue; // close, ping, pong
      parts.push(payload);
      if (fin) {
        onMessage(Buffer.concat(parts).toString("utf8"));
        parts = [];
      }
    }
  };
}

/**
 * A TCP proxy on 127.0.0.1 standing for the network between the browser and
 * the server: setTarget(port) plugs it in, setTarget(null) unplugs it
 * (open connections are cut, new ones are reset at once). It also reads the
 * WebSocket frames it forwards to the server: received lists the changes of
 * every push frame that reached the server ({conn, id, row, kind, title}).
 */
export async function startProxy() {
  let target = null;
  let conns = 0;
  const open = new Set();
  const received = [];
  const srv = net.createServer((client) => {
    if (target == null) {
      client.resetAndDestroy?.() ?? client.destroy();
      return;
    }
    const conn = ++conns;
    const upstream = net.connect(target, "127.0.0.1");
    const pair = { client, upstream };
    open.add(pair);
    const done = () => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    const tap = wsClientTap((text) => {
      let msg;
      try {
        msg = JSON.parse(text);
      } catch {
        return;
      }
      if (msg.t === "push") for (const c of msg.changes ?? []) received.push({ conn, id: c.id, row: c.row, kind: c.kind, title: c.values?.title });
    });
    client.on("error", done).on("close", done);
    upstream.on("error", done).on("close", done);
    client.on("data", (chunk) => {
      if (upstream.destroyed) return;
      tap(chunk);
      upstream.write(chunk);
    });
    upstream.pipe(client);
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const port = srv.address().port;
  const cut = () => {
    for (const { client, upstream } of open) {
      client.destroy();
      upstream.destroy();
    }
    open.clear();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    setTarget(p) {
      target = p;
      if (p == null) cut();
    },
    close() {
      target = null;
      cut();
      return new Promise((r) => srv.close(() => r()));
    },
  };
}

// --- the test page ----------------------------------------------------------

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json", ".map": "application/json", ".wasm": "application/wasm", ".ts": "text/plain" };

/**
 * Serves the test page at / and the built package at /jazz/ (its wasm at
 * /jazz/wasm/). cache: "no-store" (default) or "max-age" (a returning
 * visitor: the wasm comes from the HTTP cache, with Chromium's compiled-code cache).
 * isolated: serve with COOP/COEP (crossOriginIsolated, finer performance.now()).
 */
export async function startStatic({ cache = "no-store", isolated = false } = {}) {
  const { dist, wasmDir } = artifact();
  const mounts = [
    ["/jazz/wasm/", wasmDir],
    ["/jazz/", dist],
    ["/", PAGE],
  ];
  const state = { cache, requests: [] };
  const srv = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    state.requests.push(path);
    for (const [prefix, dir] of mounts) {
      if (!path.startsWith(prefix)) continue;
      const rel = path.slice(prefix.length) || "index.html";
      const file = normalize(join(dir, rel));
      if (!file.startsWith(dir + sep) || !existsSync(file) || !statSync(file).isFile()) break;
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "cache-control": state.cache === "max-age" ? "public, max-age=3600" : "no-store",
        // Cross-origin isolation gives performance.now() 5 µs resolution instead of 100 µs.
        ...(isolated ? { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" } : {}),
      });
      res.end(readFileSync(file));
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
  });
  srv.keepAliveTimeout = 1000;
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    state,
    close: () => new Promise((r) => (srv.closeAllConnections?.(), srv.close(() => r()))),
  };
}

// --- Chromium -----------------------------------------------------------------

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * A persistent Chromium context on profileDir (a fresh temp dir by default),
 * instrumented: rec.pushes (the changes of every `push` frame any page sent,
 * with its page and socket numbers; a frame sent on a socket that is already
 * dead never arrives: the proxy's `received` is what reached the server),
 * rec.sockets ({page, url} per WebSocket opened), rec.console ({page, type, text}),
 * rec.errors (uncaught page errors). Pages are numbered from 1 in creation order.
 */
export async function launch({ profileDir = tempDir("jazz-profile-"), initScript } = {}) {
  const ctx = await chromium.launchPersistentContext(profileDir, {
    executablePath: process.env.JAZZ_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    chromiumSandbox: false,
    args: CHROMIUM_ARGS,
    viewport: { width: 800, height: 600 },
  });
  if (initScript) await ctx.addInitScript(initScript);
  const rec = { pushes: [], sockets: [], console: [], errors: [] };
  let n = 0;
  const instrument = (page) => {
    const id = ++n;
    page.on("console", (m) => rec.console.push({ page: id, type: m.type(), text: m.text() }));
    page.on("pageerror", (e) => rec.errors.push({ page: id, error: String(e) }));
    page.on("websocket", (ws) => {
      rec.sockets.push({ page: id, url: ws.url() });
      const socket = rec.sockets.length;
      ws.on("framesent", (f) => {
        const text = typeof f.payload === "string" ? f.payload : f.payload.toString("utf8");
        let msg;
        try {
          msg = JSON.parse(text);
        } catch {
          return;
        }
        if (msg.t === "push") for (const c of msg.changes ?? []) rec.pushes.push({ page: id, socket, id: c.id, row: c.row, kind: c.kind, title: c.values?.title });
      });
    });
  };
  ctx.pages().forEach(instrument);
  ctx.on("page", instrument);
  return { ctx, rec, profileDir, close: () => ctx.close() };
}

/** Opens the test page in a tab of ctx (reusing the first blank tab) and waits for window.T. */
export async function openPage(ctx, url) {
  const blank = ctx.pages().find((p) => p.url() === "about:blank" && !p.__used);
  const page = blank ?? (await ctx.newPage());
  page.__used = true;
  await page.goto(url);
  await page.waitForFunction(() => window.__ready === true);
  return page;
}

/** Polls fn until it returns a truthy value (or throws after timeoutMs with the last value). */
export async function until(fn, { timeoutMs = 15_000, intervalMs = 25, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Removes a directory, ignoring errors (Chromium may still hold files for a moment). */
export function cleanup(dir) {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // best effort
  }
}

// --- one test's world -----------------------------------------------------------

/**
 * Everything one test needs: a temp dir, the bundle, the real server (with its
 * own data dir) behind the proxy, the static page, and the browsers it
 * launches. teardown() stops all of it; dump() prints what helps debug a failure.
 */
export async function world(appId) {
  const dir = tempDir(`jazz-${appId}-`);
  const bundle = await writeBundle(dir);
  const dataDir = join(dir, "data");
  const w = {
    appId,
    dir,
    bundle,
    server: await startServer({ appId, dataDir, bundle }),
    proxy: await startProxy(),
    web: await startStatic(),
    browsers: [],
    pageUrl: "",
    async launch(opts = {}) {
      const b = await launch({ profileDir: join(dir, `profile-${w.browsers.length}`), ...opts });
      w.browsers.push(b);
      return b;
    },
    /** Cuts the network to the sync server (the proxy refuses connections). */
    unplug() {
      w.proxy.setTarget(null);
    },
    plug() {
      w.proxy.setTarget(w.server.port);
    },
    async stopServer() {
      w.unplug();
      await w.server.stop();
    },
    /** Restarts the server on the same data dir (a new port, behind the same proxy address). */
    async restartServer() {
      await w.server.stop();
      w.server = await startServer({ appId, dataDir, bundle });
    },
    dump() {
      const out = [`server log tail:\n  ${w.server.logs.slice(-15).join("\n  ")}`];
      for (const [i, b] of w.browsers.entries()) {
        out.push(`browser ${i}: console:\n  ${b.rec.console.map((c) => `[${c.page}:${c.type}] ${c.text}`).join("\n  ")}`);
        out.push(`browser ${i}: page errors: ${JSON.stringify(b.rec.errors)}`);
      }
      return out.join("\n");
    },
    async teardown() {
      for (const b of w.browsers) await b.close().catch(() => {});
      await w.web.close();
      await w.proxy.close();
      await w.server.stop();
      cleanup(dir);
    },
  };
  w.plug();
  w.pageUrl = `${w.web.url}/`;
  return w;
}

/**
 * Runs body(w) in a fresh world; on failure prints w.dump() before rethrowing.
 */
export async function inWorld(appId, body) {
  const w = await world(appId);
  try {
    await body(w);
  } catch (e) {
    console.error(w.dump());
    throw e;
  } finally {
    await w.teardown();
  }
}

/** Absolute time in ms (comparable across tabs): performance.timeOrigin + performance.now(). */
export const NOW_IN_PAGE = () => performance.timeOrigin + performance.now();
