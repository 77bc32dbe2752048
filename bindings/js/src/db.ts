// The typed Db: a thin facade over the core's DbHandle. It turns queries and
// rows into JSON and back, converts core errors to typed ones, and registers
// an app's schema the first time one of its tables is used.
import { IdPool, OpCollector, waitForTier, type BatchResult, type BatchWriter, type Transaction, type WaitTier } from "./batch.js";
import type { DbHandle } from "./core.js";
import { ClosedError, fromCoreError, JazzError, SyncError, ValidationError } from "./errors.js";
import { applyDelta, type Delta } from "./delta.js";
import { openEarly, rememberDb } from "./early-open.js";
import { loadCore } from "./loader.js";
import type { AnyQuery } from "./query.js";
import { writeJSON, type AnyTableRef, type AppSchema, type Insert, type Patch, type Row } from "./schema.js";
import { ensureWebSocket } from "./node-websocket.js";
import type { AuthState, SyncState } from "./types.js";

export interface DbConfig {
  appId: string;
  /** The sync server, e.g. "https://sync.example.com". Without it the Db is local only. */
  serverUrl?: string;
  /** Local-first auth: the device secret (see getLocalFirstSecret). */
  secret?: string | null;
  /** External auth: a JWT from your auth provider. */
  jwtToken?: string | null;
  /** "indexeddb" (default in browsers) or "memory". */
  storage?: "indexeddb" | "memory";
  /** Where jazz.wasm is served from (see configureWasm). */
  wasmUrl?: string | URL;
  /** Called, single-flight, when the server reports the JWT expired; resolve to a fresh JWT for the same user. */
  onJWTExpired?: JWTExpiredHook;
  /** Failures no caller is waiting for: rejected background writes, unawaited writes, throwing listeners. */
  onError?: (error: Error) => void;
}

export type JWTExpiredHook = () => Promise<string | null | undefined>;

/** What changed in a live query since the previous callback. */
/**
 * How current a read must be. "local" (the default) answers from this device at once,
 * and a subscription's first call may come before the server's rows have all arrived
 * (they follow as changes). "edge" waits until the sync server's result for the query
 * has arrived whole: a one-shot read resolves then, a subscription's first call comes
 * then (later changes arrive as usual). Without a server, both are "local".
 */
export type ReadTier = "local" | "edge";

export interface ReadOptions {
  tier?: ReadTier;
}

function tierOf(options: ReadOptions | undefined): ReadTier {
  const tier = options?.tier ?? "local";
  if (tier !== "local" && tier !== "edge") {
    throw new ValidationError(`jazz-tools: unknown read tier ${JSON.stringify(tier)} (use "local" or "edge")`, { code: "bad_argument" });
  }
  return tier;
}

export interface QueryChange<R> {
  added: R[];
  updated: R[];
  removed: string[];
}


/**
 * A write's promise. Awaiting it (or calling then/catch) handles its failure
 * as usual; if nobody does, the failure goes to the Db's onError listeners
 * instead of becoming an unhandled rejection, so fire-and-forget writes in
 * event handlers are safe.
 */
class WritePromise<T> extends Promise<T> {
  static override get [Symbol.species]() {
    return Promise;
  }
  observed = false;
  override then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.observed = true;
    return super.then(onfulfilled, onrejected);
  }
}

/**
 * What insert, update, delete, upsert and restore return: the write's
 * promise (await it for the row, as always), plus `wait` for a durability
 * tier and the `batchId` that names the write to the server.
 */
export interface WriteHandle<T> extends Promise<T> {
  /** Names the write; the server acknowledges or rejects it by this id. Empty on a core that cannot wait. */
  readonly batchId: string;
  /**
   * Resolves (to what awaiting the handle gives) once the write got as far as tier:
   * "local" (applied locally and on disk, the default) or "edge" (the server acknowledged it).
   * Rejects with the typed error (e.g. PermissionDeniedError) when the write was refused,
   * locally or by the server; by then it is rolled back (and onError heard of it too).
   */
  wait(options?: { tier?: WaitTier }): Promise<T>;
}

/** What the core takes: the DbConfig without the options that live in TypeScript. */
function coreConfig(c: DbConfig): string {
  const out: Record<string, string> = { appId: c.appId };
  if (c.serverUrl) out.serverUrl = c.serverUrl;
  if (c.secret) out.secret = c.secret;
  if (c.jwtToken) out.jwtToken = c.jwtToken;
  if (c.storage) out.storage = c.storage;
  return JSON.stringify(out);
}

