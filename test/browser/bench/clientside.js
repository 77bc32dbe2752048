// The client side of the user-path benchmarks (scenarios.mjs): what runs
// next to the Dbs, in Node's process or in a Chromium page. One function, so
// both runtimes run the very same code: Node calls it, Chromium gets its
// source through page.evaluate. It must stay self-contained (no imports, no
// closure over this module): jazz is the package, app the todos app
// (page/schema.js).
//
// Times are absolute milliseconds (performance.timeOrigin + performance.now()),
// so a time taken on one page compares with one taken on another page.
//
// The bench's own work per subscription callback is O(changes), never
// O(rows): it reads change.added (ranks first seen) and rows.length (the
// count), so at 25k rows the figures measure the package, not the bench.
export function clientSide(jazz, app) {
  const dbs = new Map();
  const watches = new Map();
  let nextWatch = 0;
  const now = () => performance.timeOrigin + performance.now();
  /** Rows per db.batch when filling a table (at most MAX_BATCH_WRITES). */
  const BATCH = 500;
  const db = (name) => {
    const d = dbs.get(name);
    if (!d) throw new Error(`bench: no Db named ${name}`);
    return d;
  };
  const owner = (name) => db(name).getAuthState().session.user_id;
  const todo = (name, tag, rank) => ({ title: `${tag} ${rank}`, done: false, owner_id: owner(name), tag, rank });
  // A promise that resolves to value() once test() holds (checked when
  // poke() is called), or to null after timeoutMs.
  function waiter(list, test, value, timeoutMs) {
    if (test()) return Promise.resolve(value());
    return new Promise((resolve) => {
      const w = { test, resolve: () => (clearTimeout(w.timer), resolve(value())) };
      w.timer = setTimeout(() => {
        list.delete(w);
        resolve(null);
      }, timeoutMs);
      list.add(w);
    });
  }
  function poke(list) {
    for (const w of list) {
      if (w.test()) {
        list.delete(w);
        w.resolve();
      }
    }
  }

  const S = {
    now,
    async open(name, cfg) {
      const d = await jazz.createDb(cfg);
      d.onError((e) => console.error(`bench: jazz onError (${name}): ${e.name}/${e.code}: ${e.message}`));
      dbs.set(name, d);
      return { storageMode: d.storageMode, userId: owner(name) };
    },
    async close(name) {
      const d = dbs.get(name);
      dbs.delete(name);
      if (d) await d.close();
    },
    async closeAll() {
      await Promise.allSettled([...dbs.keys()].map((n) => S.close(n)));
    },
    /** Inserts one row; resolves to the time just before the call. */
    async insert(name, tag, rank) {
      const t0 = now();
      await db(name).insert(app.todos, todo(name, tag, rank));
      return t0;
    },
    /**
     * Writes ranks 0..n-1 with tag in batches of BATCH (db.batch: the way to
     * write in bulk), each applied locally before the next, until done or
     * deadline (absolute ms). Resolves to {t0, written}.
     */
    async fill(name, tag, n, deadline) {
      const d = db(name);
      const t0 = now();
      let written = 0;
      for (let i = 0; i < n && now() < deadline; i += BATCH) {
        const r = d.batch((b) => {
          for (let j = i; j < Math.min(n, i + BATCH); j++) b.insert(app.todos, todo(name, tag, j));
        });
        written += (await r.rows).length;
      }
      return { t0, written };
    },
    /** Subscribes to the rows with tag; returns the watch's id and when it subscribed. */
    watch(name, tag) {
      const id = `w${++nextWatch}`;
      const w = { count: 0, seen: new Map(), waiters: new Set() };
      const t0 = now();
      w.stop = db(name).subscribe(app.todos.where({ tag }), (rows, change) => {
        const t = now();
        w.count = rows.length;
        for (const r of change.added) if (!w.seen.has(r.rank)) w.seen.set(r.rank, t);
        poke(w.waiters);
      });
      watches.set(id, w);
      return { id, t0 };
    },
    unwatch(id) {
      watches.get(id)?.stop();
      watches.delete(id);
    },
    /** When the watch first showed rank (or null after timeoutMs). */
    seen(id, rank, timeoutMs) {
      const w = watches.get(id);
      return waiter(w.waiters, () => w.seen.has(rank), () => w.seen.get(rank), timeoutMs);
    },
    /** When the watch first held at least n rows (or null after timeoutMs). */
    untilCount(id, n, timeoutMs) {
      const w = watches.get(id);
      let at = null;
      return waiter(w.waiters, () => w.count >= n && (at ??= now()), () => at, timeoutMs);
    },
    /**
     * A local insert into the Db's own subscription of the n rows with tag:
     * from the insert call to the callback that adds the row, samples times
     * after warmup (ms), or null if the subscription did not reach n rows
     * (or a row did not show) within timeoutMs.
     */
    async insertToCallback(name, tag, n, samples, warmup, timeoutMs) {
      const { id } = S.watch(name, tag);
      try {
        if ((await S.untilCount(id, n, timeoutMs)) == null) return null;
        const out = [];
        for (let i = 0; i < warmup + samples; i++) {
          const rank = n + i;
          const seen = S.seen(id, rank, timeoutMs);
          const t0 = await S.insert(name, tag, rank);
          const t1 = await seen;
          if (t1 == null) return null;
          if (i >= warmup) out.push(t1 - t0);
        }
        return out;
      } finally {
        S.unwatch(id);
      }
    },
    /** The floor: all() of a query no row matches, through the package and the core (ms). */
    async floor(name, samples, warmup) {
      const d = db(name);
      const q = app.todos.where({ tag: "floor-none" });
      const out = [];
      for (let i = 0; i < warmup + samples; i++) {
        const t0 = now();
        await d.all(q);
        if (i >= warmup) out.push(now() - t0);
      }
      return out;
    },
    /**
     * The second floor: a raw WebSocket to the server, no package: a hello
     * as a trusted backend (an anonymous connection may send only 100
     * frames a second, server/budget.go), then ping to pong, samples times
     * after warmup (ms).
     */
    async echo(serverUrl, appId, backendSecret, samples, warmup) {
      const ws = new WebSocket(`${serverUrl.replace(/^http/, "ws")}/apps/${encodeURIComponent(appId)}/ws`);
      const frames = [];
      let wake = null;
      ws.onmessage = (ev) => {
        frames.push(JSON.parse(ev.data));
        wake?.();
      };
      const next = async (t) => {
        for (;;) {
          const i = frames.findIndex((f) => f.t === t || f.t === "error");
          if (i >= 0) {
            const f = frames.splice(i, 1)[0];
            if (f.t === "error") throw new Error(`bench: echo: server error ${JSON.stringify(f)}`);
            return f;
          }
          await new Promise((r) => (wake = r));
        }
      };
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error("bench: echo: the WebSocket did not open"));
      });
      try {
        ws.send(JSON.stringify({ t: "hello", v: 1, appId, auth: { backendSecret, actAs: "backend" } }));
        await next("welcome");
        const out = [];
        for (let i = 0; i < warmup + samples; i++) {
          const t0 = now();
          ws.send(JSON.stringify({ t: "ping", n: i }));
          await next("pong");
          if (i >= warmup) out.push(now() - t0);
        }
        return out;
      } finally {
        ws.close();
      }
    },
  };
  return S;
}
