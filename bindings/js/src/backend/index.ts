// jazz-tools/backend: server-side access to a jazz app, as a user or as the
// backend itself (seed page "Sessions"). The rules (session resolution,
// connections, consistency) live in the Go package backend, which runs here
// compiled to WebAssembly (jazz-backend.wasm); this module turns its handles
// into the same Db the browser uses. See docs/backend.md.
import type { DbHandle } from "../core.js";
import { Db } from "../db.js";
import { ClosedError, ConfigError, fromCoreError } from "../errors.js";
import type { WasmOptions } from "../loader.js";
import type { AnyApp } from "../schema.js";
import type { AuthState, Session } from "../types.js";
import type { BackendHandle } from "./contract.js";
import { configureBackendWasm, loadBackendCore } from "./load.js";

export type { ActorJSON, BackendCore, BackendHandle } from "./contract.js";
export { configureBackendWasm, loadBackendCore } from "./load.js";

export interface JazzContextConfig {
  /** The default app of db() and asBackend() (each method also takes one). */
  app?: AnyApp;
  appId: string;
  /** The sync server, e.g. "https://sync.example.com". */
  serverUrl: string;
  /** The server's --backend-secret: every context kind connects with it. */
  backendSecret: string;
  /** The server's --admin-secret: lets the context load the schema the server enforces. */
  adminSecret?: string;
  /** Verify external JWTs in forRequest against this JWKS (as the server's --jwks-url). Not with jwtPublicKey. */
  jwksUrl?: string;
  /** Verify external JWTs in forRequest against one key: JWK or PEM, inline or a file path. Not with jwksUrl. */
  jwtPublicKey?: string;
  /**
   * Accept external JWTs only if their aud names this audience, or one of these (as the server's
   * --jwt-audience). Without it, in production (NODE_ENV=production) the context warns: tokens the same
   * identity provider issued for other applications are accepted too. Needs jwksUrl or jwtPublicKey.
   */
  jwtAudience?: string | readonly string[];
  /** Accept external JWTs only if their iss is exactly this (as the server's --jwt-issuer). Needs jwksUrl or jwtPublicKey. */
  jwtIssuer?: string;
  /** Accept local-first tokens in forRequest (as the server's --allow-local-first-auth). */
  allowLocalFirstAuth?: boolean;
  /** How many per-actor connections stay cached (default 32); see docs/backend.md. */
  maxConnections?: number;
  /** How long a read or a write waits for the server (default 30 000 ms); a write that times out stays queued. */
  waitTimeoutMs?: number;
  /** Where jazz-backend.wasm and wasm_exec.js are (default: the package's wasm/ directory). */
  wasm?: WasmOptions;
  /** Failures no caller is waiting for (e.g. a live query that could not start). */
  onError?: (error: Error) => void;
}

/** A Fetch API Request (or anything with Headers), or a Node IncomingMessage. */
export type RequestLike =
  | { readonly headers: { get(name: string): string | null } }
  | { readonly headers: Readonly<Record<string, string | readonly string[] | undefined>> };

export interface JazzContext {
  /** Unscoped: backend permissions, writes authored "jazz:system" (same as asBackend). */
  db(app?: AnyApp): Db;
  /** Backend permissions (no policies), writes authored "jazz:system". */
  asBackend(app?: AnyApp): Db;
  /** Resolves the request's session (impersonation headers, external JWT, local-first JWT, none) and runs as it: its permissions and authorship. */
  forRequest(req: RequestLike, app?: AnyApp): Promise<Db>;
  /** Runs as session: its permissions and authorship. */
  forSession(session: Session, app?: AnyApp): Db;
  /** Backend permissions, writes authored userId. */
  withAttribution(userId: string, app?: AnyApp): Db;
  /** Backend permissions, writes authored session.user_id. */
  withAttributionForSession(session: Session, app?: AnyApp): Db;
  /** Backend permissions, writes authored by the request's user (a request without credentials is refused). */
  withAttributionForRequest(req: RequestLike, app?: AnyApp): Promise<Db>;
  /** The session forRequest would act as; rejects with AuthError (code expired|missing|invalid|disabled). */
  sessionForRequest(req: RequestLike): Promise<Session>;
  /** Loads the core and checks the configuration (every other method does so lazily). */
  ready(): Promise<void>;
  /** Flushes unacknowledged writes and closes every connection. Idempotent. */
  close(): Promise<void>;
}

