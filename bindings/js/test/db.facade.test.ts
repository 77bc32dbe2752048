// What the Db facade itself does, observed on the fake core's handle: the
// JSON it sends, schema registration, error routing and guards.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createDb, schema as s, ValidationError, type Db } from "../src/index.js";
import { todoApp } from "./support/apps.js";
import { testSecret } from "./support/cores.js";
import { createFakeCore, fakeJwt, type FakeCore, type FakeDb } from "./support/fake-core.js";

let core: FakeCore;
let db: Db;
let handle: FakeDb;

beforeEach(async () => {
  core = createFakeCore();
  (globalThis as { __jazzCore?: unknown }).__jazzCore = core;
  db = await createDb({ appId: "a", secret: testSecret(), wasmUrl: "/never/loaded.wasm", onJWTExpired: undefined });
  handle = core.dbs[0]!;
});
afterEach(() => {
  delete (globalThis as { __jazzCore?: unknown }).__jazzCore;
  vi.restoreAllMocks();
});

describe("Db facade", () => {
  it("passes the core only its own config fields", async () => {
    await createDb({ appId: "a", serverUrl: "http://x", jwtToken: fakeJwt("u"), secret: null, storage: "memory", wasmUrl: "/w", onError: () => {} });
    expect(core.dbs[1]!.config).toEqual({ appId: "a", serverUrl: "http://x", jwtToken: fakeJwt("u"), storage: "memory" });
  });

  it("registers an app's schema once, on first use, and sends query JSON", async () => {
    expect(handle.calls).toEqual([]);
    await db.all(todoApp.todos.where({ done: false }).limit(2));
    await db.one(todoApp.todos);
    expect(handle.calls).toEqual([
      "useSchema",
      'all {"table":"todos","where":{"eq":[{"col":"done"},{"value":false}]},"limit":2}',
      'one {"table":"todos"}',
    ]);
  });

  it("registers each app separately and converts a conflicting schema to ValidationError", async () => {
    const other = s.defineApp({ todos: s.table({ title: s.string() }) });
    await db.all(todoApp.todos);
    await expect(db.all(other.todos)).rejects.toBeInstanceOf(ValidationError);
  });

  it("sends insert values as JSON (Dates as ISO strings, which the core reads as timestamps)", async () => {
    await db.insert(todoApp.todos, { title: "t", done: false, owner_id: "o" });
    expect(handle.calls.at(-1)).toBe('insert todos {"title":"t","done":false,"owner_id":"o"}');
  });

  it("reports an unawaited failed write to onError instead of an unhandled rejection", async () => {
    const errors: Error[] = [];
    db.onError((e) => errors.push(e));
    void db.insert(todoApp.todos, { title: "t" } as never);
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]).toBeInstanceOf(ValidationError);
  });

  it("does not report an awaited failed write", async () => {
    const errors: Error[] = [];
    db.onError((e) => errors.push(e));
    await expect(db.insert(todoApp.todos, { title: "t" } as never)).rejects.toBeInstanceOf(ValidationError);
    await new Promise((r) => setTimeout(r, 20));
    expect(errors).toEqual([]);
  });

  it("logs unclaimed failures when nobody listens", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    void db.insert(todoApp.todos, { title: "t" } as never);
    await vi.waitFor(() => expect(log).toHaveBeenCalledOnce());
  });

  it("converts errors the core reports in the background", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const errors: Error[] = [];
    const stop = db.onError((e) => errors.push(e));
    handle.emitError({ name: "PermissionDeniedError", code: "denied", message: "m", table: "todos", operation: "insert" });
    stop();
    handle.emitError({ name: "PermissionDeniedError", code: "denied", message: "m" });
    expect(errors).toHaveLength(1);
    expect(errors[0]!.name).toBe("PermissionDeniedError");
  });

  it("routes config.onError and keeps a throwing subscriber from reaching the core", async () => {
    const onError = vi.fn();
    const db2 = await createDb({ appId: "a", secret: testSecret(), onError });
    const stop = db2.subscribe(todoApp.todos, () => {
      throw new Error("app bug");
    });
    await vi.waitFor(() => expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: "app bug" })));
    stop();
  });

  it("catches a rejected async auth listener", async () => {
    const db2 = await createDb({ appId: "a", jwtToken: fakeJwt("u") });
    const onError = vi.fn();
    db2.onError(onError);
    db2.onAuthChanged(async () => {
      throw new Error("listener failed");
    });
    db2.updateAuthToken(fakeJwt("u"));
    await vi.waitFor(() => expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: "listener failed" })));
  });

  it("registers config.onJWTExpired with the core, and onJWTExpired replaces it", async () => {
    const first = vi.fn(async () => fakeJwt("u", { n: 1 }));
    const db2 = await createDb({ appId: "a", jwtToken: fakeJwt("u"), onJWTExpired: first });
    const h = core.dbs.at(-1)!;
    await Promise.all([h.expire(), h.expire()]);
    expect(first).toHaveBeenCalledOnce();
    expect(db2.getAuthState().session!.claims.n).toBe(1);
    const second = vi.fn(async () => fakeJwt("u", { n: 2 }));
    db2.onJWTExpired(second);
    await h.expire();
    expect(second).toHaveBeenCalledOnce();
  });

  it("passes identity proof options", async () => {
    expect(await db.getLocalFirstIdentityProof({ audience: "aud", ttlSeconds: 30 })).toMatch(/\.aud\.30$/);
    expect(await db.getLocalFirstIdentityProof({ audience: "aud" })).toMatch(/\.aud\.60$/);
  });

  it("makes unsubscribe idempotent and a no-op after close", async () => {
    const stop = db.subscribe(todoApp.todos, () => {});
    stop();
    stop();
    expect(handle.calls.filter((c) => c.startsWith("unsubscribe"))).toHaveLength(1);
    const stop2 = db.subscribe(todoApp.todos, () => {});
    await db.close();
    expect(() => stop2()).not.toThrow();
  });
});
