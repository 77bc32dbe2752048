// jazz-tools/backend against a real server (the Go binary, built from this
// checkout) and the real backend core (jazz-backend.wasm, likewise): every
// context kind, its permissions and its authorship ($createdBy), each
// session-resolution rule of forRequest, and the seed page's snippet.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  AnonymousWriteDeniedError, AuthError, ConfigError, PermissionDeniedError, schema as s, type Db, type Session,
} from "../../src/index.js";
import { compileBundle } from "../../src/bundle.js";
import { createJazzContext, verifyLocalFirstIdentityProof, type JazzContext } from "../../src/backend/index.js";
import { app } from "../seeds/app.js";
import { createAttributedHandles, setSeedContext } from "./seed.js";
import { ADMIN_SECRET, BACKEND_SECRET, buildArtifacts, cleanup, hasGo, startServer, type Built, type RunningServer } from "./server.js";
import { externalJwt, localFirstIdentity, provider } from "./tokens.js";

if (!hasGo) console.warn("SKIPPED: jazz-tools/backend tests against a real server: `go` is not on PATH (they build the server and jazz-backend.wasm)");

// The seed app with owner-only policies: a user may read and write only
// rows whose owner_id is their user_id.
const permissions = s.definePermissions(app, ({ policy, session }) => {
  policy.todos.allowRead.where({ owner_id: session.user_id });
  policy.todos.allowInsert.where({ owner_id: session.user_id });
  policy.todos.allowUpdate.whereOld({ owner_id: session.user_id }).whereNew({ owner_id: session.user_id });
  policy.todos.allowDelete.where({ owner_id: session.user_id });
});

const APP_ID = "backend-tests";
const SYSTEM = "jazz:system";

const sessionHeader = (session: Session) => Buffer.from(JSON.stringify(session)).toString("base64");
const fetchRequest = (headers: Record<string, string>) => new Request("http://backend.test/api", { headers });
const todo = (title: string, owner_id: string) => ({ title, done: false, owner_id });