const AUTH_HEADERS = ["Authorization", "X-Jazz-Backend-Secret", "X-Jazz-Session"] as const;

/** The credential headers of req, as the core's headersJSON. */
function headersJSON(req: RequestLike): string {
  if (req === null || typeof req !== "object" || typeof req.headers !== "object" || req.headers === null) {
    throw new ConfigError("jazz-tools/backend: forRequest takes a Fetch Request or a Node IncomingMessage (something with headers)", { code: "invalid_config" });
  }
  const out: Record<string, string[]> = {};
  const h = req.headers as { get?: unknown };
  if (typeof h.get === "function") {
    const get = h.get as (name: string) => string | null;
    for (const name of AUTH_HEADERS) {
      const v = get.call(req.headers, name);
      if (v !== null && v !== undefined) out[name] = [v];
    }
  } else {
    // Node lower-cases header names; be lenient with hand-made objects.
    const plain = req.headers as Readonly<Record<string, string | readonly string[] | undefined>>;
    for (const name of AUTH_HEADERS) {
      const key = Object.keys(plain).find((k) => k.toLowerCase() === name.toLowerCase());
      const v = key === undefined ? undefined : plain[key];
      if (typeof v === "string") out[name] = [v];
      else if (Array.isArray(v)) out[name] = v.filter((x): x is string => typeof x === "string");
    }
  }
  return JSON.stringify(out);
}

/** The jwtPublicKey as text: inline JWK or PEM, else read from the file it names. */
async function keyText(v: string): Promise<string> {
  const t = v.trim();
  if (t.startsWith("{") || t.startsWith("-----BEGIN")) return t;
  const fsName = "node:fs/promises";
  const fs = (await import(/* @vite-ignore */ fsName)) as { readFile(p: string, enc: "utf8"): Promise<string> };
  try {
    return await fs.readFile(v, "utf8");
  } catch (e) {
    throw new ConfigError(`jazz-tools/backend: jwtPublicKey is neither an inline JWK or PEM key nor a readable file (${String(e)})`, { code: "invalid_config", cause: e });
  }
}

/** NODE_ENV, read without assuming Node's typings or a process object. */
function nodeEnv(): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.NODE_ENV;
}

/** The context every handle of one createJazzContext shares. */
class Shared {
  readonly #config: JazzContextConfig;
  #handle?: Promise<BackendHandle>;
  readonly #schemas = new Set<string>();
  #closing?: Promise<void>;

  constructor(config: JazzContextConfig) {
    this.#config = config;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  handle(): Promise<BackendHandle> {
    if (this.#closing) return Promise.reject(new ClosedError("jazz-tools/backend: this context is closed", { code: "closed" }));
    this.#handle ??= this.#open();
    return this.#handle;
  }

  async #open(): Promise<BackendHandle> {
    const c = this.#config;
    const core = await loadBackendCore(c.wasm ?? {});
    const cfg: Record<string, unknown> = { appId: c.appId, serverUrl: c.serverUrl, backendSecret: c.backendSecret };
    if (c.adminSecret) cfg.adminSecret = c.adminSecret;
    if (c.jwksUrl) cfg.jwksUrl = c.jwksUrl;
    if (c.jwtPublicKey) cfg.jwtPublicKey = await keyText(c.jwtPublicKey);
    if (c.jwtAudience !== undefined) cfg.jwtAudience = typeof c.jwtAudience === "string" ? [c.jwtAudience] : [...c.jwtAudience];
    if (c.jwtIssuer) cfg.jwtIssuer = c.jwtIssuer;
    if (nodeEnv() === "production") cfg.production = true;
    if (c.allowLocalFirstAuth) cfg.allowLocalFirstAuth = true;
    if (c.maxConnections) cfg.maxConnections = c.maxConnections;
    if (c.waitTimeoutMs) cfg.waitTimeoutMs = c.waitTimeoutMs;
    try {
      return await core.createBackend(JSON.stringify(cfg));
    } catch (e) {
      throw fromCoreError(e);
    }
  }

