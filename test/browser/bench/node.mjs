#!/usr/bin/env node
// Sync benchmarks of the npm package's own client in Node: createDb from the
// built package's main entry, with the same jazz.wasm a browser loads, memory
// storage, against the real sync server (bbolt, fsync). Prints Go benchmark
// lines on stdout (tools/benchreport parses them) and a summary on stderr.
// Every client is a device of one local-first user (the todos app's
// policies let a user read only their own rows), all in this one process, so
// they share one core as tabs of one page do not (each tab has its own):
// the figures include that sharing.
//
//   BenchmarkNodeFloor                    an empty round trip through the
//       package and the core: all() over a query no row matches, on a Db
//       without a server. p50-ms, p99-ms.
//   BenchmarkNodeWriteSeenByOtherClient   insert on A to the callback of B's
//       subscription that shows the row. p50-ms, p99-ms.
//   BenchmarkNodeIngest/rows=N            A inserts N rows (awaiting each batch
//       of 200); until B's subscription shows them all. ns/op is the time.
//   BenchmarkNodeNewClient/rows=N         a new client subscribes to those N
//       rows; until its callback has them all.
//   BenchmarkNodeFanout/subscribers=50    one write until the last of 50
//       subscribed clients shows it. p50-ms, p99-ms.
//   BenchmarkNodeInsertToCallback/rows=N  A inserts into its own subscription
//       of N rows; until the callback shows the row. p50-ms, p99-ms.
//
// Environment: ROWS (5000; comma-separated sizes, e.g. 5000,25000), SAMPLES (200),
// FANOUT (50), plus lib/harness.mjs's.
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { artifact, checkFresh, cleanup, ROOT, startServer, tempDir, writeBundle } from "../lib/harness.mjs";

const SIZES = (process.env.ROWS || "5000").split(",").map(Number);
const SAMPLES = Number(process.env.SAMPLES || 200);
const FANOUT = Number(process.env.FANOUT || 50);

const log = (...a) => console.error("bench(node):", ...a);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
};
function line(name, nsPerOp, metrics = {}) {
  const extra = Object.entries(metrics).map(([unit, v]) => `${v.toFixed(3)} ${unit}`).join("\t");
  console.log(`${name}\t1\t${Math.round(nsPerOp)} ns/op${extra ? "\t" + extra : ""}`);
}
function latencies(name, xs) {
  const m = { "p50-ms": pct(xs, 0.5), "p99-ms": pct(xs, 0.99) };
  line(name, m["p50-ms"] * 1e6, m);
  log(`${name}: p50 ${m["p50-ms"].toFixed(2)} ms, p99 ${m["p99-ms"].toFixed(2)} ms (${xs.length} samples)`);
}
function duration(name, ms) {
  line(name, ms * 1e6);
  log(`${name}: ${ms.toFixed(0)} ms`);
}

checkFresh();
// Node 20 has no global WebSocket; the package depends on ws.
globalThis.WebSocket ??= createRequire(join(ROOT, "bindings/js/package.json"))("ws");
const jazz = await import(pathToFileURL(join(artifact().dist, "index.js")).href);
const { defineTodos } = await import(pathToFileURL(join(ROOT, "test/browser/page/schema.js")).href);
const { app } = defineTodos(jazz.schema);

const dir = tempDir("jazz-node-bench-");
const appId = "bench-node";
const secret = randomBytes(32).toString("base64url");
const server = await startServer({ appId, dataDir: join(dir, "data"), bundle: await writeBundle(dir) });
const open = (extra = {}) => jazz.createDb({ appId, secret, serverUrl: server.url, storage: "memory", ...extra });
const dbs = [];
async function client(extra) {
  const d = await open(extra);
  dbs.push(d);
  return d;
}

/** Resolves when cb(rows) holds, checked on every callback of a live query. */
function watch(d, query) {
  let rows = [];
  let waiters = [];
  const stop = d.subscribe(query, (r) => {
    rows = r;
    waiters = waiters.filter((w) => !w.test(rows) || (w.resolve(performance.now()), false));
  });
  return {
    stop,
    until(test) {
      if (test(rows)) return Promise.resolve(performance.now());
      return new Promise((resolve) => waiters.push({ test, resolve }));
    },
  };
}

