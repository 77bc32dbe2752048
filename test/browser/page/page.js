// The test page: loads the built jazz-tools through the import map and
// exposes small helpers on window.T for Playwright's page.evaluate. With
// ?cold=1 it instead runs the cold-start benchmark on load (see bench/).
import * as jazz from "jazz-tools";
import { defineTodos } from "/schema.js";

const { app } = defineTodos(jazz.schema);
const dbs = new Map();
const views = new Map();

function db(name) {
  const d = dbs.get(name);
  if (!d) throw new Error(`no Db named ${name}`);
  return d;
}

const T = {
  jazz,
  app,
  /** Opens a Db; secret: true reads/creates the device secret in localStorage. */
  async open(name, cfg) {
    const secret = cfg.secret === true ? jazz.getLocalFirstSecret(cfg.appId) : cfg.secret;
    const d = await jazz.createDb({ ...cfg, secret });
    d.onError((e) => console.error(`jazz onError (${name}): ${e.name}/${e.code}: ${e.message}`));
    dbs.set(name, d);
    return { storageMode: d.storageMode, userId: d.getAuthState().session?.user_id ?? null };
  },
  userId(name) {
    return db(name).getAuthState().session?.user_id ?? null;
  },
  /** Absolute time in ms, comparable across tabs. */
  now() {
    return performance.timeOrigin + performance.now();
  },
  async insert(name, title, extra = {}) {
    const d = db(name);
    const row = await d.insert(app.todos, { title, done: false, owner_id: T.userId(name), ...extra });
    return row.id;
  },
  async titles(name) {
    return (await db(name).all(app.todos)).map((r) => r.title).sort();
  },
  async count(name) {
    return (await db(name).all(app.todos)).length;
  },
  /** Live query kept in views[view]: its rows' titles, the callback count and when each title first showed. */
  watch(name, view, where) {
    const v = { titles: [], calls: 0, seenAt: {} };
    views.set(view, v);
    v.stop = db(name).subscribe(where ? app.todos.where(where) : app.todos, (rows) => {
      const now = performance.timeOrigin + performance.now(); // comparable across tabs
      v.calls++;
      v.titles = rows.map((r) => r.title).sort();
      for (const t of v.titles) v.seenAt[t] ??= now;
    });
    return true;
  },
  view(view) {
    const v = views.get(view);
    return v && { titles: v.titles, calls: v.calls, seenAt: v.seenAt };
  },
  /** The Db's sync state, JSON-friendly: { connection, pendingWrites, lastAckedAt (ms), error (code) }. */
  sync(name) {
    const st = db(name).getSyncState();
    return { connection: st.connection, pendingWrites: st.pendingWrites, lastAckedAt: st.lastAckedAt?.getTime() ?? null, error: st.error?.code ?? null };
  },
  /** Records every connection the Db's sync state passes through, in syncSeen[name]. */
  watchSync(name) {
    const seen = (T.syncSeen[name] = []);
    db(name).onSyncStateChanged((st) => seen.push(st.connection));
    return true;
  },
  syncSeen: {},
  async close(name) {
    await db(name).close();
    dbs.delete(name);
  },
};

// Benchmark helpers (bench/bench.mjs).
T.bench = {
  /** Inserts n rows (ranks 0..n-1), batch at a time in parallel; resolves to the elapsed ms. */
  async fill(name, n, batch = 200) {
    const d = db(name);
    const owner = T.userId(name);
    const t0 = performance.now();
    for (let i = 0; i < n; i += batch) {
      const ps = [];
      for (let j = i; j < Math.min(n, i + batch); j++) {
        ps.push(d.insert(app.todos, { title: `todo ${j}`, done: j % 3 === 0, owner_id: owner, tag: `bulk-${j % 10}`, rank: j }));
      }
      await Promise.all(ps);
    }
    return performance.now() - t0;
  },
  /**
   * Insert-to-subscription-callback latency: a live query of the 10 newest rows
   * with a fresh tag; each sample inserts one matching row and times (with
   * performance.now()) from the insert call to the callback that adds it.
   * Returns the samples in ms (warmup samples dropped).
   */
  async insertToCallback(name, samples, warmup = 50) {
    const d = db(name);
    const owner = T.userId(name);
    const tag = `probe-${Math.random().toString(36).slice(2)}`;
    let waiting = null;
    let first;
    const initial = new Promise((r) => (first = r));
    const stop = d.subscribe(app.todos.where({ tag }).orderBy("rank", "desc").limit(10), (rows, change) => {
      const t = performance.now();
      first?.();
      first = undefined;
      if (waiting && change.added.some((r) => r.rank === waiting.rank)) {
        waiting.resolve(t);
        waiting = null;
      }
    });
    await initial;
    const out = [];
    for (let i = 0; i < warmup + samples; i++) {
      const rank = 1_000_000_000 + i;
      const seen = new Promise((resolve) => (waiting = { rank, resolve }));
      const t0 = performance.now();
      const written = d.insert(app.todos, { title: `probe ${i}`, done: false, owner_id: owner, tag, rank });
      const t1 = await seen;
      await written;
      if (i >= warmup) out.push(t1 - t0);
    }
    stop();
    return out;
  },
  /** Baseline: one raw IndexedDB readwrite transaction (put + complete, relaxed durability), in ms per sample. */
  async idbBaseline(samples) {
    const idb = await new Promise((res, rej) => {
      const r = indexedDB.open(`bench-baseline-${Math.random()}`, 1);
      r.onupgradeneeded = () => r.result.createObjectStore("s");
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const value = new TextEncoder().encode(JSON.stringify({ title: "x".repeat(40), done: false, owner_id: "u".repeat(36), tag: "probe", rank: 1 }));
    const out = [];
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      await new Promise((res, rej) => {
        const tx = idb.transaction(["s"], "readwrite", { durability: "relaxed" });
        tx.objectStore("s").put(value, new TextEncoder().encode(`k${i}`));
        tx.oncomplete = res;
        tx.onerror = () => rej(tx.error);
      });
      out.push(performance.now() - t0);
    }
    idb.close();
    return out;
  },
};
window.T = T;

// ?cold=1&appId=..&secret=..: the cold-start benchmark. performance.now() is
// measured from the navigation's start, so every mark includes the page load.
async function coldStart(p) {
  const marks = { module: performance.now() };
  // As an app does: createDb loads the core (and opens the database it
  // remembers meanwhile); loadCore() here only marks when the core is up.
  const core = jazz.loadCore().then(() => (marks.core = performance.now()));
  const d = await jazz.createDb({ appId: p.get("appId"), secret: p.get("secret"), serverUrl: p.get("serverUrl") ?? undefined });
  await core;
  marks.db = performance.now();
  // What a todo list shows first: the 50 latest open todos (limit=N asks
  // for N, a query the page has not run before). (The first callback may
  // come before subscribe returns, so stop afterwards.)
  let stop;
  const limit = Number(p.get("limit") ?? 50);
  const rows = await new Promise((resolve) => {
    stop = d.subscribe(app.todos.where({ done: false }).orderBy("rank", "desc").limit(limit), resolve);
  });
  marks.first = performance.now();
  stop();
  marks.rows = rows.length;
  marks.storageMode = d.storageMode;
  await d.close();
  return marks;
}

const params = new URLSearchParams(location.search);
if (params.get("cold") === "1") {
  window.COLD = coldStart(params).then(
    (m) => (window.COLD_RESULT = m),
    (e) => (window.COLD_RESULT = { error: String(e) }),
  );
}
document.getElementById("status").textContent = "ready";
window.__ready = true;
