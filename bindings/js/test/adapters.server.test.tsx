// @vitest-environment happy-dom
// The React, Vue and Svelte adapters over the real Go core (wasm/jazz.wasm)
// syncing with a real server (built from this checkout, see
// support/server.ts) that verifies external JWTs against a key made here:
// onJWTExpired is single-flight around a token's expiry and no write is
// lost; a new Vue/Svelte client gives a fresh Db and closes the old one; and
// unmounting releases every subscription and listener.
import { flushSync as reactFlushSync } from "react-dom";
import { createRoot } from "react-dom/client";
import { flushSync as svelteFlushSync, mount as svelteMount, unmount as svelteUnmount } from "svelte";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createApp, defineComponent, h, shallowRef, type PropType } from "vue";
import { ClosedError, createDb, schema as s, type Db, type DbConfig, type JWTExpiredHook, type Row } from "../src/index.js";
import * as react from "../src/react/index.js";
import * as svelte from "../src/svelte/index.js";
import * as vue from "../src/vue/index.js";
import { todoApp, todoPermissions } from "./support/apps.js";
import { coreVariants } from "./support/cores.js";
import { identityProvider, realServerSkip, startRealServer, type RunningServer } from "./support/server.js";
import { reactive } from "./svelte/state.svelte.js";
import SwitchHarness from "./svelte/SwitchHarness.svelte";
import TodosProbe from "./svelte/TodosProbe.svelte";

if (realServerSkip) console.warn(`SKIPPED: adapter tests against the real core and a real server: ${realServerSkip}`);

const APP_ID = "adapters-server-test";
const WAIT = { timeout: 15_000, interval: 20 };
type Todo = Row<typeof todoApp.todos>;

/** The text every framework's probe renders: `<user_id> rows=<n> auth=<error|ok>`. */
interface View {
  text(): string;
  unmount(): void;
}
interface SwitchableView extends View {
  /** Swaps the provider for one over client (a keyed provider: the old one unmounts). */
  setClient(client: vue.JazzClient): void;
}

const views: View[] = [];
const container = () => document.body.appendChild(document.createElement("div"));
const norm = (t: string | null) => (t ?? "").replace(/\s+/g, " ").trim();
const waitText = (view: View, t: string | RegExp) => vi.waitFor(() => expect(view.text()).toMatch(t), WAIT);

function ReactProbe({ onDb }: { onDb?: (db: Db) => void }) {
  const db = react.useDb();
  onDb?.(db); // hooks subscribe at commit, after this
  const session = react.useSession();
  const auth = react.useAuthState();
  const rows = react.useAll(todoApp.todos.where({ owner_id: session?.user_id ?? "" }));
  return <p>{`${session?.user_id} rows=${rows?.length ?? "-"} auth=${auth.error ?? "ok"}`}</p>;
}

const VueProbe = defineComponent({
  props: { onDb: { type: Function as PropType<(db: Db) => void>, required: false } },
  setup(props) {
    const db = vue.useDb();
    props.onDb?.(db); // before useAll/useAuthState subscribe
    const session = vue.useSession();
    const { error } = vue.useAuthState();
    const rows = vue.useAll(todoApp.todos.where({ owner_id: session?.user_id ?? "" }));
    return () => h("p", `${session?.user_id} rows=${rows.value?.length ?? "-"} auth=${error.value ?? "ok"}`);
  },
});

const vueErrors: unknown[] = [];
function mountVue(client: vue.JazzClient, onDb?: (db: Db) => void): SwitchableView {
  const el = container();
  const current = shallowRef(client);
  let key = 0;
  const app = createApp(
    defineComponent(() => () =>
      h(vue.JazzProvider, { client: current.value, key }, { default: () => h(VueProbe, { onDb }), fallback: () => h("p", "loading") }),
    ),
  );
  app.config.errorHandler = (e) => void vueErrors.push(e);
  app.mount(el);
  const view = {
    text: () => norm(el.textContent),
    setClient(c: vue.JazzClient) {
      key++;
      current.value = c;
    },
    unmount: () => app.unmount(),
  };
  views.push(view);
  return view;
}

function mountSvelte(client: svelte.JazzClient, onDb?: (db: Db) => void): SwitchableView {
  const el = container();
  const holder = reactive({ client });
  const app = svelteMount(SwitchHarness, { target: el, props: { holder, child: TodosProbe, childProps: { onDb } } });
  svelteFlushSync();
  const view = {
    text: () => (svelteFlushSync(), norm(el.textContent)),
    setClient(c: svelte.JazzClient) {
      holder.client = c;
      svelteFlushSync();
    },
    unmount: () => void svelteUnmount(app),
  };
  views.push(view);
  return view;
}

function mountReact(config: DbConfig, hook: JWTExpiredHook, onDb: (db: Db) => void): View {
  const el = container();
  const root = createRoot(el);
  reactFlushSync(() =>
    root.render(
      <react.JazzProvider config={config} onJWTExpired={hook} fallback={<p>loading</p>}>
        <ReactProbe onDb={onDb} />
      </react.JazzProvider>,
    ),
  );
  const view = { text: () => norm(el.textContent), unmount: () => reactFlushSync(() => root.unmount()) };
  views.push(view);
  return view;
}

