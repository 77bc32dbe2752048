#!/usr/bin/env node
// Browser benchmarks of the built jazz-tools in headless Chromium. Prints Go
// benchmark lines on stdout (what tools/benchreport parses), a summary on stderr.
//
//   BenchmarkBrowserColdStart/rows=10000/cache=...   a fresh page load to the first
//       query result (the 50 latest open todos) over 10k rows persisted in IndexedDB:
//       ns/op is the median of COLD_RUNS loads, then p95-ms and the median of each
//       phase (module-ms = the package's modules evaluated, from the navigation's
//       start; then core-ms = wasm downloaded, compiled and started, db-ms =
//       the rest of createDb (the stored state loaded: IndexedDB was opened
//       while the wasm loaded, early-open.ts), query-ms = first
//       subscription callback, each from the previous mark), and from-core-ms =
//       the first result counted from the app's createDb() call (which loads
//       the core, and opens the database it remembers meanwhile), without the
//       page's own load.
//       The rows are in IndexedDB the way an app has them: written by this user
//       (from another tab), synced through the real server, downloaded into this
//       profile; the page's Db is configured with the server, which is running.
//       cache=none: the wasm is served no-store (downloaded and compiled every load);
//       cache=http: served cacheable, read from the HTTP cache, and compiled
//       again: Chromium caches a wasm module's compiled code only once a visit
//       has run long enough to optimize its hot code, and these loads close
//       as soon as they have their result (a returning visitor whose earlier
//       visits were that short, or the first loads of a new build).
//       cache=code: the same loads after one visit that worked for a few
//       seconds (read the 10k rows, queried them, wrote 300 rows, stayed open
//       WARM_MS; see workingVisit), so Chromium has the compiled code too:
//       the returning user's case.
//       Each load runs the query the previous one ran, so its first result
//       comes from the result the previous load saved (the result cache,
//       docs/browser.md), as an app's reload does; query=new asks for a
//       query no load ran before (limit 51, 52, ...), so the first result
//       waits for the table to be read.
//   BenchmarkBrowserInsertToCallback/rows=10000/storage=...   db.insert() to the
//       subscription callback that shows the row, through the JS API, timed with
//       performance.now() in the page, SAMPLES samples after 50 warmup inserts:
//       ns/op is the p50, then p50-ms, p95-ms, p99-ms. storage=indexeddb/sync=server
//       is the synced profile above, with the server (each insert is pushed and
//       its ack committed while the next ones run); sync=none the same database
//       opened without a server; storage=memory the same 10k rows in an
//       in-memory Db (what the engine costs without IndexedDB).
//   BenchmarkBrowserIndexedDBCommit   baseline: one raw IndexedDB readwrite
//       transaction (one put, relaxed durability) in the same browser.
//
// Environment: COLD_RUNS (9), ROWS (10000), SAMPLES (500), WARM_MS (5000),
// plus lib/harness.mjs's.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { artifact, checkFresh, cleanup, launch, openPage, startServer, startStatic, tempDir, until, writeBundle } from "../lib/harness.mjs";

const COLD_RUNS = Number(process.env.COLD_RUNS || 9);
const ROWS = Number(process.env.ROWS || 10000);
const SAMPLES = Number(process.env.SAMPLES || 500);
const WARM_MS = Number(process.env.WARM_MS || 5000);

const log = (...a) => console.error("bench:", ...a);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
};
const median = (xs) => pct(xs, 0.5);
const f3 = (x) => x.toFixed(3);
function line(name, n, nsPerOp, metrics) {
  const extra = Object.entries(metrics).map(([unit, v]) => `${f3(v)} ${unit}`).join("\t");
  console.log(`${name}\t${n}\t${Math.round(nsPerOp)} ns/op\t${extra}`);
}

checkFresh();
const { wasmDir } = artifact();
const sizes = JSON.parse(readFileSync(join(wasmDir, "SIZES.json"), "utf8"));
log(`artifact ${wasmDir}/jazz.wasm: raw ${(sizes.raw / 1e6).toFixed(2)} MB, gzip ${(sizes.gzip / 1e6).toFixed(2)} MB, brotli ${(sizes.brotli / 1e6).toFixed(2)} MB`);

