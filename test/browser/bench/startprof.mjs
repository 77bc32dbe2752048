// Ad-hoc: where the time to a usable Db goes, loadCore() then createDb()
// (local-first secret, no server, no rows), in fresh pages of one browser
// profile with the package and its wasm served cacheable (a returning visitor:
// the HTTP cache is warm after the first load).
//
// Chromium validates the whole module when compiling it (so its size costs
// every start) and compiles each function on its first call (Liftoff), so a
// large part of "run" and "createDb" is compiling the code they touch: less
// code run at start is faster even when it is cheap to execute. Its cache of
// compiled wasm did not show in these loads, even with STAY_MS=6000.
//
//   JAZZ_JS_DIST=... JAZZ_WASM_DIR=... node bench/startprof.mjs
//
// Environment: RUNS (page loads, default 8), PROFILE=1 (CPU profile of the last
// load: top self and inclusive times), FOCUS="fnA,fnB" (with PROFILE: the
// inclusive time of each direct callee of those functions), CALLERS="fnA"
// (with PROFILE: the time in those functions by the innermost project
// function, github.com/jazzgo/..., that led to them; Go's wasm stacks end at
// the last goroutine switch, so often there is none), PHASES=1 (instead
// of loadCore, the loader's steps by hand, timed: import wasm_exec.js, fetch and
// compile jazz.wasm, instantiate, run Go until it returns control), STAY_MS
// (keep each page open that long after its Db closed: Chromium writes its
// compiled-wasm cache a while after compiling, not at once), SERVER=1 (a
// real sync server: createDb gets its serverUrl, and "hello" is the time
// from createDb resolved to the first frame sent, which carries the first
// local-first token, minted once the socket is open).
// Prints one JSON line per load and the medians of the loads after the first.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { cleanup, launch, openPage, startServer, startStatic, tempDir, writeBundle } from "../lib/harness.mjs";

const runs = Number(process.env.RUNS || 8);
const profiling = process.env.PROFILE === "1";
const focus = (process.env.FOCUS || "").split(",").filter(Boolean);
const callers = (process.env.CALLERS || "").split(",").filter(Boolean);
const phases = process.env.PHASES === "1";
const stayMs = Number(process.env.STAY_MS || 0);

const dir = tempDir("jazz-sp-");
const appId = "sp";
const server = process.env.SERVER === "1" ? await startServer({ appId, dataDir: join(dir, "data"), bundle: await writeBundle(dir) }) : undefined;
const web = await startStatic({ cache: "max-age" });
const b = await launch({ profileDir: join(dir, "profile") });
const secret = randomBytes(32).toString("base64url");
const results = [];
for (let i = 0; i < runs; i++) {
  const page = await openPage(b.ctx, `${web.url}/`);
  const last = i === runs - 1;
  const cdp = profiling && last ? await page.context().newCDPSession(page) : undefined;
  if (cdp) {
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
    await cdp.send("Profiler.start");
  }
  const m = await page.evaluate(async ({ secret, phases, appId, serverUrl }) => {
    const t = () => performance.now();
    const m = {};
    let sentAt;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      sentAt ??= t();
      return send.call(this, data);
    };
    let t0 = t();
    if (phases) {
      const base = new URL("/jazz/wasm/", location.href);
      let p = t();
      await import(new URL("wasm_exec.js", base).href);
      m.importExec = t() - p;
      p = t();
      const mod = await WebAssembly.compileStreaming(fetch(new URL("jazz.wasm", base)));
      m.compile = t() - p;
      p = t();
      const go = new globalThis.Go();
      const inst = await WebAssembly.instantiate(mod, go.importObject);
      m.instantiate = t() - p;
      p = t();
      void go.run(inst);
      m.run = t() - p;
      if (!globalThis.__jazzCore) throw new Error("no __jazzCore after run");
    } else {
      await T.jazz.loadCore();
    }
    m.loadCore = t() - t0;
    t0 = t();
    const d = await T.jazz.createDb({ appId, secret, serverUrl });
    m.createDb = t() - t0;
    if (serverUrl) {
      // Until the hello frame (with the first token, minted once the socket is open) is sent.
      t0 = t();
      while (sentAt === undefined && t() - t0 < 10_000) await new Promise((r) => setTimeout(r, 1));
      m.hello = sentAt - t0;
    }
    await d.close();
    return m;
  }, { secret, phases, appId, serverUrl: server?.url });
  results.push(m);
  console.log(JSON.stringify({ load: i + 1, ...Object.fromEntries(Object.entries(m).map(([k, v]) => [k, +v.toFixed(1)])) }));
  if (cdp) report((await cdp.send("Profiler.stop")).profile);
  if (stayMs) await new Promise((r) => setTimeout(r, stayMs));
  await page.close();
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const warm = results.slice(1);
if (warm.length) {
  const med = Object.fromEntries(Object.keys(warm[0]).map((k) => [k, +median(warm.map((m) => m[k])).toFixed(1)]));
  console.log(JSON.stringify({ median_of_loads: `2-${runs}`, ...med, total: +(med.loadCore + med.createDb).toFixed(1) }));
}
await b.close();
await web.close();
await server?.stop();
cleanup(dir);

/** Prints the top self and inclusive times (ms) of a CDP CPU profile, and the FOCUS breakdowns. */
function report(profile) {
  const dt = new Map();
  for (let k = 0; k < profile.samples.length; k++) dt.set(profile.samples[k], (dt.get(profile.samples[k]) || 0) + (profile.timeDeltas[k] || 0));
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const parent = new Map();
  for (const x of profile.nodes) for (const c of x.children || []) parent.set(c, x.id);
  const name = (id) => byId.get(id).callFrame.functionName || "(anon)";
  const incl = new Map();
  const self = new Map();
  const under = new Map(focus.map((f) => [f, new Map()]));
  const over = new Map(callers.map((f) => [f, new Map()]));
  for (const x of profile.nodes) {
    const us = dt.get(x.id) || 0;
    if (!us) continue;
    self.set(name(x.id), (self.get(name(x.id)) || 0) + us);
    const seen = new Set();
    const seenUnder = new Set();
    for (const [f, m] of over) {
      let inF = false;
      for (let id = x.id; id !== undefined; id = parent.get(id)) {
        const n = name(id);
        if (n === f) inF = true;
        else if (inF && n.startsWith("github.com_jazzgo")) {
          m.set(n, (m.get(n) || 0) + us);
          break;
        }
      }
    }
    for (let id = x.id, child; id !== undefined; child = id, id = parent.get(id)) {
      const n = name(id);
      if (under.has(n) && child !== undefined && !seenUnder.has(n)) {
        seenUnder.add(n);
        const m = under.get(n);
        m.set(name(child), (m.get(name(child)) || 0) + us);
      }
      if (seen.has(n)) continue;
      seen.add(n);
      incl.set(n, (incl.get(n) || 0) + us);
    }
  }
  const top = (m, n = 45) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${(v / 1000).toFixed(1).padStart(6)} ${k}`)
      .join("\n");
  console.log(`SELF\n${top(self)}\nINCL\n${top(incl)}`);
  for (const [f, m] of over) console.log(`CALLERS of ${f} (${((incl.get(f) || 0) / 1000).toFixed(1)} ms)\n${top(m, 30)}`);
  for (const [f, m] of under) console.log(`UNDER ${f} (${((incl.get(f) || 0) / 1000).toFixed(1)} ms)\n${top(m, 30)}`);
}
