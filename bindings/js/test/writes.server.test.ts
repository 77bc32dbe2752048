// Jazz's column types and richer writes through the package in Node, over
// the real core (wasm/jazz.wasm) and a real server built from this
// checkout: enum, array, bytes and defaults round-trip with their
// JavaScript types; insert/update/delete/upsert/restore stay awaitable as
// before and also wait for a tier; a write the server refuses rejects its
// wait with the typed error and reaches onError.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket as WsWebSocket } from "ws";
import { createDb, PermissionDeniedError, schema as s, ValidationError, type Db } from "../src/index.js";
import { coreVariants } from "./support/cores.js";
import { realServerSkip, startRealServer, identityProvider, type RunningServer } from "./support/server.js";

if (realServerSkip) console.warn(`SKIPPED: write tests against a real server: ${realServerSkip}`);

const APP_ID = "writes-server-test";

const app = s.defineApp({
  notes: s.table({
    owner_id: s.string(),
    title: s.string(),
    status: s.enum("draft", "live").default("draft"),
    tags: s.array(s.string()).default([]),
    scores: s.array(s.int()).optional(),
    body: s.bytes().optional(),
  }),
});
const permissions = s.definePermissions(app, ({ policy, session }) => {
  policy.notes.allowRead.always();
  policy.notes.allowInsert.where({ owner_id: session.user_id });
  policy.notes.allowUpdate.whereOld({ owner_id: session.user_id }).whereNew({ owner_id: session.user_id });
  policy.notes.allowDelete.where({ owner_id: session.user_id });
});

describe.skipIf(realServerSkip !== null)("column types and writes against a real server", () => {
  let server: RunningServer;
  const idp = identityProvider();
  const open: Db[] = [];
  const make = async (user: string, onError?: (e: Error) => void) => {
    const db = await createDb({ appId: APP_ID, serverUrl: server.url, storage: "memory", jwtToken: idp.mint(user, 3600).token, ...(onError ? { onError } : {}) });
    open.push(db);
    return db;
  };

  beforeAll(async () => {
    (globalThis as { WebSocket?: unknown }).WebSocket ??= WsWebSocket;
    await coreVariants.find((c) => c.name === "wasm")!.install();
    server = await startRealServer(APP_ID, s.compileBundle(app, permissions), idp.publicKeyPem);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
    await server?.stop();
  });

  it("stores enum, array and bytes values, fills defaults, and filters on them", async () => {
    const db = await make("user-61");
    const me = db.getAuthState().session!.user_id;
    const row = await db.insert(app.notes, { owner_id: me, title: "a", scores: [3, 4], body: new Uint8Array([0, 1, 255]) });
    expect(row).toMatchObject({ status: "draft", tags: [], scores: [3, 4] });
    expect(row.body).toBeInstanceOf(Uint8Array);
    expect([...row.body!]).toEqual([0, 1, 255]);
    const live = db.insert(app.notes, { owner_id: me, title: "b", status: "live", tags: ["red"] });
    await live.wait({ tier: "edge" });
    expect((await db.all(app.notes.where({ status: "live" }).where({ owner_id: me }))).map((r) => r.title)).toEqual(["b"]);
    expect((await db.all(app.notes.where({ tags: { contains: "red" } }).where({ owner_id: me }))).map((r) => r.title)).toEqual(["b"]);
    expect((await db.all(app.notes.where({ scores: { contains: 4 } }).where({ owner_id: me }))).map((r) => r.title)).toEqual(["a"]);
    // Another client of the same user reads the server's copy, bytes and all.
    const other = await make("user-61");
    await expect.poll(async () => (await other.all(app.notes.where({ owner_id: me }))).length, { timeout: 15_000 }).toBe(2);
    const a = await other.one(app.notes.where({ title: "a" }));
    expect([...a!.body!]).toEqual([0, 1, 255]);
    expect(a!.status).toBe("draft");
  });

  it("refuses bad values with a ValidationError naming the column", async () => {
    const db = await make("user-62");
    const me = db.getAuthState().session!.user_id;
    const bad = await db.insert(app.notes, { owner_id: me, title: "x", status: "gone" as "live" }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad).toMatchObject({ column: "status" });
    const missing = await db.insert(app.notes, { owner_id: me } as never).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ValidationError);
    expect(missing).toMatchObject({ column: "title" });
  });

  it("returns write handles: awaitable rows, a batchId, and wait for local and edge", async () => {
    const db = await make("user-63");
    const me = db.getAuthState().session!.user_id;
    const pending = db.insert(app.notes, { owner_id: me, title: "t" });
    expect(pending.batchId).toMatch(/^[0-9a-f-]{36}$/);
    const row = await pending.wait({ tier: "edge" });
    expect(row.title).toBe("t");
    expect((await pending).id).toBe(row.id);
    expect((await db.update(app.notes, row.id, { title: "u" }).wait()).title).toBe("u");
    await db.delete(app.notes, row.id).wait({ tier: "edge" });
    expect(await db.all(app.notes.where({ owner_id: me }))).toHaveLength(0);
    await expect(db.insert(app.notes, { owner_id: me, title: "t" }).wait({ tier: "global" as "edge" })).rejects.toBeInstanceOf(ValidationError);
  });

  it("upserts and restores, locally and on the server", async () => {
    const db = await make("user-64");
    const me = db.getAuthState().session!.user_id;
    const id = (await db.insert(app.notes, { owner_id: me, title: "seed" })).id;
    await db.delete(app.notes, id).wait({ tier: "edge" });
    // Writing a deleted row fails; restore brings it back, defaults filled.
    await expect(db.update(app.notes, id, { title: "no" })).rejects.toMatchObject({ name: "NotFoundError" });
    const back = await db.restore(app.notes, id, { owner_id: me, title: "back", tags: ["again"] }).wait({ tier: "edge" });
    expect(back).toMatchObject({ id, title: "back", status: "draft", tags: ["again"] });
    const fresh = crypto.randomUUID();
    const up = await db.upsert(app.notes, { owner_id: me, title: "new" }, { id: fresh }).wait({ tier: "edge" });
    expect(up).toMatchObject({ id: fresh, title: "new" });
    expect(await db.upsert(app.notes, { owner_id: me, title: "newer", status: "live" }, { id: fresh })).toMatchObject({ title: "newer", status: "live" });
    const other = await make("user-64");
    await expect.poll(async () => (await other.all(app.notes.where({ owner_id: me }))).map((r) => r.title).sort(), { timeout: 15_000 }).toEqual(["back", "newer"]);
  });

  it("rejects the wait of a write the server refuses and tells onError", async () => {
    const owner = await make("user-65");
    const me = owner.getAuthState().session!.user_id;
    const id = (await owner.insert(app.notes, { owner_id: me, title: "mine" }).wait({ tier: "edge" })).id;
    // Another user's replica never read the row: their upsert applies
    // locally as an insert of their own note, and the server, which has
    // the row, takes it as an update of someone else's note and refuses it.
    const errors: Error[] = [];
    const mallory = await make("user-66", (e) => errors.push(e));
    const them = mallory.getAuthState().session!.user_id;
    const write = mallory.upsert(app.notes, { owner_id: them, title: "taken" }, { id });
    expect((await write).title).toBe("taken");
    const err = await write.wait({ tier: "edge" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermissionDeniedError);
    await expect.poll(() => errors.length, { timeout: 15_000 }).toBe(1);
    expect(errors[0]).toBeInstanceOf(PermissionDeniedError);
    expect((await owner.one(app.notes.where({ id })))!.title).toBe("mine");
  });
});
