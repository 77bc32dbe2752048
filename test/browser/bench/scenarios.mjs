// The user-path scenarios, written once for every runtime: node.mjs runs
// them with clients in Node's process, chromium.mjs with clients in
// headless Chromium pages. A runtime provides newRun() (a fresh durable
// server and a way to make clients on it); the clients run clientside.js.
//
// Each run, with a fresh server and fresh clients, in this order (the
// cheap, size-independent scenarios first, so a slow large size cannot
// disturb them):
//
//   <P>Floor                      an empty round trip through the package
//       and the core: all() of a query no row matches, on a Db without a
//       server. p50-ms, p99-ms.
//   <P>Echo                       a raw WebSocket to the server (no package):
//       ping to pong. p50-ms, p99-ms.
//   <P>WriteSeenByOtherClient     insert on A to the callback of B's
//       subscription that shows the row. p50-ms, p99-ms.
//   <P>Fanout/subscribers=F       one write on A until the last of F
//       subscribed clients shows it. p50-ms, p99-ms.
//   <P>Ingest/rows=N              A inserts N rows (db.batch, 500 a batch, each
//       awaited) until B's subscription shows them all. ns/op is the time.
//   <P>NewClient/rows=N           a new client (a Db already open) subscribes
//       to those N rows, until its callback has them all.
//   <P>InsertToCallback/rows=N    A inserts into its own subscription of the
//       N rows, until the callback shows the row. p50-ms, p99-ms.
//
// All clients are devices of one local-first user (the todos app lets a user
// read only their own rows). Times are taken where they happen (clientside.js)
// on one clock, never around a round trip to the driver.
//
// No scenario can hang the run: each has a deadline (timeoutMs). One that
// misses it prints its line with ns/op = the deadline and a timeout-s metric
// ("timed out after X" in BENCHMARKS.md); the run then ends (its clients
// are closed, so their backlog cannot slow what follows), and later runs skip
// that scenario, and after an ingest every larger size (they print nothing
// for what they skip).

/** pct(xs, 0.5) is the median (nearest rank). */
export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
};

class TimedOut extends Error {}

/**
 * Runs every scenario runs times and prints Go benchmark lines (stdout) and
 * a summary (stderr). rt: { prefix, newRun() -> {serverUrl, appId, backendSecret,
 * client(role), close()} }; a client: { role, db(method, ...args) (a clientside.js method
 * taking the client's Db name first), s(method, ...args), close() }.
 */
