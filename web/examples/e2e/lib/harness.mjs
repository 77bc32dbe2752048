// Test harness of the example apps' end-to-end tests: a real sync server
// (dist/jazz-tools) and dev issuer per test, the built apps on a static
// server, and headless Debian Chromium driven by playwright-core, each
// browser with its own fresh user-data-dir.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { serveDir } from "../../serve.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const EXAMPLES = resolve(here, "../..");
export const ROOT = resolve(EXAMPLES, "../..");
export const APP_ID = "jazz-examples";
export const SCREENSHOTS = join(EXAMPLES, "e2e/screenshots");
const SERVER_BIN = process.env.JAZZ_SERVER_BIN ?? join(ROOT, "dist/jazz-tools");
const BUNDLE = join(EXAMPLES, "shared/bundle.json");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const SECRET_KEY = `jazz-tools:local-first-secret:${APP_ID}`;
export const BACKEND_SECRET = "e2e-backend-secret";
export const ADMIN_SECRET = "e2e-admin-secret";

const cleanups = [];
const live = { stacks: [], browsers: [] }; // of the running test, for failure diagnostics
/** Registers fn to run at the end of the current test (cleanupAll, LIFO), even after a failure. */
export function onCleanup(fn) {
  cleanups.push(fn);
}
export async function cleanupAll() {
  while (cleanups.length) await cleanups.pop()().catch((e) => console.error("cleanup:", e));
  live.stacks = [];
  live.browsers = [];
}

const tail = (text, n = 12) => text.trimEnd().split("\n").slice(-n).join("\n");

/** The last lines of every server and issuer log, and every browser's page errors, of the running test. */
export function diagnostics() {
  const out = [];
  for (const s of live.stacks) out.push(`--- sync server ${s.serverUrl}\n${tail(s.serverLog())}`, `--- issuer ${s.issuerUrl}\n${tail(s.issuerLog())}`);
  for (const b of live.browsers) if (b.problems.length) out.push(`--- browser ${b.label}\n${b.problems.slice(-10).join("\n")}`);
  return out.join("\n");
}

/**
 * A node:test test that cleans up its servers and browsers when it ends and,
 * when it fails, adds their logs to the error.
 */