/** How each framework takes onJWTExpired: a JazzProvider prop (React), the client's config (Vue, Svelte). */
const withHook: Record<"react" | "vue" | "svelte", (config: DbConfig, hook: JWTExpiredHook, onDb: (db: Db) => void) => View> = {
  react: mountReact,
  vue: (config, hook, onDb) => mountVue(vue.createJazzClient({ ...config, onJWTExpired: hook }), onDb),
  svelte: (config, hook, onDb) => mountSvelte(svelte.createJazzClient({ ...config, onJWTExpired: hook }), onDb),
};

/**
 * Counts what an adapter holds on db: live query subscriptions, auth
 * listeners, and callbacks the core delivered to them. Install it before
 * the adapter subscribes (the probes' onDb runs first).
 */
function track(db: Db) {
  const t = { subscriptions: 0, authListeners: 0, delivered: 0 };
  const once = (count: "subscriptions" | "authListeners", stop: () => void) => {
    let live = true;
    return () => {
      if (live) t[count]--;
      live = false;
      stop();
    };
  };
  const subscribe = db.subscribe.bind(db);
  const onAuthChanged = db.onAuthChanged.bind(db);
  db.subscribe = ((q: Parameters<Db["subscribe"]>[0], cb: Parameters<Db["subscribe"]>[1]) => {
    const stop = subscribe(q, (...a) => (t.delivered++, cb(...a)));
    t.subscriptions++;
    return once("subscriptions", stop);
  }) as Db["subscribe"];
  db.onAuthChanged = (cb) => {
    const stop = onAuthChanged((st) => (t.delivered++, cb(st)));
    t.authListeners++;
    return once("authListeners", stop);
  };
  return t;
}

