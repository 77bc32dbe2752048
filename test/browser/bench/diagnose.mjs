#!/usr/bin/env node
// Where the browser benchmarks' time goes: runs a cold start over ROWS
// persisted rows and a series of inserts with (a) every IndexedDB transaction
// and request counted and timed by an init script and (b) a CPU profile from
// Chromium's sampling profiler (CDP Profiler), summarized by self time.
// For Go function names in the profile, point JAZZ_WASM_DIR at a wasm built
// without -s -w (GOOS=js GOARCH=wasm go build -o DIR/jazz.wasm ./wasm, plus
// wasm_exec.js and BUILD_ID). A diagnostic: it warns on a stale artifact
// instead of refusing.
//
//   node bench/diagnose.mjs            (ROWS=10000 INSERTS=200 TOP=25; NOPROFILE=1 skips the profiler;
//                                       SERVER=1 syncs the rows through a real server, as bench.mjs does)
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { checkFresh, cleanup, launch, openPage, startServer, startStatic, tempDir, until, writeBundle } from "../lib/harness.mjs";

const ROWS = Number(process.env.ROWS || 10000);
const INSERTS = Number(process.env.INSERTS || 200);
const TOP = Number(process.env.TOP || 25);

try {
  checkFresh();
} catch (e) {
  console.log(`WARNING (diagnostic only): ${e.message}`);
}

// Counts and times IndexedDB work: transactions by mode and store count,
// requests by method (time from the call to its success event).
function idbProbe() {
  const s = (window.__idb = { tx: {}, txMs: 0, req: {}, reqMs: {}, values: 0 });
  s.reset = () => Object.assign(s, { tx: {}, txMs: 0, req: {}, reqMs: {}, values: 0, byStore: {} });
  const wrap = (proto, name) => {
    const orig = proto[name];
    if (!orig) return;
    proto[name] = function (...args) {
      const t0 = performance.now();
      const r = orig.apply(this, args);
      s.req[name] = (s.req[name] || 0) + 1;
      r.addEventListener("success", () => {
        s.reqMs[name] = (s.reqMs[name] || 0) + performance.now() - t0;
        if (name === "getAll") {
          s.values += r.result.length;
          s.byStore = s.byStore || {};
          s.byStore[this.name] = (s.byStore[this.name] || 0) + r.result.length;
        }
      });
      return r;
    };
  };
  for (const n of ["put", "add", "get", "getKey", "getAll", "getAllKeys", "delete", "count", "openCursor", "openKeyCursor", "clear"]) wrap(IDBObjectStore.prototype, n);
  const tx = IDBDatabase.prototype.transaction;
  IDBDatabase.prototype.transaction = function (names, mode, opts) {
    const t = tx.call(this, names, mode, opts);
    const k = `${mode || "readonly"} x${[].concat(names).length}`;
    s.tx[k] = (s.tx[k] || 0) + 1;
    const t0 = performance.now();
    t.addEventListener("complete", () => (s.txMs += performance.now() - t0));
    return t;
  };
}