try {
  const owner = (d) => d.getAuthState().session.user_id;

  // The floor: the package and core with no server and no rows.
  {
    const d = await jazz.createDb({ appId: "bench-floor", secret, storage: "memory" });
    const q = app.todos.where({ tag: "none" });
    const xs = [];
    for (let i = 0; i < SAMPLES + 50; i++) {
      const t0 = performance.now();
      await d.all(q);
      if (i >= 50) xs.push(performance.now() - t0);
    }
    latencies("BenchmarkNodeFloor", xs);
    await d.close();
  }

  const a = await client();
  const b = await client();
  const me = owner(a);

  // A write on A seen by B.
  {
    const tag = "seen";
    const w = watch(b, app.todos.where({ tag }));
    const xs = [];
    for (let i = 0; i < SAMPLES + 20; i++) {
      const t0 = performance.now();
      const seen = w.until((rows) => rows.some((r) => r.rank === i));
      await a.insert(app.todos, { title: `seen ${i}`, done: false, owner_id: me, tag, rank: i });
      const t1 = await seen;
      if (i >= 20) xs.push(t1 - t0);
    }
    w.stop();
    latencies("BenchmarkNodeWriteSeenByOtherClient", xs);
  }

  for (const n of SIZES) {
    const tag = `ingest-${n}`;
    const w = watch(b, app.todos.where({ tag }));
    const t0 = performance.now();
    for (let i = 0; i < n; i += 200) {
      const ps = [];
      for (let j = i; j < Math.min(n, i + 200); j++) {
        ps.push(a.insert(app.todos, { title: `todo ${j}`, done: false, owner_id: me, tag, rank: j }));
      }
      await Promise.all(ps);
    }
    const t1 = await w.until((rows) => rows.length === n);
    w.stop();
    duration(`BenchmarkNodeIngest/rows=${n}`, t1 - t0);

    const c = await client();
    const t2 = performance.now();
    const wc = watch(c, app.todos.where({ tag }));
    const t3 = await wc.until((rows) => rows.length === n);
    wc.stop();
    duration(`BenchmarkNodeNewClient/rows=${n}`, t3 - t2);

    // Local insert into A's own subscription of n rows.
    const wa = watch(a, app.todos.where({ tag }));
    await wa.until((rows) => rows.length === n);
    const xs = [];
    for (let i = 0; i < Math.min(SAMPLES, 100) + 10; i++) {
      const rank = n + i;
      const t4 = performance.now();
      const seen = wa.until((rows) => rows.some((r) => r.rank === rank));
      const written = a.insert(app.todos, { title: `local ${i}`, done: false, owner_id: me, tag, rank });
      const t5 = await seen;
      await written;
      if (i >= 10) xs.push(t5 - t4);
    }
    wa.stop();
    latencies(`BenchmarkNodeInsertToCallback/rows=${n}`, xs);
  }

  // One writer, FANOUT subscribed clients: until the last shows the write.
  {
    const tag = "fanout";
    const subs = [];
    for (let i = 0; i < FANOUT; i++) subs.push(watch(await client(), app.todos.where({ tag })));
    const xs = [];
    for (let i = 0; i < Math.min(SAMPLES, 100) + 5; i++) {
      const t0 = performance.now();
      const all = Promise.all(subs.map((w) => w.until((rows) => rows.some((r) => r.rank === i))));
      await a.insert(app.todos, { title: `fan ${i}`, done: false, owner_id: me, tag, rank: i });
      const t1 = Math.max(...(await all));
      if (i >= 5) xs.push(t1 - t0);
    }
    for (const w of subs) w.stop();
    latencies(`BenchmarkNodeFanout/subscribers=${FANOUT}`, xs);
  }
} finally {
  await Promise.allSettled(dbs.map((d) => d.close()));
  await server.stop();
  cleanup(dir);
}
process.exit(0);
