// The contract between the Go core compiled to WebAssembly (wasm/) and the
// TypeScript package. The Go side sets globalThis.__jazzCore to a JazzCore
// once the wasm module has started. Everything crosses the boundary as JSON
// strings: one string per call or per notification, never objects built
// field by field.
//
// Every Promise rejects with an Error whose `name` is one of CoreErrorName and
// whose `code` is a stable snake_case string; denials also carry `table` and
// `operation`, validation errors `table` and `column`.

import type { EarlyOpen } from "./early-open.js";

export type CoreErrorName =
  | "AnonymousWriteDeniedError"
  | "PermissionDeniedError"
  | "ValidationError"
  | "NotFoundError"
  | "ConflictError"
  | "ConfigError"
  | "AuthError"
  | "ClosedError"
  | "StorageError"
  | "SyncError"
  | "InternalError";

export interface CoreError extends Error {
  name: CoreErrorName;
  code: string;
  table?: string;
  operation?: "insert" | "update" | "delete" | "read";
  column?: string;
}

export interface JazzCore {
  readonly version: string;
  /**
   * configJSON: {appId, serverUrl?, secret?, jwtToken?, storage?: "indexeddb" | "memory"}
   * Rejects with ConfigError for a bad config (e.g. both secret and jwtToken).
   * early: the database the page began opening while the core loaded
   * (early-open.ts); taken if it is the one the config names, else left to the page.
   */
  createDb(configJSON: string, early?: EarlyOpen): Promise<DbHandle>;
  /** A new local-first secret: 32 random bytes, base64url without padding. */
  newSecret(): string;
}

export interface DbHandle {
  /** Registers tables (schema JSON: {"tables":[...]}, the bundle's schema part). Idempotent. Throws ValidationError on conflict. */
  useSchema(schemaJSON: string): void;
  /** queryJSON: {"table", "where"?, "orderBy"?, "limit"?, "offset"?}. Resolves to a JSON array of rows. */
  all(queryJSON: string): Promise<string>;
  /** Resolves to a JSON row or "null". */
  one(queryJSON: string): Promise<string>;
  /**
   * Applies locally at once, queues for the server; resolves to the row JSON. changeId (from
   * newIds), when given, names the write so waitBatch(changeId) can wait for the server's answer.
   */
  insert(table: string, valuesJSON: string, changeId?: string): Promise<string>;
  update(table: string, id: string, patchJSON: string, changeId?: string): Promise<string>;
  delete(table: string, id: string, changeId?: string): Promise<void>;
  /** Inserts row id, or updates it if it exists (decided again by the server). */
  upsert?(table: string, id: string, valuesJSON: string, changeId?: string): Promise<string>;
  /** Brings deleted row id back with valuesJSON (a full row; defaults fill the rest). */
  restore?(table: string, id: string, valuesJSON: string, changeId?: string): Promise<string>;
  /** True when a write resolves only once the server acknowledged it (jazz-tools/backend): wait({tier:"edge"}) is the write itself. */
  readonly acknowledgesWrites?: boolean;
  /** n (1 to 1001) fresh ids (UUIDv7) as a JSON array, synchronously: for a batch and the rows it inserts. */
  newIds?(n: number): string;
  /**
   * Writes opsJSON ([{kind, table, row, values?}]) as one batch: applied locally at once and
   * queued as one unit, applied by the server all or nothing. Resolves to the rows after it (JSON array, null for a delete).
   */
  batch?(batchId: string, opsJSON: string): Promise<string>;
  /** Resolves once the server acknowledged the batch (or single write named by its changeId); rejects with its typed rejection. */
  waitBatch?(batchId: string): Promise<void>;
  /** Like all, over the rows as they would be after opsJSON (a transaction's uncommitted writes). */
  allStaged?(queryJSON: string, opsJSON: string): Promise<string>;
  /** Resolves once the server's result for the query has arrived whole (the "edge" read tier). */
  loaded?(queryJSON: string): Promise<void>;
  /**
   * Live query. cb receives the JSON of a Delta (see delta.ts): first the
   * initial result (reset), then what each change did and where. Returns the
   * unsubscribe function.
   */
  subscribe(queryJSON: string, cb: (updateJSON: string) => void): () => void;
  /** Synchronous JSON {"authMode","session","error"?}. */
  getAuthState(): string;
  /** cb receives the AuthState JSON on every change; returns the stop function. */
  onAuthChanged(cb: (stateJSON: string) => void): () => void;
  /**
   * Synchronous JSON {"connection","pendingWrites","lastAckedAt" (Unix ms or null),
   * "error" ({"name":"SyncError","code","message"} or null)}. In a follower tab, the leader's.
   */
  getSyncState?(): string;
  /** cb receives the sync state JSON on every change; returns the stop function. */
  onSyncStateChanged?(cb: (stateJSON: string) => void): () => void;
  /** Same principal only; throws AuthError (code "principal_changed", "null_token", "not_external"). */
  updateAuthToken(jwt: string | null): void;
  /** Sets (or clears with null) the hook called, single-flight, when the server reports the JWT expired. */
  onJWTExpired(hook: (() => Promise<string | null | undefined>) | null): void;
  /** cb receives {"name","code","message",...} for failures with no caller: rejected background writes. Returns stop. */
  onError(cb: (errorJSON: string) => void): () => void;
  /** Local-first only: a short-lived signed proof of this user's identity, for signing up with an auth provider. */
  getLocalFirstIdentityProof(ttlSeconds: number, audience: string): Promise<string>;
  /** "indexeddb" or "memory" (IndexedDB unavailable, e.g. some private modes). */
  storageMode(): "indexeddb" | "memory";
  /** The IndexedDB database the data is in; "" in memory. */
  storageName(): string;
  close(): Promise<void>;
}