/** Self time by function from a CDP Profiler profile. */
function topSelf(profile, n) {
  const dt = new Map();
  for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) || 0) + (profile.timeDeltas[i] || 0));
  const by = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const us = dt.get(node.id) || 0;
    total += us;
    const f = node.callFrame;
    const key = `${f.functionName || "(anonymous)"}  ${f.url ? f.url.replace(/^.*\//, "") : ""}`.trim();
    by.set(key, (by.get(key) || 0) + us);
  }
  const rows = [...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  // Inclusive time of the project's own Go functions (each counted once per stack).
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const parent = new Map();
  for (const x of profile.nodes) for (const c of x.children || []) parent.set(c, x.id);
  const incl = new Map();
  for (const x of profile.nodes) {
    const us = dt.get(x.id) || 0;
    if (!us) continue;
    const seen = new Set();
    for (let id = x.id; id !== undefined; id = parent.get(id)) {
      const name = byId.get(id).callFrame.functionName;
      if (!/jazz_tools/.test(name) || seen.has(name)) continue;
      seen.add(name);
      incl.set(name, (incl.get(name) || 0) + us);
    }
  }
  const own = [...incl.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  const fmt = ([k, us]) => `${(us / 1000).toFixed(1).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`;
  return [`total sampled ${(total / 1000).toFixed(0)} ms; self time:`, ...rows.map(fmt), "inclusive time of the project's Go functions:", ...own.map((r) => fmt([r[0].replace(/github\.com_jazzgo_jazz_tools_/, ""), r[1]]))].join("\n  ");
}

async function profiled(page, fn) {
  if (process.env.NOPROFILE) return { out: await fn(), profile: { nodes: [], samples: [], timeDeltas: [] } };
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  await cdp.send("Profiler.start");
  const out = await fn();
  const { profile } = await cdp.send("Profiler.stop");
  await cdp.detach();
  return { out, profile };
}

const dir = tempDir("jazz-diag-");
const web = await startStatic();
const b = await launch({ profileDir: join(dir, "profile"), initScript: idbProbe });
const appId = "diag";
const secret = randomBytes(32).toString("base64url");
// SERVER=1: the rows are synced through a real server (and the Db is configured with it).
const server = process.env.SERVER ? await startServer({ appId, dataDir: join(dir, "data"), bundle: await writeBundle(dir) }) : null;
const serverUrl = server?.url;
try {
  let page = await openPage(b.ctx, `${web.url}/`);
  let fillMs;
  if (server) {
    // As bench.mjs: written in an in-memory Db, synced up, then down into this profile.
    await page.evaluate((c) => T.open("writer", c), { appId, secret, serverUrl, storage: "memory" });
    fillMs = await page.evaluate((n) => T.bench.fill("writer", n), ROWS);
    await until(async () => (await server.health()).seq >= ROWS, { timeoutMs: 300_000, what: "the server to have every row" });
    await page.evaluate(() => T.close("writer"));
    await page.evaluate((c) => T.open("db", c), { appId, secret, serverUrl });
    await page.evaluate(() => T.watch("db", "all"));
    await until(async () => (await page.evaluate(() => T.view("all").titles.length)) >= ROWS, { timeoutMs: 300_000, intervalMs: 200, what: "the rows to sync down" });
    await new Promise((r) => setTimeout(r, 1000));
  } else {
    await page.evaluate((c) => T.open("db", c), { appId, secret });
    fillMs = await page.evaluate((n) => T.bench.fill("db", n), ROWS);
  }
  console.log(`fill: ${ROWS} rows in ${fillMs.toFixed(0)} ms; IndexedDB: ${JSON.stringify(await page.evaluate(() => ({ tx: __idb.tx, req: __idb.req })))}`);
  await page.evaluate(() => T.close("db"));
  await page.close();

  // Cold start, phase by phase: the schema registration (first use of the table) separately from the query.
  page = await b.ctx.newPage();
  page.on("crash", () => console.log("PAGE CRASHED"));
  page.on("console", (m) => console.log(`[console.${m.type()}] ${m.text()}`));
  await page.goto(`${web.url}/`);
  await page.waitForFunction(() => window.__ready === true);
  const { out: cold, profile: coldProfile } = await profiled(page, () =>
    page.evaluate(async ({ appId, secret, serverUrl }) => {
      __idb.reset();
      const m = {};
      const t = () => performance.now();
      let t0 = t();
      await T.jazz.loadCore();
      m.loadCore = t() - t0;
      t0 = t();
      const d = await T.jazz.createDb({ appId, secret, serverUrl });
      m.createDb = t() - t0;
      m.idbAfterCreate = JSON.stringify({ tx: __idb.tx, req: __idb.req, reqMs: __idb.reqMs, values: __idb.values, byStore: __idb.byStore });
      t0 = t();
      const none = await d.all(T.app.todos.where({ owner_id: "nobody" }));
      m.firstUseOfTable = t() - t0;
      m.idbAfterFirstUse = JSON.stringify({ tx: __idb.tx, req: __idb.req, reqMs: __idb.reqMs, values: __idb.values, byStore: __idb.byStore });
      t0 = t();
      const rows = await d.all(T.app.todos.where({ done: false }).orderBy("rank", "desc").limit(50));
      m.orderedQuery = t() - t0;
      t0 = t();
      await d.all(T.app.todos.where({ done: false }).limit(50));
      m.unorderedQuery = t() - t0;
      t0 = t();
      await d.all(T.app.todos.where({ tag: "bulk-3" }));
      m.indexedEqualityQuery1000 = t() - t0;
      t0 = t();
      // (the first callback may run before subscribe returns)
      const stop = await new Promise((r) => {
        const s = d.subscribe(T.app.todos.where({ done: false }).orderBy("rank", "desc").limit(50), () => r(() => s()));
      });
      stop();
      m.subscribeFirstCallback = t() - t0;
      m.rows = rows.length + none.length;
      await d.close();
      return m;
    }, { appId, secret, serverUrl }),
  );
  console.log("cold start phases (ms):", JSON.stringify(cold, (k, v) => (typeof v === "number" ? Math.round(v * 10) / 10 : v), 1));
  console.log(`cold start CPU profile (self time):\n  ${topSelf(coldProfile, TOP)}`);

  // Inserts: IndexedDB work per insert and a CPU profile.
  await page.evaluate((c) => T.open("db", c), { appId, secret, serverUrl });
  await page.evaluate((n) => T.bench.insertToCallback("db", n, 10), 20);
  await page.evaluate(() => __idb.reset());
  const { out: lat, profile: insProfile } = await profiled(page, () => page.evaluate((n) => T.bench.insertToCallback("db", n, 0), INSERTS));
  const per = await page.evaluate((n) => {
    const f = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round((v / n) * 100) / 100]));
    return { tx: f(__idb.tx), req: f(__idb.req), reqMs: f(__idb.reqMs), txMs: Math.round((__idb.txMs / n) * 100) / 100 };
  }, INSERTS + 1);
  lat.sort((a, b) => a - b);
  console.log(`insert-to-callback under the profiler: p50 ${lat[lat.length >> 1].toFixed(2)} ms; IndexedDB per insert: ${JSON.stringify(per)}`);
  console.log(`inserts CPU profile (self time):\n  ${topSelf(insProfile, TOP)}`);
} finally {
  await b.close();
  await web.close();
  await server?.stop();
  cleanup(dir);
}
