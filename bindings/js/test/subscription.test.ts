import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { authStore, authView, createDb, createJazzClient, createQueryStore, queryKeyOf, type Db } from "../src/index.js";
import { todoApp } from "./support/apps.js";
import { testSecret } from "./support/cores.js";
import { createFakeCore, fakeJwt, type FakeCore } from "./support/fake-core.js";

let core: FakeCore;
let db: Db;
const tick = () => new Promise((r) => setTimeout(r, 10));

beforeEach(async () => {
  core = createFakeCore();
  (globalThis as { __jazzCore?: unknown }).__jazzCore = core;
  db = await createDb({ appId: "a", secret: testSecret() });
});
afterEach(() => void delete (globalThis as { __jazzCore?: unknown }).__jazzCore);

const subscribes = () => core.dbs[0]!.calls.filter((c) => c.startsWith("subscribe")).length;
const unsubscribes = () => core.dbs[0]!.calls.filter((c) => c.startsWith("unsubscribe")).length;

describe("query store", () => {
  it("is idle for an undefined query or no Db, and never subscribes", () => {
    for (const store of [createQueryStore(db, undefined), createQueryStore(null, todoApp.todos)]) {
      expect(store.getSnapshot()).toMatchObject({ status: "idle", data: undefined });
      store.subscribe(() => {})();
    }
    expect(subscribes()).toBe(0);
  });

  it("does nothing until subscribed, then loads and stays stable between changes", async () => {
    const store = createQueryStore(db, todoApp.todos);
    expect(store.getSnapshot().status).toBe("loading");
    expect(store.getSnapshot()).toBe(store.getSnapshot());
    expect(subscribes()).toBe(0);
    const listener = vi.fn();
    const stop = store.subscribe(listener);
    await vi.waitFor(() => expect(store.getSnapshot().status).toBe("ready"));
    const snap = store.getSnapshot();
    expect(snap.data).toEqual([]);
    expect(store.getSnapshot()).toBe(snap);
    await db.insert(todoApp.todos, { title: "a", done: false, owner_id: "o" });
    await vi.waitFor(() => expect(store.getSnapshot().data).toHaveLength(1));
    expect(listener).toHaveBeenCalledTimes(2);
    stop();
  });

  it("shares one live query among stores with the same queryKey", async () => {
    const a = createQueryStore(db, todoApp.todos.where({ done: false, owner_id: "o" }));
    const b = createQueryStore(db, todoApp.todos.where({ owner_id: "o", done: false }));
    const stopA = a.subscribe(() => {});
    const stopB = b.subscribe(() => {});
    await vi.waitFor(() => expect(a.getSnapshot().status).toBe("ready"));
    expect(b.getSnapshot()).toBe(a.getSnapshot());
    expect(subscribes()).toBe(1);
    stopA();
    stopB();
  });

  it("closes the live query a tick after the last listener leaves, and reuses it on a quick resubscribe", async () => {
    const store = createQueryStore(db, todoApp.todos);
    store.subscribe(() => {})();
    const stop = store.subscribe(() => {}); // e.g. React StrictMode's double effect
    await tick();
    expect([subscribes(), unsubscribes()]).toEqual([1, 0]);
    stop();
    await tick();
    expect([subscribes(), unsubscribes()]).toEqual([1, 1]);
    expect(store.getSnapshot().status).toBe("loading");
  });

  it("keeps the objects of unchanged rows", async () => {
    const store = createQueryStore(db, todoApp.todos.orderBy("title"));
    const stop = store.subscribe(() => {});
    const a = await db.insert(todoApp.todos, { title: "a", done: false, owner_id: "o" });
    await vi.waitFor(() => expect(store.getSnapshot().data).toHaveLength(1));
    const first = store.getSnapshot().data![0];
    await db.insert(todoApp.todos, { title: "b", done: false, owner_id: "o" });
    await vi.waitFor(() => expect(store.getSnapshot().data).toHaveLength(2));
    expect(store.getSnapshot().data![0]).toBe(first);
    await db.update(todoApp.todos, a.id, { done: true });
    await vi.waitFor(() => expect(store.getSnapshot().data![0]!.done).toBe(true));
    stop();
  });

  it("puts a subscribe error in the snapshot", () => {
    const bad = { ...todoApp.todos, queryKey: "bad", table: todoApp.todos, toJSON: () => ({ table: "todos", where: { eq: [{ col: "nope" }, { value: 1 }] } }) };
    const store = createQueryStore(db, bad as never);
    const stop = store.subscribe(() => {});
    expect(store.getSnapshot()).toMatchObject({ status: "error", error: expect.objectContaining({ name: "ValidationError" }) });
    stop();
  });

  it("exposes queryKeyOf", () => {
    expect(queryKeyOf(undefined)).toBe("");
    expect(queryKeyOf(todoApp.todos)).toBe(todoApp.todos.queryKey);
  });
});

describe("auth store", () => {
  it("has stable functions per Db and a stable snapshot and view until a change", async () => {
    const db2 = await createDb({ appId: "a", jwtToken: fakeJwt("u", { role: "a" }) });
    const s = authStore(db2);
    expect(authStore(db2)).toBe(s);
    const before = s.getSnapshot();
    expect(authView(before)).toBe(authView(s.getSnapshot()));
    expect(authView(before)).toMatchObject({ authMode: "external", userId: "u", claims: { role: "a" }, error: undefined });
    const listener = vi.fn();
    const stop = s.subscribe(listener);
    db2.updateAuthToken(fakeJwt("u", { role: "b" }));
    expect(listener).toHaveBeenCalledOnce();
    expect(s.getSnapshot()).not.toBe(before);
    stop();
  });
});

describe("client", () => {
  it("goes from loading to ready and closes the Db", async () => {
    const client = createJazzClient({ appId: "a" });
    expect(client.getSnapshot().status).toBe("loading");
    const listener = vi.fn();
    client.subscribe(listener);
    const db2 = await client.ready;
    expect(client.getSnapshot()).toMatchObject({ status: "ready", db: db2 });
    expect(listener).toHaveBeenCalledOnce();
    await client.close();
    expect(client.getSnapshot().status).toBe("closed");
    expect(core.dbs.at(-1)!.closed).toBe(true);
  });

  it("holds the creation error", async () => {
    const client = createJazzClient({ appId: "a", secret: testSecret(), jwtToken: fakeJwt("u") });
    await expect(client.ready).rejects.toMatchObject({ name: "ConfigError" });
    expect(client.getSnapshot()).toMatchObject({ status: "error", error: expect.objectContaining({ name: "ConfigError" }) });
  });

  it("closes a Db that arrives after close()", async () => {
    const client = createJazzClient({ appId: "a" });
    await client.close();
    await expect(client.ready).rejects.toThrow(/closed before/);
    await vi.waitFor(() => expect(core.dbs.at(-1)!.closed).toBe(true));
  });
});