const dir = tempDir("jazz-bench-");
const appId = "bench";
const secret = randomBytes(32).toString("base64url");
const server = await startServer({ appId, dataDir: join(dir, "data"), bundle: await writeBundle(dir) });
const web = await startStatic({ isolated: true });
const b = await launch({ profileDir: join(dir, "profile") });
const base = `${web.url}/`;
const serverUrl = server.url;
// A visit like a user's: the Db opened with the server, every row read and
// queried a few times, 300 writes, the page left open WARM_MS. Chromium
// caches the compiled wasm once its optimizing compiler has produced enough
// code and has then been idle about two seconds; reads alone did not get
// there on this machine, reads and writes did. The writes go to a second,
// in-memory Db (the same code), so the measured database keeps ROWS rows.
async function workingVisit() {
  const p = await openPage(b.ctx, base);
  await p.evaluate((c) => T.open("db", c), { appId, secret, serverUrl });
  await p.evaluate(() => T.watch("db", "all"));
  await until(async () => (await p.evaluate(() => T.view("all").titles.length)) >= ROWS, { timeoutMs: 60_000, intervalMs: 100, what: "the working visit to read every row" });
  for (let i = 0; i < 5; i++) await p.evaluate(() => T.count("db"));
  await p.evaluate((c) => T.open("writes", c), { appId: "bench-visit", secret, storage: "memory" });
  await p.evaluate(() => T.bench.insertToCallback("writes", 300));
  await p.evaluate(() => T.close("writes"));
  await new Promise((r) => setTimeout(r, WARM_MS));
  await p.evaluate(() => T.close("db"));
  await p.close();
}

