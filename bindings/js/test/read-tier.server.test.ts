// Read tiers through the package in Node, over the real core and a real
// server: at "edge" a fresh client's first result is the server's whole
// result, which arrives in several pages; at "local" (the default) the
// first result is what the device has, and the server's rows follow.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket as WsWebSocket } from "ws";
import { createDb, schema as s, ValidationError, type Db } from "../src/index.js";
import { todoApp, todoPermissions } from "./support/apps.js";
import { coreVariants } from "./support/cores.js";
import { identityProvider, realServerSkip, startRealServer, type RunningServer } from "./support/server.js";

if (realServerSkip) console.warn(`SKIPPED: read tier tests against a real server: ${realServerSkip}`);

const APP_ID = "read-tier-test";
const N = 2500; // more rows than one page of the server's initial load

describe.skipIf(realServerSkip !== null)("read tiers against a real server", () => {
  let server: RunningServer;
  const idp = identityProvider();
  const open: Db[] = [];
  const make = async (user: string) => {
    const db = await createDb({ appId: APP_ID, serverUrl: server.url, storage: "memory", jwtToken: idp.mint(user, 3600).token });
    open.push(db);
    return db;
  };

  beforeAll(async () => {
    (globalThis as { WebSocket?: unknown }).WebSocket ??= WsWebSocket;
    await coreVariants.find((c) => c.name === "wasm")!.install();
    server = await startRealServer(APP_ID, s.compileBundle(todoApp, todoPermissions), idp.publicKeyPem);
    const writer = await make("tier-user");
    const me = writer.getAuthState().session!.user_id;
    for (let i = 0; i < N; i += 500) {
      const r = writer.batch((b) => {
        for (let j = i; j < i + 500; j++) b.insert(todoApp.todos, { title: `t${j}`, done: false, owner_id: me });
      });
      await r.wait({ tier: "edge" });
    }
  }, 120_000);
  afterAll(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
    await server?.stop();
  });

  it("at edge, a subscription's first call has the server's whole result", async () => {
    const db = await make("tier-user");
    const calls: { rows: number; added: number }[] = [];
    const stop = db.subscribe(todoApp.todos, (rows, change) => void calls.push({ rows: rows.length, added: change.added.length }), { tier: "edge" });
    await expect.poll(() => calls.length, { timeout: 30_000 }).toBeGreaterThan(0);
    expect(calls[0]).toEqual({ rows: N, added: N });
    stop();
  });

  it("at edge, all() waits for the server's rows; at local it answers from the device", async () => {
    const db = await make("tier-user");
    expect(await db.all(todoApp.todos)).toHaveLength(0); // a fresh device has nothing yet
    expect(await db.all(todoApp.todos, { tier: "edge" })).toHaveLength(N);
    const other = await make("tier-user");
    expect(await other.one(todoApp.todos.where({ title: "t2499" }), { tier: "edge" })).toMatchObject({ title: "t2499" });
  });

  it("at local, the first call comes before the server's rows, which follow", async () => {
    const db = await make("tier-user");
    const sizes: number[] = [];
    const stop = db.subscribe(todoApp.todos, (rows) => void sizes.push(rows.length));
    await expect.poll(() => sizes.at(-1), { timeout: 30_000 }).toBe(N);
    expect(sizes[0]).toBeLessThan(N);
    stop();
  });

  it("refuses an unknown tier at the call", async () => {
    const db = await make("tier-user");
    expect(() => db.subscribe(todoApp.todos, () => {}, { tier: "global" as never })).toThrow(ValidationError);
    await expect(db.all(todoApp.todos, { tier: "nearby" as never })).rejects.toBeInstanceOf(ValidationError);
  });
});