describe.skipIf(!hasGo)("jazz-tools/backend against a real server", () => {
  let built: Built | undefined;
  let server: RunningServer;
  let context: JazzContext;
  const contexts: JazzContext[] = [];
  const makeContext = (extra: Partial<Parameters<typeof createJazzContext>[0]> = {}) => {
    const c = createJazzContext({
      app,
      appId: APP_ID,
      serverUrl: server.url,
      backendSecret: BACKEND_SECRET,
      adminSecret: ADMIN_SECRET,
      jwtPublicKey: provider.jwk,
      allowLocalFirstAuth: true,
      wasm: { url: built!.wasm, execUrl: built!.wasmExec },
      ...extra,
    });
    contexts.push(c);
    return c;
  };
  /** $createdBy/$updatedBy of a row, as the server has it (read with backend permissions). */
  const authorship = async (id: string) => {
    const row = await context.asBackend(app).one(app.todos.where({ id }));
    return [row?.$createdBy, row?.$updatedBy];
  };

  beforeAll(async () => {
    built = buildArtifacts();
    server = await startServer(built, APP_ID, compileBundle(app, permissions), ["--jwt-public-key", provider.jwk]);
    context = makeContext();
    await context.ready();
  }, 300_000);

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    await server?.stop();
    cleanup(built);
  });

  it("jwksUrl together with jwtPublicKey is a config error naming both", () => {
    const make = () => createJazzContext({ appId: APP_ID, serverUrl: "http://127.0.0.1:1", backendSecret: "s", jwksUrl: "https://id.example/jwks", jwtPublicKey: provider.jwk });
    expect(make).toThrow(ConfigError);
    expect(make).toThrow(/jwksUrl.*jwtPublicKey/);
  });

  it("asBackend() and db(): backend permissions, writes authored jazz:system", async () => {
    for (const db of [context.asBackend(app), context.db()]) {
      // alice's row: only alice may insert it under the policies.
      const row = await db.insert(app.todos, todo("by the backend", "alice"));
      expect(row.$createdBy).toBe(SYSTEM);
      expect(await authorship(row.id)).toEqual([SYSTEM, SYSTEM]);
      const updated = await db.update(app.todos, row.id, { done: true });
      expect(updated).toMatchObject({ done: true, $updatedBy: SYSTEM });
      expect((await db.all(app.todos)).map((r) => r.id)).toContain(row.id);
      await db.delete(app.todos, row.id);
      expect(await db.one(app.todos.where({ id: row.id }))).toBeNull();
      expect(db.getAuthState().session).toBeNull();
    }
  });

  it("upsert, restore and wait({ tier }) through the backend, each settled by the server", async () => {
    const db = context.asBackend(app);
    const row = await db.insert(app.todos, todo("to upsert", "alice")).wait({ tier: "edge" });
    const up = await db.upsert(app.todos, todo("upserted", "alice"), { id: row.id });
    expect(up).toMatchObject({ id: row.id, title: "upserted" });
    await db.delete(app.todos, row.id).wait({ tier: "edge" });
    expect(await db.one(app.todos.where({ id: row.id }))).toBeNull();
    const back = await db.restore(app.todos, row.id, todo("restored", "alice")).wait({ tier: "edge" });
    expect(back).toMatchObject({ id: row.id, title: "restored" });
    expect((await db.one(app.todos.where({ id: row.id })))?.title).toBe("restored");
  });

  it("forSession(): the user's permissions and authorship", async () => {
    await context.asBackend(app).insert(app.todos, todo("bob's", "bob"));
    const alice = context.forSession({ user_id: "alice", authMode: "external", claims: {} }, app);
    expect(alice.getAuthState().session?.user_id).toBe("alice");
    const mine = await alice.insert(app.todos, todo("alice's", "alice"));
    expect(await authorship(mine.id)).toEqual(["alice", "alice"]);
    const denied = await alice.insert(app.todos, todo("forged", "bob")).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(PermissionDeniedError);
    expect(denied).toMatchObject({ table: "todos", operation: "insert" });
    const titles = (await alice.all(app.todos)).map((r) => r.title);
    expect(titles).toContain("alice's");
    expect(titles).not.toContain("bob's");
    expect(titles).not.toContain("forged");
  });

  describe("forRequest(): the server's session rules, in order", () => {
    const lf = localFirstIdentity();
    const carol: Session = { user_id: "carol", authMode: "external", claims: {} };
    const cases: { name: string; headers: () => Record<string, string>; user: string; mode: Session["authMode"] }[] = [
      { name: "backend impersonation", headers: () => ({ "X-Jazz-Backend-Secret": BACKEND_SECRET, "X-Jazz-Session": sessionHeader(carol) }), user: "carol", mode: "external" },
      {
        name: "impersonation wins over a bearer",
        headers: () => ({ "X-Jazz-Backend-Secret": BACKEND_SECRET, "X-Jazz-Session": sessionHeader(carol), Authorization: `Bearer ${externalJwt("dave")}` }),
        user: "carol",
        mode: "external",
      },
      { name: "external JWT", headers: () => ({ Authorization: `Bearer ${externalJwt("dave")}` }), user: "dave", mode: "external" },
      { name: "local-first JWT", headers: () => ({ Authorization: `Bearer ${lf.token(APP_ID)}` }), user: lf.userId, mode: "local-first" },
    ];
    for (const tc of cases) {
      it(`${tc.name}: runs as that user`, async () => {
        for (const req of [fetchRequest(tc.headers()), { headers: Object.fromEntries(Object.entries(tc.headers()).map(([k, v]) => [k.toLowerCase(), v])) }]) {
          const db = await context.forRequest(req, app);
          expect(db.getAuthState().session).toMatchObject({ user_id: tc.user, authMode: tc.mode });
          const row = await db.insert(app.todos, todo(tc.name, tc.user));
          expect(await authorship(row.id)).toEqual([tc.user, tc.user]);
          await expect(db.insert(app.todos, todo("not mine", "someone-else"))).rejects.toBeInstanceOf(PermissionDeniedError);
        }
      });
    }

    it("no credentials: an anonymous session that may not write", async () => {
      const db = await context.forRequest(fetchRequest({}), app);
      const state = db.getAuthState();
      expect(state.authMode).toBe("anonymous");
      expect(state.session?.user_id).toMatch(/^anonymous:/);
      await expect(db.insert(app.todos, todo("x", "x"))).rejects.toBeInstanceOf(AnonymousWriteDeniedError);
      expect(await db.all(app.todos)).toEqual([]);
    });

    const refused: { name: string; ctx?: () => JazzContext; headers: () => Record<string, string>; code: string }[] = [
      { name: "wrong backend secret", headers: () => ({ "X-Jazz-Backend-Secret": "nope", "X-Jazz-Session": sessionHeader(carol) }), code: "invalid" },
      { name: "session without the secret", headers: () => ({ "X-Jazz-Session": sessionHeader(carol) }), code: "missing" },
      { name: "expired external JWT", headers: () => ({ Authorization: `Bearer ${externalJwt("dave", -3600)}` }), code: "expired" },
      { name: "empty bearer", headers: () => ({ Authorization: "Bearer " }), code: "missing" },
      { name: "external JWT without a key", ctx: () => makeContext({ jwtPublicKey: undefined }), headers: () => ({ Authorization: `Bearer ${externalJwt("dave")}` }), code: "disabled" },
      { name: "local-first without allowLocalFirstAuth", ctx: () => makeContext({ allowLocalFirstAuth: false }), headers: () => ({ Authorization: `Bearer ${lf.token(APP_ID)}` }), code: "disabled" },
    ];
    for (const tc of refused) {
      it(`refuses ${tc.name} with AuthError ${tc.code}`, async () => {
        const ctx = tc.ctx?.() ?? context;
        const err = await ctx.forRequest(fetchRequest(tc.headers()), app).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AuthError);
        expect(err).toMatchObject({ code: tc.code });
        await expect(ctx.withAttributionForRequest(fetchRequest(tc.headers()), app)).rejects.toMatchObject({ name: "AuthError", code: tc.code });
      });
    }

    it("refuses an Authorization scheme other than Bearer with AuthError invalid", async () => {
      const err = await context.forRequest(fetchRequest({ Authorization: "Basic dXNlcjpwdw==" }), app).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect(err).toMatchObject({ code: "invalid", message: expect.stringMatching(/"Basic"/) });
    });

    it("refuses external subjects in the reserved namespaces", async () => {
      for (const sub of [SYSTEM, "anonymous:0123"]) {
        const err = await context.forRequest(fetchRequest({ Authorization: `Bearer ${externalJwt(sub)}` }), app).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AuthError);
        expect(err).toMatchObject({ code: "invalid", message: expect.stringMatching(/sub claim.*reserved/) });
      }
      await expect(context.forSession({ user_id: SYSTEM, authMode: "external", claims: {} }, app).all(app.todos)).rejects.toBeInstanceOf(ConfigError);
    });

    describe("jwtAudience and jwtIssuer", () => {
      const bound = () => makeContext({ jwtAudience: ["web", "mobile"], jwtIssuer: "https://idp.test" });
      const bearer = (extra: object) => fetchRequest({ Authorization: `Bearer ${externalJwt("dave", 3600, extra)}` });
      it("accept a token whose aud names one of the audiences (a string or an array) and whose iss matches", async () => {
        const ctx = bound();
        for (const aud of ["mobile", ["other", "web"]]) {
          expect(await ctx.sessionForRequest(bearer({ aud, iss: "https://idp.test" }))).toMatchObject({ user_id: "dave", authMode: "external" });
        }
        const single = makeContext({ jwtAudience: "web" });
        expect(await single.sessionForRequest(bearer({ aud: "web" }))).toMatchObject({ user_id: "dave" });
      });
      const refusals: { name: string; extra: object; claim: RegExp }[] = [
        { name: "another app's audience", extra: { aud: "billing", iss: "https://idp.test" }, claim: /aud claim/ },
        { name: "no audience", extra: { iss: "https://idp.test" }, claim: /aud claim/ },
        { name: "another issuer", extra: { aud: "web", iss: "https://other.test" }, claim: /iss claim/ },
      ];
      for (const tc of refusals) {
        it(`refuse ${tc.name} with AuthError invalid naming the claim`, async () => {
          const err = await bound().forRequest(bearer(tc.extra), app).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(AuthError);
          expect(err).toMatchObject({ code: "invalid", message: expect.stringMatching(tc.claim) });
        });
      }
      it("leave local-first tokens alone", async () => {
        const lf = localFirstIdentity();
        expect(await bound().sessionForRequest(fetchRequest({ Authorization: `Bearer ${lf.token(APP_ID)}` }))).toMatchObject({ user_id: lf.userId, authMode: "local-first" });
      });
      it("warn under NODE_ENV=production when external auth has no audience", async () => {
        const before = process.env.NODE_ENV;
        const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
        try {
          process.env.NODE_ENV = "production";
          await makeContext({ jwtAudience: "web" }).ready();
          expect(warn.mock.calls.flat().join("\n")).not.toMatch(/other application/);
          await makeContext().ready();
          expect(warn.mock.calls.flat().join("\n")).toMatch(/other application/);
        } finally {
          warn.mockRestore();
          process.env.NODE_ENV = before;
        }
      });
    });

    it("takes a real Node IncomingMessage", async () => {
      const http = createServer((req: IncomingMessage, res) => {
        context.forRequest(req, app).then(
          (db) => res.end(JSON.stringify(db.getAuthState().session)),
          (e: Error) => res.end(JSON.stringify({ error: e.name })),
        );
      });
      await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
      try {
        const port = (http.address() as AddressInfo).port;
        const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { Authorization: `Bearer ${externalJwt("erin")}` } });
        expect(await res.json()).toMatchObject({ user_id: "erin", authMode: "external" });
      } finally {
        await new Promise((r) => http.close(r));
      }
    });
  });

  it("withAttribution*: backend permissions, authorship of the given user", async () => {
    const kinds: [string, Db, string][] = [
      ["withAttribution", context.withAttribution("user_123", app), "user_123"],
      ["withAttributionForSession", context.withAttributionForSession({ user_id: "user_456", authMode: "external", claims: {} }, app), "user_456"],
      ["withAttributionForRequest", await context.withAttributionForRequest(fetchRequest({ Authorization: `Bearer ${externalJwt("frank")}` }), app), "frank"],
    ];
    for (const [name, db, user] of kinds) {
      // Owned by bob: the attributed user could not insert it as themself.
      const row = await db.insert(app.todos, todo(name, "bob"));
      expect(await authorship(row.id)).toEqual([user, user]);
      expect((await db.all(app.todos)).map((r) => r.title)).toContain(name); // backend reads: bob's rows too
      expect(db.getAuthState().session).toBeNull();
    }
    await expect(context.withAttributionForRequest(fetchRequest({}), app)).rejects.toMatchObject({ name: "AuthError", code: "missing" });
    expect(() => context.withAttribution("", app)).toThrow(ConfigError);
  });

  it("runs the seed page's createAttributedHandles verbatim", async () => {
    setSeedContext(context);
    const handles = await createAttributedHandles(fetchRequest({ Authorization: `Bearer ${externalJwt("grace")}` }));
    const want: Record<keyof typeof handles, string> = {
      backendDb: SYSTEM,
      attributedDb: "user_123",
      attributedSessionDb: "user_123",
      attributedRequestDb: "grace",
    };
    for (const [key, author] of Object.entries(want) as [keyof typeof handles, string][]) {
      const row = await handles[key].insert(app.todos, todo(`seed ${key}`, "owner-x"));
      expect(await authorship(row.id), key).toEqual([author, author]);
    }
  });

  it("every kind ignores updateAuthToken", async () => {
    const dbs: [string, Db, string][] = [
      ["db", context.db(app), SYSTEM],
      ["asBackend", context.asBackend(app), SYSTEM],
      ["forSession", context.forSession({ user_id: "henry", authMode: "external", claims: {} }, app), "henry"],
      ["forRequest", await context.forRequest(fetchRequest({ Authorization: `Bearer ${externalJwt("henry")}` }), app), "henry"],
      ["withAttribution", context.withAttribution("henry", app), "henry"],
      ["withAttributionForSession", context.withAttributionForSession({ user_id: "henry", authMode: "external", claims: {} }, app), "henry"],
      ["withAttributionForRequest", await context.withAttributionForRequest(fetchRequest({ Authorization: `Bearer ${externalJwt("henry")}` }), app), "henry"],
    ];
    for (const [name, db, author] of dbs) {
      expect(() => db.updateAuthToken("not even a jwt"), name).not.toThrow();
      expect(() => db.updateAuthToken(externalJwt("mallory")), name).not.toThrow();
      const row = await db.insert(app.todos, todo(`after updateAuthToken (${name})`, "henry"));
      expect(await authorship(row.id), name).toEqual([author, author]);
    }
  });

  it("subscribe(): the server's rows, then live changes", async () => {
    const ivy = context.forSession({ user_id: "ivy", authMode: "external", claims: {} }, app);
    await context.asBackend(app).insert(app.todos, todo("ivy 1", "ivy"));
    const seen: string[][] = [];
    const stop = ivy.subscribe(app.todos, (rows) => seen.push(rows.map((r) => r.title).sort()));
    const until = async (cond: () => boolean) => {
      const end = Date.now() + 10_000;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out; saw ${JSON.stringify(seen)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await until(() => seen.some((t) => t.includes("ivy 1")));
    await context.withAttribution("someone", app).insert(app.todos, todo("ivy 2", "ivy"));
    await until(() => seen.at(-1)?.join() === "ivy 1,ivy 2");
    stop();
  });

  it("batches and transactions: one unit, all or nothing, under the user's permissions", async () => {
    // A user of its own: other tests write rows for carol and dave.
    const carol = context.forSession({ user_id: "batch-carol", authMode: "external", claims: {} }, app);
    const ok = carol.batch((b) => {
      for (let i = 0; i < 20; i++) b.insert(app.todos, todo(`carol ${i}`, "batch-carol"));
    });
    expect(ok.batchId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await ok.rows).toHaveLength(20);
    await ok.wait({ tier: "edge" });
    const mine = async () => (await context.asBackend(app).all(app.todos.where({ owner_id: "batch-carol" }))).length;
    expect(await mine()).toBe(20);
    // One row for someone else: the server refuses the whole batch.
    const bad = carol.batch((b) => {
      b.insert(app.todos, todo("carol 21", "batch-carol"));
      b.insert(app.todos, todo("not carol's", "batch-dave"));
    });
    await expect(bad.wait({ tier: "edge" })).rejects.toBeInstanceOf(PermissionDeniedError);
    expect(await mine()).toBe(20);
    expect(await context.asBackend(app).all(app.todos.where({ owner_id: "batch-dave" }))).toHaveLength(0);
    // A transaction reads its own writes before they commit.
    const tx = await carol.transaction(async (t) => {
      t.insert(app.todos, todo("carol staged", "batch-carol"));
      expect(await t.all(app.todos.where({ title: "carol staged" }))).toHaveLength(1);
    });
    await tx.wait({ tier: "edge" });
    expect(await mine()).toBe(21);
  });

  it("verifyLocalFirstIdentityProof returns the proven user id", async () => {
    const lf = localFirstIdentity();
    expect(await verifyLocalFirstIdentityProof(lf.proof("https://auth.example.com"), "https://auth.example.com")).toBe(lf.userId);
    await expect(verifyLocalFirstIdentityProof(lf.proof("https://auth.example.com"), "https://other.example.com")).rejects.toMatchObject({ name: "AuthError", code: "wrong_audience" });
    await expect(verifyLocalFirstIdentityProof(lf.token("https://auth.example.com"), "https://auth.example.com")).rejects.toBeInstanceOf(AuthError);
  });

  it("the test's local-first derivation matches docs/auth.md", () => {
    const id = localFirstIdentity(Buffer.from(Array.from({ length: 32 }, (_, i) => i)));
    expect(id.userId).toBe("68e57392-6ebe-8f71-b8fd-f1345ca278cc");
  });

  it("a wrong backend secret fails every operation with AuthError invalid", async () => {
    const wrong = makeContext({ backendSecret: "wrong-secret", adminSecret: undefined });
    await expect(wrong.asBackend(app).all(app.todos)).rejects.toMatchObject({ name: "AuthError", code: "invalid" });
    await expect(wrong.forSession({ user_id: "alice", authMode: "external", claims: {} }, app).insert(app.todos, todo("x", "alice"))).rejects.toMatchObject({ name: "AuthError", code: "invalid" });
  });

  const distBuilt = existsSync("dist/backend/index.js");
  if (!distBuilt) console.warn("SKIPPED: jazz-tools/backend in plain Node from dist/ (run `npm run build` first)");
  it.skipIf(!distBuilt)("works from the built package in plain Node 20, without flags (ws provides the WebSocket)", () => {
    const script = `
      import { createJazzContext } from "jazz-tools/backend";
      import { schema as s } from "jazz-tools";
      if (typeof globalThis.WebSocket !== "undefined" && process.versions.node.startsWith("20.")) throw new Error("unexpected global WebSocket");
      const app = s.defineApp({ todos: s.table({ title: s.string(), done: s.boolean(), owner_id: s.string() }) });
      const ctx = createJazzContext({ app, appId: ${JSON.stringify(APP_ID)}, serverUrl: ${JSON.stringify(server.url)}, backendSecret: ${JSON.stringify(BACKEND_SECRET)},
        wasm: { url: ${JSON.stringify(built!.wasm)}, execUrl: ${JSON.stringify(built!.wasmExec)} } });
      const row = await ctx.withAttribution("plain-node", app).insert(app.todos, { title: "from plain node", done: false, owner_id: "nobody" });
      console.log(row.$createdBy);
      await ctx.close();
      process.exit(0);`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: process.cwd(), encoding: "utf8", timeout: 60_000 });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("plain-node");
  });
});
