#!/usr/bin/env node
// The user-path benchmarks (scenarios.mjs) through the built npm package in
// headless Chromium (Debian's, driven by playwright-core), IndexedDB
// storage, against the real sync server (the jazz-tools binary: bbolt,
// fsync). Prints Go benchmark lines named BenchmarkChromium<scenario> on
// stdout (tools/benchreport parses them) and a summary on stderr.
//
// How clients map to browsers: every client is a Db of one local-first user
// (devices of that user) in a page of its own, running clientside.js.
//   - A (the writer), B (the reader) and each new client of NewClient are
//     each a Chromium of their own with a persistent profile: their own
//     IndexedDB on disk, their own processes (so their own cores, as
//     devices have). Two Dbs of one user sharing a profile would be tabs of
//     one app, which share one database and one connection
//     (docs/browser.md), not two devices.
//   - The floor's Db (no server) is a Chromium of its own too.
//   - The FANOUT subscribers are FANOUT pages, one Db each, each in a
//     separate incognito context of one more Chromium: separate storage (so
//     each has its own connection; incognito IndexedDB lives in memory) and
//     a renderer process each, sharing the machine's cores with A and the
//     server as a room of devices on one machine would.
// Times are taken in the pages as performance.timeOrigin + performance.now()
// (the pages are cross-origin isolated, so it has 5 µs resolution), which
// compares across Chromium's processes: one system clock.
//
// Environment: SIZES (5000,25000: comma-separated row counts), SAMPLES
// (200), FANOUT (50), RUNS (3: each with a fresh server and fresh browsers;
// benchreport takes the medians), TIMEOUT_S (120: each scenario's deadline),
// plus lib/harness.mjs's.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { checkFresh, CHROMIUM_ARGS, cleanup, launch, openPage, startServer, startStatic, tempDir, writeBundle } from "../lib/harness.mjs";
import { clientSide } from "./clientside.js";
import { runScenarios } from "./scenarios.mjs";

checkFresh();
const dir = tempDir("jazz-chromium-bench-");
const bundle = await writeBundle(dir);
const web = await startStatic({ isolated: true });
const base = `${web.url}/`;
const source = clientSide.toString();
let runNo = 0;
const errors = [];

/** Opens the test page in ctx, installs clientside.js as window.S and opens its Db. */
async function pageClient(ctx, role, cfg, close) {
  const page = await openPage(ctx, base);
  page.on("pageerror", (e) => errors.push(`${role}: ${e}`));
  page.on("console", (m) => m.type() === "error" && console.error(`bench(chromium): ${role}: ${m.text()}`));
  if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error("bench: the page is not cross-origin isolated: performance.now() has 100 µs resolution");
  await page.evaluate((src) => {
    window.S = (0, eval)(`(${src})`)(window.T.jazz, window.T.app);
  }, source);
  const call = (m, args) => page.evaluate(([m, args]) => window.S[m](...args), [m, args]);
  const opened = await call("open", ["db", cfg]);
  if (opened.storageMode !== "indexeddb") throw new Error(`bench: ${role} has ${opened.storageMode} storage, not IndexedDB`);
  return {
    role,
    db: (m, ...args) => call(m, ["db", ...args]),
    s: (m, ...args) => call(m, args),
    close,
  };
}

async function newRun() {
  const run = ++runNo;
  const appId = "bench-chromium";
  const secret = randomBytes(32).toString("base64url");
  const backendSecret = randomBytes(16).toString("base64url");
  const server = await startServer({ appId, dataDir: join(dir, `data-${run}`), bundle, backendSecret });
  const browsers = new Set();
  let room = null; // the Chromium of the fan-out subscribers
  const closeAll = async () => {
    const all = [...browsers];
    browsers.clear();
    await Promise.allSettled(all.map((b) => b.close()));
  };
  return {
    serverUrl: server.url,
    appId,
    backendSecret,
    async client(role, { server: synced = true, fanout = false } = {}) {
      const cfg = synced ? { appId, secret, serverUrl: server.url } : { appId: `bench-${role}`, secret };
      if (fanout) {
        if (!room) {
          room = await chromium.launch({ executablePath: process.env.JAZZ_CHROMIUM || "/usr/bin/chromium", headless: true, chromiumSandbox: false, args: CHROMIUM_ARGS });
          browsers.add(room);
        }
        const ctx = await room.newContext({ viewport: { width: 400, height: 300 } });
        return pageClient(ctx, role, cfg, () => ctx.close());
      }
      const b = await launch({ profileDir: join(dir, `profile-${run}-${role}`) });
      browsers.add(b);
      return pageClient(b.ctx, role, cfg, async () => {
        browsers.delete(b);
        await b.close();
      });
    },
    async close() {
      await closeAll();
      await server.stop();
    },
  };
}

try {
  await runScenarios(
    { name: "chromium", prefix: "BenchmarkChromium", newRun },
    {
      sizes: (process.env.SIZES || "5000,25000").split(",").map(Number),
      samples: Number(process.env.SAMPLES || 200),
      fanout: Number(process.env.FANOUT || 50),
      runs: Number(process.env.RUNS || 3),
      timeoutMs: Number(process.env.TIMEOUT_S || 120) * 1000,
    },
  );
  if (errors.length) throw new Error(`bench: page errors:\n  ${errors.join("\n  ")}`);
} finally {
  await web.close();
  cleanup(dir);
}
process.exit(0);