export async function runScenarios(rt, { sizes, samples, fanout, runs, timeoutMs }) {
  const log = (...a) => console.error(`bench(${rt.name}):`, ...a);
  const dead = new Set(); // scenarios that timed out: skipped from then on
  const line = (name, nsPerOp, metrics = {}) => {
    const extra = Object.entries(metrics).map(([unit, v]) => `${v.toFixed(3)} ${unit}`).join("\t");
    console.log(`${rt.prefix}${name}\t1\t${Math.round(nsPerOp)} ns/op${extra ? "\t" + extra : ""}`);
  };
  const latencies = (name, xs) => {
    const m = { "p50-ms": pct(xs, 0.5), "p99-ms": pct(xs, 0.99) };
    line(name, m["p50-ms"] * 1e6, m);
    log(`${name}: p50 ${m["p50-ms"].toFixed(2)} ms, p99 ${m["p99-ms"].toFixed(2)} ms (${xs.length} samples)`);
  };
  const duration = (name, ms) => {
    line(name, ms * 1e6);
    log(`${name}: ${ms.toFixed(0)} ms`);
  };
  const timedOut = (name) => {
    line(name, timeoutMs * 1e6, { "timeout-s": timeoutMs / 1000 });
    log(`${name}: timed out after ${(timeoutMs / 1000).toFixed(0)} s`);
    dead.add(name);
  };
  // Runs body(within) against a deadline: within(p) is p, or a TimedOut
  // once the deadline passes; the body prints its figures with
  // within.latencies and within.duration. The deadline is kept here, in the driver,
  // not only next to the clients: a client's event loop can be too busy
  // to run its own timers. Returns false when the run must end (a timeout).
  const scenario = async (name, body) => {
    if (dead.has(name)) return true;
    const deadline = Date.now() + timeoutMs;
    let timer;
    let over = false; // once the deadline passed, a late figure is not printed
    const expired = new Promise((_, reject) => (timer = setTimeout(() => ((over = true), reject(new TimedOut())), timeoutMs)));
    expired.catch(() => {});
    const within = (p) => Promise.race([p, expired]);
    within.latencies = (n, xs) => over || latencies(n, xs);
    within.duration = (n, ms) => over || duration(n, ms);
    within.left = () => Math.max(1, deadline - Date.now());
    within.deadline = deadline;
    within.check = () => {
      if (Date.now() >= deadline) throw new TimedOut();
    };
    try {
      await within(body(within));
      return true;
    } catch (e) {
      if (!(e instanceof TimedOut)) throw e;
      timedOut(name);
      return false;
    } finally {
      clearTimeout(timer);
    }
  };
  const must = (v) => {
    if (v == null) throw new TimedOut();
    return v;
  };

  for (let run = 1; run <= runs; run++) {
    log(`run ${run} of ${runs}`);
    const env = await rt.newRun();
    let ok = true;
    try {
      ok &&= await scenario("Floor", async (w) => {
        const f = await env.client("floor", { server: false });
        w.latencies("Floor", await f.db("floor", samples, 50));
        w.latencies("Echo", await f.s("echo", env.serverUrl, env.appId, env.backendSecret, samples, 20));
        await f.close();
      });

      const a = await env.client("A");
      const b = await env.client("B");

      ok &&= await scenario("WriteSeenByOtherClient", async (w) => {
        const { id } = await b.db("watch", "seen");
        const xs = [];
        for (let i = 0; i < samples + 20; i++) {
          const [t0, t1] = await Promise.all([a.db("insert", "seen", i), b.s("seen", id, i, w.left())]);
          if (i >= 20) xs.push(must(t1) - t0);
        }
        await b.s("unwatch", id);
        w.latencies("WriteSeenByOtherClient", xs);
      });

      ok &&= await scenario(`Fanout/subscribers=${fanout}`, async (w) => {
        const subs = [];
        try {
          for (let i = 0; i < fanout; i++) {
            w.check();
            const c = await env.client(`S${i}`, { fanout: true });
            subs.push({ c, id: (await c.db("watch", "fanout")).id });
          }
          const xs = [];
          for (let i = 0; i < Math.min(samples, 100) + 5; i++) {
            const [t0, ...ts] = await Promise.all([a.db("insert", "fanout", i), ...subs.map((s) => s.c.s("seen", s.id, i, w.left()))]);
            if (i >= 5) xs.push(Math.max(...ts.map(must)) - t0);
          }
          w.latencies(`Fanout/subscribers=${fanout}`, xs);
        } finally {
          await Promise.allSettled(subs.map((s) => s.c.close()));
        }
      });

      for (const n of sizes) {
        if (!ok) break;
        const tag = `ingest-${n}`;
        const ingest = `Ingest/rows=${n}`;
        if (dead.has(ingest)) break;
        ok &&= await scenario(ingest, async (w) => {
          const { id } = await b.db("watch", tag);
          const [filled, t1] = await Promise.all([a.db("fill", tag, n, w.deadline), b.s("untilCount", id, n, w.left())]);
          await b.s("unwatch", id);
          if (filled.written < n) throw new TimedOut();
          w.duration(ingest, must(t1) - filled.t0);
        });
        if (!ok) break;
        ok &&= await scenario(`NewClient/rows=${n}`, async (w) => {
          const c = await env.client(`C${n}`);
          try {
            const { id, t0 } = await c.db("watch", tag);
            w.duration(`NewClient/rows=${n}`, must(await c.s("untilCount", id, n, w.left())) - t0);
          } finally {
            await c.close();
          }
        });
        if (!ok) break;
        ok &&= await scenario(`InsertToCallback/rows=${n}`, async (w) => {
          const xs = must(await a.db("insertToCallback", tag, n, Math.min(samples, 100), 10, w.left()));
          w.latencies(`InsertToCallback/rows=${n}`, xs);
        });
      }
      if (!ok) log(`run ${run} ended early after a timeout; its clients are closed`);
    } finally {
      await env.close();
    }
  }
}
