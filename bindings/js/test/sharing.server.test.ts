// Permissions through relations, through the package in Node against a
// real server: a project shared with a teammate by a shares table, its
// todos inheriting access from it (allowedTo), the share found by exists
// in the callback form. Sharing shows the project to the teammate live,
// revoking hides it live (the server tells the client to forget rows it
// may no longer read), and a write to it after the revoke is refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket as WsWebSocket } from "ws";
import { createDb, PermissionDeniedError, schema as s, type Db } from "../src/index.js";
import { coreVariants } from "./support/cores.js";
import { identityProvider, realServerSkip, startRealServer, type RunningServer } from "./support/server.js";

if (realServerSkip) console.warn(`SKIPPED: sharing tests against a real server: ${realServerSkip}`);

const app = s.defineApp({
  projects: s.table({ name: s.string(), owner_id: s.string() }),
  projectShares: s.table({ projectId: s.ref("projects"), user_id: s.string() }),
  projectTodos: s.table({ title: s.string(), projectId: s.ref("projects") }),
});

const permissions = s.definePermissions(app, ({ policy, session, anyOf, allowedTo }) => {
  policy.projects.allowRead.where((project) =>
    anyOf([{ owner_id: session.user_id }, policy.projectShares.exists.where({ projectId: project.id, user_id: session.user_id })]),
  );
  policy.projects.allowInsert.where({ owner_id: session.user_id });
  policy.projects.allowUpdate.where({ owner_id: session.user_id });
  policy.projects.allowDelete.where({ owner_id: session.user_id });
  policy.projectShares.allowRead.where(anyOf([{ user_id: session.user_id }, allowedTo.update("project")]));
  policy.projectShares.allowInsert.where(allowedTo.update("project"));
  policy.projectShares.allowDelete.where(allowedTo.update("project"));
  policy.projectTodos.allowRead.where(allowedTo.read("project"));
  policy.projectTodos.allowInsert.where(allowedTo.read("project"));
  policy.projectTodos.allowUpdate.where(allowedTo.read("projectId"));
  policy.projectTodos.allowDelete.where(allowedTo.read("project"));
});

describe.skipIf(realServerSkip !== null)("sharing through relations against a real server", () => {
  let server: RunningServer;
  const idp = identityProvider();
  const open: Db[] = [];
  const make = async (user: string) => {
    const db = await createDb({ appId: "sharing-test", serverUrl: server.url, storage: "memory", jwtToken: idp.mint(user, 3600).token });
    open.push(db);
    return db;
  };

  beforeAll(async () => {
    (globalThis as { WebSocket?: unknown }).WebSocket ??= WsWebSocket;
    await coreVariants.find((c) => c.name === "wasm")!.install();
    server = await startRealServer("sharing-test", s.compileBundle(app, permissions), idp.publicKeyPem);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
    await server?.stop();
  });

  it("shows a shared project live, hides it live on revoke, and refuses writes after", async () => {
    const alice = await make("alice");
    const bob = await make("bob");
    const bobId = bob.getAuthState().session!.user_id;
    let projects: string[] = [];
    let todos: string[] = [];
    bob.subscribe(app.projects, (rows) => void (projects = rows.map((r) => r.name)));
    bob.subscribe(app.projectTodos.orderBy("title"), (rows) => void (todos = rows.map((r) => r.title)));

    const me = alice.getAuthState().session!.user_id;
    const project = await alice.insert(app.projects, { name: "Launch", owner_id: me }).wait({ tier: "edge" });
    await alice.insert(app.projectTodos, { title: "a", projectId: project.id }).wait({ tier: "edge" });
    await alice.insert(app.projects, { name: "Private", owner_id: me }).wait({ tier: "edge" });
    expect(await bob.all(app.projects, { tier: "edge" })).toEqual([]);

    const share = await alice.insert(app.projectShares, { projectId: project.id, user_id: bobId }).wait({ tier: "edge" });
    await expect.poll(() => projects, { timeout: 15_000 }).toEqual(["Launch"]);
    await expect.poll(() => todos, { timeout: 15_000 }).toEqual(["a"]);

    await bob.insert(app.projectTodos, { title: "b", projectId: project.id }).wait({ tier: "edge" });
    await expect.poll(() => todos, { timeout: 15_000 }).toEqual(["a", "b"]);
    await expect.poll(async () => (await alice.all(app.projectTodos.orderBy("title"))).map((r) => r.title), { timeout: 15_000 }).toEqual(["a", "b"]);

    await alice.delete(app.projectShares, share.id).wait({ tier: "edge" });
    await expect.poll(() => projects, { timeout: 15_000 }).toEqual([]);
    await expect.poll(() => todos, { timeout: 15_000 }).toEqual([]);
    // Forgotten, not only filtered: the device no longer holds them.
    expect(await bob.all(app.projectTodos)).toEqual([]);

    const refused = bob.insert(app.projectTodos, { title: "c", projectId: project.id });
    await expect(refused.wait({ tier: "edge" })).rejects.toBeInstanceOf(PermissionDeniedError);
    expect((await alice.all(app.projectTodos)).map((r) => r.title).sort()).toEqual(["a", "b"]);
  }, 60_000);
});