describe.skipIf(realServerSkip !== null)("adapters against the real core and a real server", () => {
  const idp = identityProvider();
  let server: RunningServer;
  const helpers: Db[] = [];
  const config = (jwtToken: string, extra: Partial<DbConfig> = {}): DbConfig => ({ appId: APP_ID, serverUrl: server.url, storage: "memory", jwtToken, ...extra });
  const todo = (title: string, owner_id: string) => ({ title, done: false, owner_id });

  /** A Db of its own for sub (a long-lived token), closed after the test. */
  const helperDb = async (sub: string) => {
    const db = await createDb(config(idp.mint(sub, 3600).token));
    helpers.push(db);
    return db;
  };
  /** Waits until sub's rows as the server has them (read by a fresh Db, which has none of its own) satisfy check. */
  const onServer = async (sub: string, check: (rows: Todo[]) => void) => {
    const db = await helperDb(sub);
    let rows: Todo[] | undefined;
    const stop = db.subscribe(todoApp.todos.where({ owner_id: sub }), (r) => (rows = r));
    try {
      await vi.waitFor(() => {
        expect(rows).toBeDefined();
        check(rows!);
      }, WAIT);
    } finally {
      stop();
      await db.close();
    }
  };
  /** A write by another Db of sub that has gone through the server (a third Db saw it). */
  const writeThroughServer = async (sub: string, title: string) => {
    const writer = await helperDb(sub);
    await writer.insert(todoApp.todos, todo(title, sub));
    await onServer(sub, (rows) => expect(rows.map((r) => r.title)).toContain(title));
  };

  beforeAll(async () => {
    await coreVariants.find((c) => c.name === "wasm")!.install();
    server = await startRealServer(APP_ID, s.compileBundle(todoApp, todoPermissions), idp.publicKeyPem);
  }, 120_000);

  afterEach(async () => {
    for (const v of views.splice(0)) v.unmount();
    document.body.innerHTML = "";
    await Promise.all(helpers.splice(0).map((d) => d.close()));
    expect(vueErrors.splice(0)).toEqual([]);
  });

  afterAll(async () => {
    await server?.stop();
  });

  // The server ends a socket's session at its token's exp (no leeway on an
  // open socket). The first token lives ~3 s; the hook holds its first call
  // (the proactive one, half-way through the token's life, or the one the
  // server's `expired` causes) until the server has reported the expiry and
  // writes have piled up on both sides of it. The token it returns lives ~3 s
  // too, so a second expiry follows, which the proactive call must handle
  // before the server notices; the next token lives an hour.
  for (const fw of ["react", "vue", "svelte"] as const) {
    it(`${fw}: onJWTExpired runs once per expiry around concurrent writes; no write is lost and the auth error clears`, async () => {
      const sub = `${fw}-user`;
      const first = idp.mint(sub, 3);
      const calls: number[] = [];
      const tokens: { token: string; expMs: number }[] = [];
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const hook: JWTExpiredHook = async () => {
        const n = calls.push(Date.now());
        if (n === 1) await held;
        await new Promise((r) => setTimeout(r, 100));
        const next = idp.mint(sub, n === 1 ? 3 : 3600);
        tokens.push(next);
        return next.token;
      };
      let db!: Db;
      let expiredEpisodes = 0;
      const onDb = (d: Db) => {
        if (db === d) return;
        db = d;
        let prev: string | undefined;
        d.onAuthChanged((st) => {
          if (st.error === "expired" && prev !== "expired") expiredEpisodes++;
          prev = st.error;
        });
      };
      const errors: Error[] = [];
      const view = withHook[fw](config(first.token, { onError: (e) => void errors.push(e) }), hook, onDb);
      await waitText(view, `${sub} rows=0 auth=ok`);

      // Writes in flight as the token runs out, then more while the server refuses it.
      await vi.waitFor(() => expect(Date.now()).toBeGreaterThanOrEqual(first.expMs - 50), { timeout: 5_000, interval: 5 });
      const inserted = await Promise.all(Array.from({ length: 10 }, (_, i) => db.insert(todoApp.todos, todo(`before ${i}`, sub))));
      await waitText(view, `${sub} rows=10 auth=expired`);
      inserted.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => db.insert(todoApp.todos, todo(`during ${i}`, sub))))));
      expect(calls).toHaveLength(1);
      release();

      await waitText(view, `${sub} rows=20 auth=ok`);
      // The second token: refreshed ahead of its expiry, by one call.
      await vi.waitFor(() => expect(tokens).toHaveLength(2), WAIT);
      await vi.waitFor(() => expect(db.getAuthState().session?.claims.exp).toBe(tokens[1]!.expMs / 1000), WAIT);
      expect(calls[1]!).toBeLessThan(tokens[0]!.expMs);

      await onServer(sub, (rows) => expect(rows.map((r) => r.id).sort()).toEqual(inserted.map((r) => r.id).sort()));
      expect(view.text()).toBe(`${sub} rows=20 auth=ok`);
      expect(calls).toHaveLength(2);
      expect(expiredEpisodes).toBe(1);
      expect(errors).toEqual([]);
    }, 30_000);
  }

  for (const fw of ["vue", "svelte"] as const) {
    it(`${fw}: a new client gives a fresh Db with the new session and closes the old one; unmounting releases everything`, async () => {
      const [alice, bob] = [`${fw}-alice`, `${fw}-bob`];
      const mountClient = fw === "vue" ? mountVue : mountSvelte;
      const createClient = fw === "vue" ? vue.createJazzClient : svelte.createJazzClient;
      const tracked = new Map<Db, ReturnType<typeof track>>();
      const onDb = (d: Db) => void (tracked.has(d) || tracked.set(d, track(d)));

      const clientA = createClient(config(idp.mint(alice, 3600).token));
      const view = mountClient(clientA, onDb);
      await waitText(view, `${alice} rows=0 auth=ok`);
      const dbA = await clientA.ready;
      await dbA.insert(todoApp.todos, todo("a1", alice));
      await waitText(view, `${alice} rows=1 auth=ok`);
      const tA = tracked.get(dbA)!;
      expect(tA).toMatchObject({ subscriptions: 1, authListeners: 1 });

      const clientB = createClient(config(idp.mint(bob, 3600).token));
      view.setClient(clientB);
      await waitText(view, `${bob} rows=0 auth=ok`);
      const dbB = await clientB.ready;
      expect(dbB).not.toBe(dbA);
      expect(dbB.getAuthState().session?.user_id).toBe(bob);
      expect([...tracked.keys()]).toEqual([dbA, dbB]);

      // The old client is closed and let go of everything.
      expect(clientA.getSnapshot().status).toBe("closed");
      await expect(dbA.all(todoApp.todos)).rejects.toBeInstanceOf(ClosedError);
      await expect(dbA.insert(todoApp.todos, todo("late", alice))).rejects.toBeInstanceOf(ClosedError);
      await vi.waitFor(() => expect(tA).toMatchObject({ subscriptions: 0, authListeners: 0 }), WAIT);
      const deliveredA = tA.delivered;
      await writeThroughServer(alice, "a2");
      expect(tA.delivered).toBe(deliveredA);

      // The new one syncs as bob.
      await dbB.insert(todoApp.todos, todo("b1", bob));
      await waitText(view, `${bob} rows=1 auth=ok`);
      await onServer(bob, (rows) => expect(rows.map((r) => r.title)).toEqual(["b1"]));

      // Unmounting closes it and releases every subscription and listener.
      const tB = tracked.get(dbB)!;
      expect(tB).toMatchObject({ subscriptions: 1, authListeners: 1 });
      views.splice(views.indexOf(view), 1);
      view.unmount();
      expect(view.text()).toBe("");
      await vi.waitFor(() => expect(tB).toMatchObject({ subscriptions: 0, authListeners: 0 }), WAIT);
      expect(clientB.getSnapshot().status).toBe("closed");
      await expect(dbB.all(todoApp.todos)).rejects.toBeInstanceOf(ClosedError);
      expect(() => dbB.subscribe(todoApp.todos, () => {})).toThrow(ClosedError);
      const deliveredB = tB.delivered;
      await writeThroughServer(bob, "b2");
      expect(tB.delivered).toBe(deliveredB);
      expect(tracked.size).toBe(2);
    }, 30_000);
  }
});