/** What a core without sync state (an older or test core) reports. */
const LOCAL_SYNC_STATE = '{"connection":"offline","pendingWrites":0,"lastAckedAt":null,"error":null}';

export class Db {
  readonly #h: DbHandle;
  readonly #apps = new WeakSet<AppSchema>();
  readonly #errorListeners = new Set<(e: Error) => void>();
  #auth?: { json: string; state: AuthState };
  #sync?: { json: string; state: SyncState };
  #closing?: Promise<void>;
  #ids?: IdPool;

  /** @internal Use createDb. */
  constructor(handle: DbHandle, readonly config: DbConfig) {
    this.#h = handle;
    if (config.onError) this.#errorListeners.add(config.onError);
    handle.onError((json) => this.#report(fromCoreError(JSON.parse(json) as unknown)));
  }

  #report(e: Error): void {
    if (this.#errorListeners.size === 0) console.error("jazz-tools:", e);
    for (const l of this.#errorListeners) {
      try {
        l(e);
      } catch (err) {
        console.error("jazz-tools: onError listener threw", err);
      }
    }
  }

  /** Runs a core call, converting what it throws. */
  #call<T>(fn: (h: DbHandle) => T): T {
    if (this.#closing) throw new ClosedError("jazz-tools: this Db is closed", { code: "closed" });
    try {
      return fn(this.#h);
    } catch (e) {
      throw fromCoreError(e);
    }
  }

  async #async<T>(fn: (h: DbHandle) => Promise<T>): Promise<T> {
    try {
      return await this.#call(fn);
    } catch (e) {
      throw fromCoreError(e);
    }
  }

  #write<T>(fn: (h: DbHandle) => Promise<T>): WritePromise<T> {
    let settle!: [(v: T) => void, (e: unknown) => void];
    const p = new WritePromise<T>((res, rej) => (settle = [res, rej]));
    this.#async(fn).then(settle[0], (e: Error) => {
      settle[1](e);
      // Give `await` (which calls then a tick later) the chance to claim it first.
      setTimeout(() => p.observed || this.#report(e), 0);
    });
    Promise.prototype.then.call(p, undefined, () => undefined); // never an unhandled rejection
    return p;
  }

  /** The table's name, after registering its app's schema on first use. */
  #table(t: AnyTableRef): string {
    const app = t.app;
    if (!this.#apps.has(app)) {
      this.#call((h) => h.useSchema(JSON.stringify(app.$schema)));
      this.#apps.add(app);
    }
    return t.name;
  }

  #query(q: AnyQuery): string {
    this.#table(q.table);
    return JSON.stringify(q);
  }

  /** Guards a callback the core invokes: a throw from app code must not reach Go. */
  #guard<A extends unknown[]>(cb: (...args: A) => unknown): (...args: A) => void {
    return (...args) => {
      try {
        const r = cb(...args);
        if (r instanceof Promise) r.catch((e: unknown) => this.#report(e instanceof Error ? e : new JazzError(String(e))));
      } catch (e) {
        this.#report(e instanceof Error ? e : new JazzError(String(e)));
      }
    };
  }

  /** All rows matching query (a table or a query built from one). See ReadOptions for `tier`. */
  all<Q extends AnyQuery>(query: Q, options?: ReadOptions): Promise<Row<Q>[]> {
    return this.#async(async (h) => {
      const json = this.#query(query);
      await this.#reached(h, json, options);
      return (JSON.parse(await h.all(json)) as Row<Q>[]).map((r) => query.table.revive(r));
    });
  }

  /** The first row matching query, or null. See ReadOptions for `tier`. */
  one<Q extends AnyQuery>(query: Q, options?: ReadOptions): Promise<Row<Q> | null> {
    return this.#async(async (h) => {
      const json = this.#query(query);
      await this.#reached(h, json, options);
      return query.table.revive(JSON.parse(await h.one(json)) as Row<Q> | null);
    });
  }

  /** Waits for the read tier of options: at "edge", until the server's result for the query is all in. */
  async #reached(h: DbHandle, queryJSON: string, options: ReadOptions | undefined): Promise<void> {
    if (tierOf(options) === "local") return;
    if (!h.loaded) throw new JazzError("jazz-tools: this core has no read tiers", { code: "unsupported" });
    await h.loaded(queryJSON);
  }

  /**
   * A single write as a WriteHandle. Its change id is picked here, before
   * the core sees it, so `wait` can ask the core about it however early
   * it is called; the rule for tiers is the batches' (waitForTier).
   */
  #single<T>(fn: (h: DbHandle, changeId: string | undefined) => Promise<T>): WriteHandle<T> {
    let id: string | undefined;
    if (!this.#closing && this.#h.newIds) id = (this.#ids ??= new IdPool(this.#h)).next();
    const p = this.#write((h) => fn(h, id)) as WritePromise<T> & { batchId: string; wait: WriteHandle<T>["wait"] };
    p.batchId = id ?? "";
    p.wait = (options = {}) => {
      p.observed = true;
      if (id === undefined) {
        if (options.tier !== "edge" || this.#h.acknowledgesWrites) return waitForTier(this.#h, p as Promise<T>, "", options.tier === "edge" ? "local" : options.tier);
        return Promise.reject(new JazzError("jazz-tools: this core cannot wait for the server", { code: "unsupported" }));
      }
      return waitForTier(this.#h, p as Promise<T>, id ?? "", options.tier).catch((e: unknown) => {
        throw fromCoreError(e);
      });
    };
    return p;
  }

  /** The row as read from the core, with its JavaScript types (bytes as Uint8Array). */
  #row<T extends AnyTableRef>(table: T, json: string): Row<T> {
    return table.revive(JSON.parse(json) as Row<T>);
  }

  /** Inserts a row; applies locally at once and syncs in the background. Awaiting it gives the stored row. */
  insert<T extends AnyTableRef>(table: T, values: Insert<T>): WriteHandle<Row<T>> {
    return this.#single(async (h, c) => this.#row(table, await h.insert(this.#table(table), writeJSON(values), c)));
  }

  /** Changes some columns of row id. */
  update<T extends AnyTableRef>(table: T, id: string, patch: Patch<T>): WriteHandle<Row<T>> {
    return this.#single(async (h, c) => this.#row(table, await h.update(this.#table(table), id, writeJSON(patch), c)));
  }

  delete<T extends AnyTableRef>(table: T, id: string): WriteHandle<void> {
    return this.#single((h, c) => h.delete(this.#table(table), id, c));
  }

  /**
   * Writes row `options.id`: inserts it if it does not exist (defaults fill what values leave
   * out), else updates the columns values names. The server decides again against its own rows.
   */
  upsert<T extends AnyTableRef>(table: T, values: Insert<T>, options: { id: string }): WriteHandle<Row<T>> {
    return this.#single(async (h, c) => {
      if (!h.upsert) throw new JazzError("jazz-tools: this core has no upsert", { code: "unsupported" });
      return this.#row(table, await h.upsert(this.#table(table), options.id, writeJSON(values), c));
    });
  }

  /**
   * Brings deleted row id back with values, a full row as for an insert (defaults fill what it
   * leaves out). Inserting, updating or deleting a deleted row fails; restoring a live one too.
   */
  restore<T extends AnyTableRef>(table: T, id: string, values: Insert<T>): WriteHandle<Row<T>> {
    return this.#single(async (h, c) => {
      if (!h.restore) throw new JazzError("jazz-tools: this core has no restore", { code: "unsupported" });
      return this.#row(table, await h.restore(this.#table(table), id, writeJSON(values), c));
    });
  }

  /**
   * Writes several rows as one batch. `cb` runs synchronously and queues writes on `b`; if it
   * throws, nothing is written. Then every write applies locally at once (one update per
   * subscription), is queued durably as one unit, and goes to the server as one push that the
   * server applies all or nothing, checking each row's permissions. At most 1000 writes (and one
   * 1 MiB frame) per batch: write more as several batches.
   */
  batch(cb: (b: BatchWriter) => void): BatchResult {
    const w = this.#collector();
    try {
      const r: unknown = cb(w);
      if (r instanceof Promise) throw new ValidationError("jazz-tools: a batch callback is synchronous; use db.transaction to await inside", { code: "bad_argument" });
    } finally {
      w.close();
    }
    return this.#commit(w);
  }

  /**
   * Like batch, with an async callback that may also read: `tx.all`/`tx.one` see the
   * transaction's own writes, which nobody else sees until the callback returns and they
   * commit as one batch. If the callback throws (or rejects), nothing is written.
   */
  async transaction(cb: (tx: Transaction) => Promise<void> | void): Promise<BatchResult> {
    const w = this.#collector();
    const staged = async (q: AnyQuery) => {
      const ops = writeJSON(w.ops);
      return (JSON.parse(await this.#async((h) => h.allStaged!(this.#query(q), ops))) as unknown[]).map((r) => q.table.revive(r));
    };
    const tx: Transaction = {
      insert: (t, values) => w.insert(t, values),
      update: (t, id, patch) => w.update(t, id, patch),
      delete: (t, id) => w.delete(t, id),
      upsert: (t, values, options) => w.upsert(t, values, options),
      restore: (t, id, values) => w.restore(t, id, values),
      all: async <Q extends AnyQuery>(q: Q) => (await staged(q)) as Row<Q>[],
      one: async <Q extends AnyQuery>(q: Q) => ((await staged(q.limit(1) as Q))[0] ?? null) as Row<Q> | null,
    };
    try {
      await cb(tx);
    } finally {
      w.close();
    }
    return this.#commit(w);
  }

  #collector(): OpCollector {
    this.#call((h) => {
      if (!h.batch || !h.newIds) throw new JazzError("jazz-tools: this core has no batch support", { code: "unsupported" });
    });
    return new OpCollector((this.#ids ??= new IdPool(this.#h)), (t) => this.#table(t));
  }

  #commit(w: OpCollector): BatchResult {
    const batchId = w.newId();
    const ops = writeJSON(w.ops);
    const rows =
      w.ops.length === 0
        ? Promise.resolve([])
        : this.#write(async (h) =>
            (JSON.parse(await h.batch!(batchId, ops)) as (Record<string, unknown> | null)[]).map((r, i) => w.refs[i]!.revive(r)),
          );
    const wait = async (options: { tier?: WaitTier } = {}) => {
      try {
        await waitForTier(this.#h, rows, batchId, options.tier, w.ops.length > 0);
      } catch (e) {
        throw fromCoreError(e);
      }
    };
    return { batchId, rows, wait };
  }

  /**
   * Live query: cb gets the full result first, then after every change
   * (changes made within one task arrive as one call). Each call gets a new
   * array; rows that did not change are the same objects as in the last one.
   * Returns the unsubscribe function.
   */
  subscribe<Q extends AnyQuery>(query: Q, cb: (rows: Row<Q>[], change: QueryChange<Row<Q>>) => void, options?: ReadOptions): () => void {
    const json = this.#query(query);
    let result: Row<Q>[] = [];
    // At the "edge" tier the first call waits until the server's result is
    // all in; the deltas that arrive meanwhile are applied, not shown.
    let held = tierOf(options) !== "local";
    const guarded = this.#guard((d: Delta<Row<Q>>) => {
      for (const r of d.rows) query.table.revive(r);
      result = applyDelta(result, d, true); // the app only ever gets copies
      if (held) return;
      const pick = (is: number[]) => is.map((i) => d.rows[i]!);
      // A copy, so an app that sorts or edits the array it got cannot
      // change the result the next delta applies to.
      cb(result.slice(), { added: pick(d.added), updated: pick(d.updated), removed: d.removed });
    });
    const stop = this.#call((h) => h.subscribe(json, (s) => guarded(JSON.parse(s) as Delta<Row<Q>>)));
    let stopped = false;
    if (held) {
      const release = this.#guard(() => {
        if (stopped || !held) return;
        held = false;
        cb(result.slice(), { added: result.slice(), updated: [], removed: [] });
      });
      this.#async((h) => this.#reached(h, json, options)).then(release, (e: unknown) => {
        held = false; // the error is reported; show what there is
        this.#report(e instanceof Error ? e : new JazzError(String(e)));
        release();
      });
    }
    return () => {
      if (stopped || this.#closing) return;
      stopped = true;
      stop();
    };
  }

  #parseAuth(json: string): AuthState {
    if (this.#auth?.json !== json) this.#auth = { json, state: JSON.parse(json) as AuthState };
    return this.#auth.state;
  }

  /** The current auth state; the same object until it changes. */
  getAuthState(): AuthState {
    return this.#parseAuth(this.#call((h) => h.getAuthState()));
  }

  /** cb runs on every auth state change (it may be async). Returns the stop function. */
  onAuthChanged(cb: (state: AuthState) => void | Promise<void>): () => void {
    const guarded = this.#guard(cb);
    return this.#call((h) => h.onAuthChanged((json) => guarded(this.#parseAuth(json))));
  }

  #parseSync(json: string): SyncState {
    if (this.#sync?.json !== json) {
      const w = JSON.parse(json) as { connection: SyncState["connection"]; pendingWrites: number; lastAckedAt: number | null; error: unknown };
      let error: SyncError | null = null;
      if (w.error) {
        const e = fromCoreError(w.error);
        error = e instanceof SyncError ? e : new SyncError(e.message, { code: e instanceof JazzError ? e.code : "internal", cause: e });
      }
      const state: SyncState = { connection: w.connection, pendingWrites: w.pendingWrites, lastAckedAt: w.lastAckedAt === null ? null : new Date(w.lastAckedAt), error };
      this.#sync = { json, state: Object.freeze(state) };
    }
    return this.#sync.state;
  }

  /**
   * The current sync state: connection, writes waiting for the server, last
   * acknowledgement, and what is wrong. The same object until it changes.
   */
  getSyncState(): SyncState {
    return this.#parseSync(this.#call((h) => (h.getSyncState ? h.getSyncState() : LOCAL_SYNC_STATE)));
  }

  /** cb runs on every sync state change. Returns the stop function. */
  onSyncStateChanged(cb: (state: SyncState) => void): () => void {
    const guarded = this.#guard(cb);
    return this.#call((h) => (h.onSyncStateChanged ? h.onSyncStateChanged((json) => guarded(this.#parseSync(json))) : () => {}));
  }

  /** Replaces the JWT with a fresh one for the same user. To switch or sign out, recreate the Db. */
  updateAuthToken(jwt: string): void {
    this.#call((h) => h.updateAuthToken(jwt));
  }

  /** Sets (or clears) the hook called, single-flight, when the server reports the JWT expired. */
  onJWTExpired(hook: JWTExpiredHook | null): void {
    this.#call((h) => h.onJWTExpired(hook));
  }

  /** Listens for failures no caller is waiting for. Returns the stop function. */
  onError(cb: (error: Error) => void): () => void {
    this.#errorListeners.add(cb);
    return () => void this.#errorListeners.delete(cb);
  }

  /** Local-first only: a short-lived signed proof of this user's identity, for linking an auth provider. */
  getLocalFirstIdentityProof(options: { audience: string; ttlSeconds?: number }): Promise<string> {
    return this.#async((h) => h.getLocalFirstIdentityProof(options.ttlSeconds ?? 60, options.audience));
  }

  /** Where rows are kept: "indexeddb", or "memory" where IndexedDB is unavailable. */
  get storageMode(): "indexeddb" | "memory" {
    return this.#call((h) => h.storageMode());
  }

  /** Stops sync and subscriptions and releases the core's resources. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#h.close().catch((e: unknown) => {
      throw fromCoreError(e);
    });
    return this.#closing;
  }
}

/** Loads the core (once) and opens a Db. The auth mode follows the config: nothing, `secret` or `jwtToken`. */
export async function createDb(config: DbConfig): Promise<Db> {
  // Node 20 has no WebSocket: the sync client then uses the `ws` package.
  const ws = config.serverUrl && isNode() ? ensureWebSocket("jazz-tools") : undefined;
  const loading = loadCore(config.wasmUrl === undefined ? {} : { url: config.wasmUrl });
  // Opens IndexedDB while the wasm loads (after the fetch has started).
  const early = openEarly(config.appId, config.storage);
  let handle: DbHandle;
  try {
    await ws;
    handle = await (await loading).createDb(coreConfig(config), early);
  } catch (e) {
    throw fromCoreError(e);
  } finally {
    early?.discard(); // unless the core took it
  }
  // (A core older than this package has no storageName: nothing to remember.)
  rememberDb(config.appId, handle.storageName?.() ?? "", early?.name);
  const db = new Db(handle, config);
  if (config.onJWTExpired) db.onJWTExpired(config.onJWTExpired);
  return db;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}