  /** Registers a schema once per context (every Db of every request would otherwise repeat it). */
  useSchema(json: string): void {
    if (this.#schemas.has(json)) return;
    this.#schemas.add(json);
    this.handle().then(
      (h) => {
        try {
          h.useSchema(json);
        } catch (e) {
          this.#schemas.delete(json);
          this.report(fromCoreError(e));
        }
      },
      () => this.#schemas.delete(json), // the operations waiting on the core report why
    );
  }

  report(e: Error): void {
    if (this.#config.onError) this.#config.onError(e);
    else console.error("jazz-tools/backend:", e);
  }

  close(): Promise<void> {
    const h = this.#handle;
    this.#closing ??= h ? h.then((b) => b.close(), () => undefined).catch((e: unknown) => { throw fromCoreError(e); }) : Promise.resolve();
    return this.#closing;
  }
}

const rejectWith = (e: unknown) => Promise.reject(fromCoreError(e));

/**
 * The DbHandle of one actor: every call goes to the context's core with the
 * actor named, so a Db per request costs no core resources to leak.
 */
class ActorHandle implements DbHandle {
  readonly #shared: Shared;
  readonly #actor: string;
  readonly #auth: string;
  readonly #errors = new Set<(json: string) => void>();
  readonly #stops = new Set<() => void>();
  #closed = false;

  constructor(shared: Shared, actor: object, auth: AuthState) {
    this.#shared = shared;
    this.#actor = JSON.stringify(actor);
    this.#auth = JSON.stringify(auth);
  }

  #core<T>(fn: (h: BackendHandle, actor: string) => Promise<T>): Promise<T> {
    if (this.#closed) return rejectWith(new ClosedError("jazz-tools/backend: this Db is closed", { code: "closed" }));
    return this.#shared.handle().then((h) => fn(h, this.#actor));
  }

  useSchema(schemaJSON: string): void {
    this.#shared.useSchema(schemaJSON);
  }
  all(queryJSON: string): Promise<string> {
    return this.#core((h, a) => h.all(a, queryJSON));
  }
  one(queryJSON: string): Promise<string> {
    return this.#core((h, a) => h.one(a, queryJSON));
  }
  insert(table: string, valuesJSON: string): Promise<string> {
    return this.#core((h, a) => h.insert(a, table, valuesJSON));
  }
  update(table: string, id: string, patchJSON: string): Promise<string> {
    return this.#core((h, a) => h.update(a, table, id, patchJSON));
  }
  delete(table: string, id: string): Promise<void> {
    return this.#core((h, a) => h.delete(a, table, id));
  }
  upsert(table: string, id: string, valuesJSON: string): Promise<string> {
    return this.#core((h, a) => h.upsert(a, table, id, valuesJSON));
  }
  restore(table: string, id: string, valuesJSON: string): Promise<string> {
    return this.#core((h, a) => h.restore(a, table, id, valuesJSON));
  }
  /** A backend write settles only once the server answered it: every write is at the edge when it resolves. */
  readonly acknowledgesWrites = true;
  batch(batchId: string, opsJSON: string): Promise<string> {
    return this.#core((h, a) => h.batch(a, batchId, opsJSON));
  }
  /** A batch resolves once the server acknowledged it, so there is nothing left to wait for. */
  waitBatch(): Promise<void> {
    return Promise.resolve();
  }
  allStaged(queryJSON: string, opsJSON: string): Promise<string> {
    return this.#core((h, a) => h.allStaged(a, queryJSON, opsJSON));
  }
  newIds(n: number): string {
    return JSON.stringify(Array.from({ length: n }, uuidv7));
  }
  subscribe(queryJSON: string, cb: (updateJSON: string) => void): () => void {
    if (this.#closed) throw new ClosedError("jazz-tools/backend: this Db is closed", { code: "closed" });
    let stop: (() => void) | undefined;
    let stopped = false;
    const onError = (json: string) => this.#emit(json);
    const unsubscribe = () => {
      if (stopped) return;
      stopped = true;
      this.#stops.delete(unsubscribe);
      stop?.();
    };
    this.#stops.add(unsubscribe);
    this.#shared.handle().then(
      (h) => {
        if (!stopped) stop = h.subscribe(this.#actor, queryJSON, cb, onError);
      },
      (e: unknown) => {
        const err = fromCoreError(e);
        onError(JSON.stringify({ name: err.name, code: (err as { code?: string }).code ?? "internal", message: err.message }));
      },
    );
    return unsubscribe;
  }
  #emit(json: string): void {
    if (this.#errors.size === 0) this.#shared.report(fromCoreError(JSON.parse(json) as unknown));
    for (const l of this.#errors) l(json);
  }
  getAuthState(): string {
    return this.#auth;
  }
  onAuthChanged(): () => void {
    return () => undefined; // a backend handle's auth never changes
  }
  /** Ignored: backend handles do not own bearer auth (seed page "Authentication"). */
  updateAuthToken(): void {}
  onJWTExpired(): void {}
  onError(cb: (errorJSON: string) => void): () => void {
    this.#errors.add(cb);
    return () => void this.#errors.delete(cb);
  }
  getLocalFirstIdentityProof(): Promise<string> {
    return rejectWith(new ConfigError("jazz-tools/backend: identity proofs are made by local-first clients; verify them with verifyLocalFirstIdentityProof", { code: "invalid_config" }));
  }
  storageMode(): "memory" {
    return "memory";
  }
  storageName(): string {
    return "";
  }
  close(): Promise<void> {
    this.#closed = true;
    for (const stop of [...this.#stops]) stop();
    return Promise.resolve();
  }
}

/**
 * A fresh UUIDv7 (RFC 9562: 48 bits of Unix milliseconds, version 7, the
 * 10 variant, random bits), the form core/id makes. A batch names its rows
 * synchronously, before the backend's core may have loaded, so the ids are
 * made here.
 */
function uuidv7(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  let ms = Date.now();
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A session as the core expects it (claims defaulting to {}). */
function sessionOf(s: Session): Session {
  if (s === null || typeof s !== "object" || typeof s.user_id !== "string" || s.user_id === "") {
    throw new ConfigError("jazz-tools/backend: a session needs a user_id", { code: "invalid_config" });
  }
  return { user_id: s.user_id, authMode: s.authMode, claims: s.claims ?? {} };
}

/**
 * Creates a backend context. Synchronous: the core loads, and the
 * configuration is checked there, on first use (or `await context.ready()`).
 * jwksUrl together with jwtPublicKey throws a ConfigError at once.
 */
export function createJazzContext(config: JazzContextConfig): JazzContext {
  if (config.jwksUrl && config.jwtPublicKey) {
    throw new ConfigError("jazz-tools/backend: jwksUrl and jwtPublicKey are alternatives: configure one of them, not both", { code: "invalid_config" });
  }
  if (config.wasm) configureBackendWasm(config.wasm);
  const shared = new Shared(config);
  const dbConfig = { appId: config.appId, serverUrl: config.serverUrl, ...(config.onError ? { onError: config.onError } : {}) };
  const make = (actor: object, auth: AuthState, app: AnyApp | undefined): Db => {
    const a = app ?? config.app;
    if (a) shared.useSchema(JSON.stringify(a.$schema));
    return new Db(new ActorHandle(shared, actor, auth), dbConfig);
  };
  const backendAuth: AuthState = { authMode: "external", session: null };
  const attribution = (userId: string, app?: AnyApp): Db => {
    if (typeof userId !== "string" || userId === "") {
      throw new ConfigError("jazz-tools/backend: withAttribution needs a user id (asBackend writes as jazz:system)", { code: "invalid_config" });
    }
    return make({ kind: "attribution", userId }, backendAuth, app);
  };
  const resolve = async (req: RequestLike, forAttribution: boolean): Promise<Session> => {
    const json = headersJSON(req);
    const h = await shared.handle();
    try {
      return JSON.parse(await h.resolveRequest(json, forAttribution)) as Session;
    } catch (e) {
      throw fromCoreError(e);
    }
  };
  const forSession = (session: Session, app?: AnyApp): Db => {
    const s = sessionOf(session);
    return make({ kind: "session", session: s }, { authMode: s.authMode, session: s }, app);
  };
  return {
    db: (app) => make({ kind: "backend" }, backendAuth, app),
    asBackend: (app) => make({ kind: "backend" }, backendAuth, app),
    forSession,
    forRequest: async (req, app) => forSession(await resolve(req, false), app),
    withAttribution: attribution,
    withAttributionForSession: (session, app) => attribution(sessionOf(session).user_id, app),
    withAttributionForRequest: async (req, app) => attribution((await resolve(req, true)).user_id, app),
    sessionForRequest: (req) => resolve(req, false),
    ready: async () => void (await shared.handle()),
    close: () => shared.close(),
  };
}

/**
 * Verifies a proof from a local-first client's getLocalFirstIdentityProof
 * for audience and returns the user id it proves (AuthError otherwise).
 * An auth provider can then issue JWTs with that sub: the user signs up and
 * keeps their identity.
 */
export async function verifyLocalFirstIdentityProof(proof: string, audience: string): Promise<string> {
  const core = await loadBackendCore();
  try {
    return core.verifyLocalFirstIdentityProof(proof, audience);
  } catch (e) {
    throw fromCoreError(e);
  }
}


