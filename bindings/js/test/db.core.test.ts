// Db behaviour through the public API, against every available core.
import { afterEach, beforeEach, expect, it } from "vitest";
import {
  AnonymousWriteDeniedError, AuthError, ClosedError, ConfigError, createDb, NotFoundError, ValidationError, type Db, type Row,
} from "../src/index.js";
import { fullApp, todoApp } from "./support/apps.js";
import { describeCores, testSecret } from "./support/cores.js";
import { fakeJwt } from "./support/fake-core.js";


const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
};

describeCores("Db", ({ install, name }) => {
  const open: Db[] = [];
  const make = async (extra: object = {}) => {
    const db = await createDb({ appId: "test-app", storage: "memory", ...extra });
    open.push(db);
    return db;
  };
  beforeEach(async () => void (await install()));
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });

  it("inserts and reads rows with id and magic columns", async () => {
    const db = await make({ secret: testSecret(1) });
    const userId = db.getAuthState().session!.user_id;
    const row = await db.insert(todoApp.todos, { title: "milk", done: false, owner_id: userId });
    expect(row).toMatchObject({ title: "milk", done: false, owner_id: userId, $createdBy: userId, $updatedBy: userId });
    expect(typeof row.id).toBe("string");
    expect(typeof row.$createdAt).toBe("number");
    const all: Row<typeof todoApp.todos>[] = await db.all(todoApp.todos.where({ owner_id: userId }));
    expect(all).toEqual([row]);
    expect(await db.one(todoApp.todos.where({ title: "milk" }))).toEqual(row);
    expect(await db.one(todoApp.todos.where({ title: "bread" }))).toBeNull();
  });

  it("filters, sorts and windows", async () => {
    const db = await make({ secret: testSecret(2) });
    for (const [title, rank] of [["a", 3], ["b", 1], ["c", 2], ["d", null]] as const) {
      const list = (await db.all(fullApp.lists))[0] ?? (await db.insert(fullApp.lists, { name: "l", owner_id: "o" }));
      await db.insert(fullApp.todos, { title, done: false, rank, owner_id: "o", list: list.id });
    }
    const titles = (rows: { title: string }[]) => rows.map((r) => r.title);
    expect(titles(await db.all(fullApp.todos.where({ rank: { gt: 1 } }).orderBy("rank")))).toEqual(["c", "a"]);
    expect(titles(await db.all(fullApp.todos.where({ rank: null })))).toEqual(["d"]);
    expect(titles(await db.all(fullApp.todos.where({ title: { in: ["a", "d"] } }).orderBy("title", "desc")))).toEqual(["d", "a"]);
    expect(titles(await db.all(fullApp.todos.orderBy("title").offset(1).limit(2)))).toEqual(["b", "c"]);
  });

  it("updates and deletes", async () => {
    const db = await make({ secret: testSecret(3) });
    const row = await db.insert(todoApp.todos, { title: "x", done: false, owner_id: "o" });
    expect(await db.update(todoApp.todos, row.id, { done: true })).toMatchObject({ id: row.id, done: true, title: "x" });
    await db.delete(todoApp.todos, row.id);
    expect(await db.all(todoApp.todos)).toEqual([]);
  });

  it("rejects writes by an anonymous session with AnonymousWriteDeniedError", async () => {
    const db = await make();
    expect(db.getAuthState().authMode).toBe("anonymous");
    const err = await db.insert(todoApp.todos, { title: "x", done: false, owner_id: "o" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnonymousWriteDeniedError);
    expect(err).toMatchObject({ table: "todos", operation: "insert" });
  });

  it("rejects a write that does not fit the schema with ValidationError", async () => {
    const db = await make({ secret: testSecret(4) });
    const err = await db.insert(todoApp.todos, { title: "x" } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
  });

  it("rejects an update of a missing row with NotFoundError", async () => {
    const db = await make({ secret: testSecret(5) });
    await expect(db.update(todoApp.todos, "nope", { done: true })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("refuses a config with both secret and jwtToken", async () => {
    await expect(make({ secret: testSecret(6), jwtToken: fakeJwt("u") })).rejects.toBeInstanceOf(ConfigError);
  });

  it("treats null secret/jwtToken as absent (anonymous)", async () => {
    const db = await make({ secret: null, jwtToken: null });
    expect(db.getAuthState().authMode).toBe("anonymous");
  });

  it("subscribes: initial result, then every change; unsubscribe stops it", async () => {
    const db = await make({ secret: testSecret(7) });
    const seen: string[][] = [];
    const stop = db.subscribe(todoApp.todos.where({ done: false }), (rows) => seen.push(rows.map((r) => r.title)));
    await until(() => seen.length === 1);
    expect(seen[0]).toEqual([]);
    const row = await db.insert(todoApp.todos, { title: "a", done: false, owner_id: "o" });
    await until(() => seen.at(-1)?.length === 1);
    await db.update(todoApp.todos, row.id, { done: true });
    await until(() => seen.at(-1)?.length === 0);
    stop();
    const n = seen.length;
    await db.insert(todoApp.todos, { title: "b", done: false, owner_id: "o" });
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.length).toBe(n);
  });

  it("keeps a live result: unchanged rows keep their objects, moves and windows follow, the app may edit its copy", async () => {
    const db = await make({ secret: testSecret(30) });
    const me = db.getAuthState().session!.user_id;
    const list = await db.insert(fullApp.lists, { name: "l", owner_id: me });
    const q = fullApp.todos.orderBy("rank").limit(12);
    type T = Row<typeof fullApp.todos>;
    let last: T[] = [];
    let calls = 0;
    const problems: string[] = [];
    const stop = db.subscribe(q, (rows, change) => {
      calls++;
      const fresh = new Set([...change.added, ...change.updated].map((r) => r.id));
      const before = new Map(last.map((r) => [r.id, r]));
      for (const r of rows) {
        if (!fresh.has(r.id) && before.has(r.id) && before.get(r.id) !== r) problems.push(`row ${r.title} unchanged but a new object`);
        if (!fresh.has(r.id) && !before.has(r.id)) problems.push(`row ${r.title} appeared but is not in added`);
      }
      last = rows.slice();
      rows.reverse(); // the app's copy: editing it must not touch the live result
    });
    const ids: string[] = [];
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    for (let i = 0; i < 40; i++) {
      if (ids.length < 5 || rnd(3) === 0) {
        ids.push((await db.insert(fullApp.todos, { title: `t${i}`, done: false, rank: rnd(30), owner_id: me, list: list.id })).id);
      } else {
        await db.update(fullApp.todos, ids[rnd(ids.length)]!, { rank: rnd(30), done: rnd(2) === 0 });
      }
      const want = (await db.all(q)).map((r) => r.id);
      await until(() => JSON.stringify(last.map((r) => r.id)) === JSON.stringify(want));
    }
    stop();
    expect(problems).toEqual([]);
    expect(calls).toBeGreaterThan(10);
    expect(last).toEqual(await db.all(q));
  });

  it.skipIf(name === "fake")("delivers writes made in one task as one callback", async () => {
    const db = await make({ secret: testSecret(31) });
    const me = db.getAuthState().session!.user_id;
    const sizes: number[] = [];
    const stop = db.subscribe(todoApp.todos, (rows, change) => void sizes.push(change.added.length));
    await until(() => sizes.length === 1);
    const writes = Array.from({ length: 300 }, (_, i) => db.insert(todoApp.todos, { title: `t${i}`, done: false, owner_id: me }));
    await Promise.all(writes);
    await until(() => sizes.reduce((a, b) => a + b, 0) === 300);
    stop();
    // One callback per task, not per write: the 300 writes were made in one.
    expect(sizes.length - 1).toBeLessThanOrEqual(3);
  });

  it("reads the session from the JWT for external auth and refreshes the same user", async () => {
    const db = await make({ jwtToken: fakeJwt("user-1", { role: "admin" }) });
    expect(db.getAuthState()).toMatchObject({ authMode: "external", session: { user_id: "user-1", authMode: "external" } });
    expect(db.getAuthState().session!.claims).toMatchObject({ role: "admin" });
    const states: string[] = [];
    const stop = db.onAuthChanged((s) => void states.push(String(s.session?.claims.role)));
    db.updateAuthToken(fakeJwt("user-1", { role: "editor" }));
    await until(() => states.includes("editor"));
    stop();
    expect(() => db.updateAuthToken(fakeJwt("user-2"))).toThrow(AuthError);
    expect(() => db.updateAuthToken(null as never)).toThrow(AuthError);
  });

  it("returns the same auth state object until it changes", async () => {
    const db = await make({ secret: testSecret(8) });
    expect(db.getAuthState()).toBe(db.getAuthState());
  });

  it("gives a local-first identity proof", async () => {
    const db = await make({ secret: testSecret(9) });
    await expect(db.getLocalFirstIdentityProof({ audience: "auth.example.com" })).resolves.toEqual(expect.any(String));
  });

  it("reports memory storage where IndexedDB is unavailable", async () => {
    const db = await make();
    expect(db.storageMode).toBe("memory");
  });

  it("throws ClosedError after close; close is idempotent", async () => {
    const db = await make({ secret: testSecret(10) });
    await db.close();
    await db.close();
    await expect(db.all(todoApp.todos)).rejects.toBeInstanceOf(ClosedError);
    expect(() => db.getAuthState()).toThrow(ClosedError);
  });
});