try {
  // 1. ROWS rows of this user, written in an in-memory Db (fast) and synced
  //    to the server, then downloaded into this profile's IndexedDB.
  let page = await openPage(b.ctx, base);
  await page.evaluate((c) => T.open("writer", c), { appId, secret, serverUrl, storage: "memory" });
  const fillMs = await page.evaluate((n) => T.bench.fill("writer", n), ROWS);
  await until(async () => (await server.health()).seq >= ROWS, { timeoutMs: 300_000, intervalMs: 200, what: "the server to have every row" });
  await page.evaluate(() => T.close("writer"));
  const t0 = Date.now();
  if (!(await page.evaluate(() => crossOriginIsolated))) log("warning: the page is not cross-origin isolated: performance.now() has 100 µs resolution");
  const opened = await page.evaluate((c) => T.open("db", c), { appId, secret, serverUrl });
  if (opened.storageMode !== "indexeddb") throw new Error(`storage is ${opened.storageMode}`);
  await page.evaluate(() => T.watch("db", "all"));
  await until(async () => (await page.evaluate(() => T.view("all").titles.length)) >= ROWS, { timeoutMs: 300_000, intervalMs: 200, what: "the rows to sync down" });
  log(`wrote ${ROWS} rows in ${(fillMs / 1000).toFixed(1)} s (memory Db, 200 in flight), synced them down into IndexedDB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, 1000)); // let the last batches commit
  await page.evaluate(() => T.close("db"));
  await page.close();

  // 2. Cold start: fresh page loads over the persisted rows.
  let fresh = 50;
  for (const [cache, query] of [["none", ""], ["http", ""], ["http", "new"], ["code", ""]]) {
    web.state.cache = cache === "none" ? "no-store" : "max-age";
    if (cache === "code") await workingVisit();
    const runs = [];
    for (let i = -1; i < COLD_RUNS; i++) {
      const limit = query === "new" ? ++fresh : 50;
      const p = await b.ctx.newPage();
      await p.goto(`${base}?cold=1&appId=${appId}&secret=${secret}&serverUrl=${encodeURIComponent(serverUrl)}&limit=${limit}`);
      await p.waitForFunction(() => window.COLD_RESULT, null, { timeout: 30_000 });
      const m = await p.evaluate(() => window.COLD_RESULT);
      await p.close();
      if (m.error) throw new Error(m.error);
      if (m.rows !== limit || m.storageMode !== "indexeddb") throw new Error(`cold start read ${m.rows} rows from ${m.storageMode}`);
      if (i >= 0) runs.push(m); // the first load warms the browser (and, for cache=http, fills the cache)
    }
    const first = runs.map((m) => m.first);
    const phases = {
      "p95-ms": pct(first, 0.95),
      "module-ms": median(runs.map((m) => m.module)),
      "core-ms": median(runs.map((m) => m.core - m.module)),
      "db-ms": median(runs.map((m) => m.db - m.core)),
      "query-ms": median(runs.map((m) => m.first - m.db)),
      // From the app asking for the core (loadCore) to the first result:
      // the page's own HTML and module loading left out.
      "from-core-ms": median(runs.map((m) => m.first - m.module)),
    };
    const name = `BenchmarkBrowserColdStart/rows=${ROWS}/cache=${cache}${query ? `/query=${query}` : ""}`;
    line(name, runs.length, median(first) * 1e6, phases);
    log(`cold start (cache=${cache}${query ? `, query=${query}` : ""}) over ${ROWS} rows, ${runs.length} loads: median ${median(first).toFixed(1)} ms, p95 ${phases["p95-ms"].toFixed(1)} ms; phases (median): modules ${phases["module-ms"].toFixed(1)}, wasm start +${phases["core-ms"].toFixed(1)}, createDb +${phases["db-ms"].toFixed(1)}, first result +${phases["query-ms"].toFixed(1)} ms`);
  }
  web.state.cache = "no-store";

  // 3. Insert to subscription callback, on the synced profile (IndexedDB, with
  //    the server) and, for comparison, in memory; then the raw IndexedDB baseline.
  page = await openPage(b.ctx, base);
  await page.evaluate((c) => T.open("db", c), { appId, secret, serverUrl });
  const idb = await page.evaluate((n) => T.bench.insertToCallback("db", n), SAMPLES);
  await page.evaluate(() => T.close("db"));
  // The same IndexedDB database with no server: no acks committing in between.
  await page.evaluate((c) => T.open("db", c), { appId, secret });
  const idbLocal = await page.evaluate((n) => T.bench.insertToCallback("db", n), SAMPLES);
  await page.evaluate(() => T.close("db"));
  await page.evaluate((c) => T.open("mem", c), { appId: "bench-mem", secret, storage: "memory" });
  await page.evaluate((n) => T.bench.fill("mem", n), ROWS);
  const mem = await page.evaluate((n) => T.bench.insertToCallback("mem", n), SAMPLES);
  await page.evaluate(() => T.close("mem"));
  const raw = await page.evaluate((n) => T.bench.idbBaseline(n), SAMPLES);
  await page.close();
  for (const [storage, xs] of [["indexeddb/sync=server", idb], ["indexeddb/sync=none", idbLocal], ["memory/sync=none", mem]]) {
    const m = { "p50-ms": median(xs), "p95-ms": pct(xs, 0.95), "p99-ms": pct(xs, 0.99) };
    line(`BenchmarkBrowserInsertToCallback/rows=${ROWS}/storage=${storage}`, xs.length, m["p50-ms"] * 1e6, m);
    log(`insert-to-callback (${storage}) at ${ROWS} rows, ${xs.length} samples: p50 ${m["p50-ms"].toFixed(2)} ms, p95 ${m["p95-ms"].toFixed(2)} ms, p99 ${m["p99-ms"].toFixed(2)} ms`);
  }
  const rm = { "p50-ms": median(raw), "p95-ms": pct(raw, 0.95) };
  line("BenchmarkBrowserIndexedDBCommit", raw.length, rm["p50-ms"] * 1e6, rm);
  log(`raw IndexedDB readwrite transaction (baseline): p50 ${rm["p50-ms"].toFixed(2)} ms, p95 ${rm["p95-ms"].toFixed(2)} ms`);
  if (b.rec.errors.length) throw new Error(`page errors: ${JSON.stringify(b.rec.errors)}`);
} finally {
  await b.close();
  await web.close();
  await server.stop();
  cleanup(dir);
}
