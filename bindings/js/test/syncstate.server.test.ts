// The sync state and the loud mistakes, through the package in plain Node
// (no global WebSocket: createDb brings in `ws` itself) over the real core
// and a real server built from this checkout: a Db goes online, counts the
// writes the server has not acknowledged and when it last did, goes
// offline when the server stops; a wrong appId, a serverUrl with a path,
// nothing listening and a server with no schema deployed each reach
// onError and the sync state as a SyncError whose message says what to do.
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createDb, schema as s, SyncError, type Db, type DbConfig, type SyncState } from "../src/index.js";
import { todoApp, todoPermissions } from "./support/apps.js";
import { coreVariants } from "./support/cores.js";
import { identityProvider, realServerSkip, startRealServer, type RunningServer } from "./support/server.js";

if (realServerSkip) console.warn(`SKIPPED: sync state tests against a real server: ${realServerSkip}`);

const APP_ID = "syncstate-server-test";
const WAIT = { timeout: 15_000, interval: 20 };

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe.skipIf(realServerSkip !== null)("sync state against a real server", () => {
  const idp = identityProvider();
  let server: RunningServer;
  let bare: RunningServer;
  const open: Db[] = [];
  const make = async (extra: Partial<DbConfig>) => {
    const errors: Error[] = [];
    const db = await createDb({ appId: APP_ID, serverUrl: server.url, storage: "memory", jwtToken: idp.mint("sync-user", 3600).token, onError: (e) => errors.push(e), ...extra });
    open.push(db);
    return { db, errors };
  };

  beforeAll(async () => {
    // Plain Node 20: no WebSocket until createDb provides one.
    delete (globalThis as { WebSocket?: unknown }).WebSocket;
    await coreVariants.find((c) => c.name === "wasm")!.install();
    [server, bare] = await Promise.all([
      startRealServer(APP_ID, s.compileBundle(todoApp, todoPermissions), idp.publicKeyPem),
      startRealServer(APP_ID, null, idp.publicKeyPem),
    ]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
    await Promise.all([server?.stop(), bare?.stop()]);
  });

  it("goes online in Node without a global WebSocket, counts unacknowledged writes, and goes offline when the server stops", async () => {
    expect((globalThis as { WebSocket?: unknown }).WebSocket).toBeUndefined();
    const { db, errors } = await make({});
    const seen: SyncState[] = [];
    const stop = db.onSyncStateChanged((st) => seen.push(st));
    await vi.waitFor(() => expect(db.getSyncState().connection).toBe("online"), WAIT);
    expect(db.getSyncState()).toMatchObject({ pendingWrites: 0, lastAckedAt: null, error: null });
    expect(db.getSyncState()).toBe(db.getSyncState()); // the same object until it changes

    const before = Date.now();
    const me = db.getAuthState().session!.user_id;
    await db.insert(todoApp.todos, { title: "a", done: false, owner_id: me });
    await vi.waitFor(() => expect(db.getSyncState().lastAckedAt).not.toBeNull(), WAIT);
    const st = db.getSyncState();
    expect(st.pendingWrites).toBe(0);
    expect(st.lastAckedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(seen.some((x) => x.pendingWrites === 1)).toBe(true);

    await server.stop();
    await vi.waitFor(() => expect(db.getSyncState().connection).toMatch(/offline|connecting/), WAIT);
    await db.insert(todoApp.todos, { title: "offline", done: false, owner_id: me });
    expect(db.getSyncState().pendingWrites).toBe(1);
    await vi.waitFor(() => expect(db.getSyncState().error?.code).toBe("unreachable"), WAIT);
    expect(db.getSyncState().error).toBeInstanceOf(SyncError);
    expect(errors.filter((e) => e instanceof SyncError && e.code === "unreachable")).toHaveLength(1);
    stop();
    const n = seen.length;
    await db.insert(todoApp.todos, { title: "after stop", done: false, owner_id: me });
    expect(seen.length).toBe(n);
  }, 60_000);

  it("a wrong appId stops syncing with SyncError unknown_app", async () => {
    const { db, errors } = await make({ appId: "not-this-app", serverUrl: bare.url });
    await vi.waitFor(() => expect(db.getSyncState().connection).toBe("stopped"), WAIT);
    const err = db.getSyncState().error!;
    expect(err).toBeInstanceOf(SyncError);
    expect(err.code).toBe("unknown_app");
    expect(err.message).toMatch(/check appId/);
    expect(errors.map((e) => [e.name, (e as SyncError).code])).toEqual([["SyncError", "unknown_app"]]);
  });

  it("a serverUrl with a path is a wrong_server error that says to drop the path", async () => {
    const { db, errors } = await make({ serverUrl: `${bare.url}/api` });
    await vi.waitFor(() => expect(db.getSyncState().error?.code).toBe("wrong_server"), WAIT);
    expect(db.getSyncState().error!.message).toMatch(/no path/);
    expect(db.getSyncState().connection).not.toBe("online");
    expect(errors.map((e) => (e as SyncError).code)).toEqual(["wrong_server"]);
  });

  it("nothing listening at serverUrl is unreachable", async () => {
    const { db, errors } = await make({ serverUrl: `http://127.0.0.1:${await deadPort()}` });
    await vi.waitFor(() => expect(db.getSyncState().error?.code).toBe("unreachable"), WAIT);
    expect(db.getSyncState().error!.message).toMatch(/is the server running/);
    expect(errors).toHaveLength(1);
  });

  it("a server with no schema deployed says so while online", async () => {
    const { db, errors } = await make({ serverUrl: bare.url });
    await vi.waitFor(() => expect(db.getSyncState().error?.code).toBe("no_bundle"), WAIT);
    expect(db.getSyncState().connection).toBe("online");
    expect(db.getSyncState().error!.message).toMatch(/deploy/);
    expect(errors.some((e) => e instanceof SyncError && e.code === "no_bundle")).toBe(true);
  });
});