export function e2eTest(name, options, fn) {
  if (typeof options === "function") [options, fn] = [{}, options];
  return test(name, options, async (t) => {
    t.after(cleanupAll);
    try {
      await fn(t);
    } catch (e) {
      if (e && typeof e === "object") e.message = `${e.message}\n${diagnostics()}`;
      throw e;
    }
  });
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** Spawns a process and resolves once a line of its stderr/stdout matches re (with the match). */
function spawnUntil(name, cmd, args, re, opts = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  let out = "";
  const done = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${name} did not start in 15 s:\n${out}`)), 15_000);
    const onData = (d) => {
      out += d;
      const m = out.match(re);
      if (m) {
        clearTimeout(timer);
        ok(m);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`${name} exited with ${code}:\n${out}`));
    });
  });
  const stop = () =>
    new Promise((ok) => {
      if (child.exitCode !== null || child.signalCode !== null) return ok();
      child.once("exit", () => ok());
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
    });
  return { child, done, stop, log: () => out };
}

/**
 * A fresh sync server (own data dir, the examples' bundle, JWKS from a fresh
 * issuer) and issuer. ttl: the issuer's JWT lifetime in seconds; refreshDelayMs
 * makes its /refresh slow.
 */
export async function startStack(options = {}) {
  // The server's port is picked before the issuer starts (the issuer must
  // know the server's URL), so another process can take it in between:
  // then the server cannot bind, and the whole stack starts again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStackOnce(options);
    } catch (e) {
      if (attempt >= 3 || !/address already in use/.test(String(e?.message))) throw e;
    }
  }
}

async function startStackOnce({ ttl = 60, refreshDelayMs = 0 } = {}) {
  if (!existsSync(SERVER_BIN)) throw new Error(`${SERVER_BIN} is missing: run ./build.sh build`);
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: npm run bundle (web/examples)`);
  const dataDir = mkdtempSync(join(tmpdir(), "jazz-e2e-data-"));
  const serverPort = await freePort();
  const serverUrl = `http://127.0.0.1:${serverPort}`;
  const issuer = spawnUntil(
    "issuer",
    process.execPath,
    ["--import", "tsx", "server.ts", "--port", "0", "--ttl", String(ttl), "--server-url", serverUrl, "--backend-secret", BACKEND_SECRET, "--refresh-delay-ms", String(refreshDelayMs)],
    /issuer listening on (http:\/\/[^ ]+)/,
    { cwd: join(EXAMPLES, "issuer") },
  );
  const [, issuerUrl] = await issuer.done;
  const server = spawnUntil(
    "jazz-tools server",
    SERVER_BIN,
    [
      "server", APP_ID, "--port", String(serverPort), "--data-dir", dataDir, "--allow-local-first-auth",
      "--jwks-url", `${issuerUrl}/.well-known/jwks.json`, "--backend-secret", BACKEND_SECRET,
      "--admin-secret", ADMIN_SECRET, "--bundle", BUNDLE,
    ],
    /listening on (http:\/\/[^\s"]+)/,
  );
  try {
    await server.done;
  } catch (e) {
    await issuer.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const stack = {
    serverUrl,
    issuerUrl,
    dataDir,
    serverLog: server.log,
    issuerLog: issuer.log,
    async stop() {
      await Promise.all([server.stop(), issuer.stop()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  onCleanup(() => stack.stop());
  live.stacks.push(stack);
  return stack;
}

/**
 * The built apps on a static server each (port 0), for a whole test file:
 * `{ react: url, ..., close() }`. Not tied to one test's cleanup.
 */
export async function startApps(names = ["react", "vue", "svelte"]) {
  const servers = [];
  const apps = { close: () => Promise.all(servers.map((s) => s.close())) };
  for (const name of names) {
    const s = await serveDir(join(EXAMPLES, name, "dist"));
    servers.push(s);
    apps[name] = s.url;
  }
  return apps;
}

const FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync",
];

/** A new Chromium with its own fresh user-data-dir (so its own localStorage and IndexedDB). */
export async function launchBrowser(label = "browser", { extraArgs = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), `jazz-e2e-${label}-`));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, ...extraArgs],
    viewport: { width: 1000, height: 900 },
  });
  const problems = [];
  const watch = (page) => {
    page.on("pageerror", (e) => problems.push(`[${label}] pageerror: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && problems.push(`[${label}] console.error: ${m.text()}`));
  };
  context.on("page", watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  const b = {
    label,
    context,
    page,
    problems,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  onCleanup(() => b.close());
  live.browsers.push(b);
  return b;
}

/** The app URL with the stack's server and issuer. */
export function appUrl(base, stack) {
  return `${base}/?server=${encodeURIComponent(stack.serverUrl)}&issuer=${encodeURIComponent(stack.issuerUrl)}`;
}

/** Opens the app and waits for the Db (a user id shown). */
export async function openApp(page, base, stack) {
  await page.goto(appUrl(base, stack));
  await waitReady(page);
}

export async function waitReady(page) {
  await page.getByTestId("user-id").waitFor({ timeout: 20_000 });
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

// --- page helpers -------------------------------------------------------------

export const text = async (page, id) => ((await page.getByTestId(id).first().textContent()) ?? "").trim();

export async function addTodo(page, title, { isPublic = false } = {}) {
  await page.getByTestId("new-title").fill(title);
  const box = page.getByTestId("new-public");
  if ((await box.isChecked()) !== isPublic) await box.click();
  await page.getByTestId("add").click();
}

/** Titles in "My todos", in order. */
export async function todoTitles(page) {
  return page.locator('[data-testid="todo"]').evaluateAll((els) => els.map((e) => e.getAttribute("data-title")));
}

export async function publicTitles(page) {
  return page.locator('[data-testid="public-todo"]').evaluateAll((els) => els.map((e) => e.getAttribute("data-title")));
}

/** Polls fn until it returns a truthy value (returned) or times out. */
export async function eventually(fn, { timeout = 15_000, interval = 100, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Waits until "My todos" holds exactly these titles (any order unless ordered). */
export async function expectTodos(page, titles, opts = {}) {
  const want = [...titles].sort().join("|");
  await eventually(async () => (await todoTitles(page)).sort().join("|") === want, { message: `todos ${want}`, ...opts });
}

export async function expectPublic(page, titles, opts = {}) {
  const want = [...titles].sort().join("|");
  await eventually(async () => (await publicTitles(page)).sort().join("|") === want, { message: `public todos ${want}`, ...opts });
}
