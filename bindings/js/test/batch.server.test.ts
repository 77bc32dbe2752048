// db.batch and db.transaction through the package in Node, over the real
// core (wasm/jazz.wasm) and a real server built from this checkout: a batch
// goes and is acknowledged as one, a batch with one row the policy refuses
// is rejected whole (nothing on the server, rolled back locally, wait
// rejects typed, onError told), an anonymous batch is refused, and a
// callback that throws writes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket as WsWebSocket } from "ws";
import {
  AnonymousWriteDeniedError, createDb, MAX_BATCH_WRITES, PermissionDeniedError, schema as s, ValidationError, type Db,
} from "../src/index.js";
import { todoApp, todoPermissions } from "./support/apps.js";
import { coreVariants } from "./support/cores.js";
import { realServerSkip, startRealServer, identityProvider, type RunningServer } from "./support/server.js";

if (realServerSkip) console.warn(`SKIPPED: batch tests against a real server: ${realServerSkip}`);

const APP_ID = "batch-server-test";

describe.skipIf(realServerSkip !== null)("batches against a real server", () => {
  let server: RunningServer;
  const idp = identityProvider();
  const open: Db[] = [];
  /** A Db signed in as user (a JWT from the test's identity provider), or anonymous. */
  const make = async (user?: string, onError?: (e: Error) => void) => {
    const jwtToken = user ? idp.mint(user, 3600).token : undefined;
    const db = await createDb({ appId: APP_ID, serverUrl: server.url, storage: "memory", ...(jwtToken ? { jwtToken } : {}), ...(onError ? { onError } : {}) });
    open.push(db);
    return db;
  };

  beforeAll(async () => {
    // Node 20 has no WebSocket of its own; the browser Db dials with the global one.
    (globalThis as { WebSocket?: unknown }).WebSocket ??= WsWebSocket;
    await coreVariants.find((c) => c.name === "wasm")!.install();
    server = await startRealServer(APP_ID, s.compileBundle(todoApp, todoPermissions), idp.publicKeyPem);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
    await server?.stop();
  });

  it("applies a batch locally at once and the server acknowledges it whole", async () => {
    const db = await make("user-41");
    const me = db.getAuthState().session!.user_id;
    const updates: number[] = [];
    const stop = db.subscribe(todoApp.todos, (rows) => updates.push(rows.length));
    await db.all(todoApp.todos);
    const before = updates.length;
    const result = db.batch((b) => {
      for (let i = 0; i < 200; i++) b.insert(todoApp.todos, { title: `t${i}`, done: false, owner_id: me });
    });
    expect(typeof result.batchId).toBe("string");
    const rows = await result.rows;
    expect(rows).toHaveLength(200);
    expect(rows[0]).toMatchObject({ title: "t0", $createdBy: me });
    expect(updates.slice(before)).toEqual([200]); // one subscription update for the whole batch
    await result.wait({ tier: "edge" });
    // A second client of the same user reads them from the server.
    const other = await make("user-41");
    await expect.poll(async () => (await other.all(todoApp.todos)).length, { timeout: 15_000 }).toBe(200);
    stop();
  });

  it("rejects the whole batch when one row is refused, rolls it back and reports it", async () => {
    const errors: Error[] = [];
    const db = await make("user-42", (e) => errors.push(e));
    const me = db.getAuthState().session!.user_id;
    const result = db.batch((b) => {
      b.insert(todoApp.todos, { title: "mine", done: false, owner_id: me });
      b.insert(todoApp.todos, { title: "forged", done: false, owner_id: "someone-else" });
    });
    await result.wait(); // applied locally
    expect(await db.all(todoApp.todos)).toHaveLength(2);
    const err = await result.wait({ tier: "edge" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect(err).toMatchObject({ code: "permission_denied" });
    expect(await db.all(todoApp.todos)).toHaveLength(0);
    await expect.poll(() => errors.length, { timeout: 15_000 }).toBe(1);
    expect(errors[0]).toBeInstanceOf(PermissionDeniedError);
    const other = await make("user-42");
    await other.all(todoApp.todos);
    const check = other.batch((b) => b.insert(todoApp.todos, { title: "probe", done: false, owner_id: me }));
    await check.wait({ tier: "edge" }); // the server answered everything before this
    expect((await other.all(todoApp.todos)).map((r) => r.title)).toEqual(["probe"]);
  });

  it("refuses an anonymous batch and writes nothing when the callback throws", async () => {
    const anon = await make();
    const r = anon.batch((b) => b.insert(todoApp.todos, { title: "x", done: false, owner_id: "x" }));
    await expect(r.wait({ tier: "edge" })).rejects.toBeInstanceOf(AnonymousWriteDeniedError);
    const db = await make("user-43");
    const me = db.getAuthState().session!.user_id;
    expect(() =>
      db.batch((b) => {
        b.insert(todoApp.todos, { title: "lost", done: false, owner_id: me });
        throw new Error("changed my mind");
      }),
    ).toThrow("changed my mind");
    expect(() => db.batch((b) => {
      for (let i = 0; i <= MAX_BATCH_WRITES; i++) b.insert(todoApp.todos, { title: "x", done: false, owner_id: me });
    })).toThrow(ValidationError);
    expect(await db.all(todoApp.todos)).toHaveLength(0);
  });

  it("a transaction reads its own writes, which nobody sees before it commits", async () => {
    const db = await make("user-44");
    const me = db.getAuthState().session!.user_id;
    let seenInside: string[] = [];
    let seenOutside = -1;
    const result = await db.transaction(async (tx) => {
      const a = tx.insert(todoApp.todos, { title: "a", done: false, owner_id: me });
      tx.update(todoApp.todos, a.id, { done: true });
      seenInside = (await tx.all(todoApp.todos.where({ done: true }))).map((r) => r.title);
      seenOutside = (await db.all(todoApp.todos)).length;
    });
    expect(seenInside).toEqual(["a"]);
    expect(seenOutside).toBe(0);
    await result.wait({ tier: "edge" });
    expect(await db.all(todoApp.todos)).toMatchObject([{ title: "a", done: true }]);
    await expect(
      db.transaction(async (tx) => {
        tx.insert(todoApp.todos, { title: "b", done: false, owner_id: me });
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    expect(await db.all(todoApp.todos)).toHaveLength(1);
  });
});
