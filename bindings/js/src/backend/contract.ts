// The contract between jazz-backend.wasm (backend/jsapi over the Go package
// backend, exposed by wasm/bridge/backend.go, compiled for Node) and
// jazz-tools/backend. Like
// core.d.ts: JSON strings across the boundary, Errors with `name` and `code`.
import type { JazzCore } from "../core.js";

/**
 * Who a call acts as:
 * - `{"kind":"backend"}`: backend permissions, writes authored "jazz:system";
 * - `{"kind":"attribution","userId"}`: backend permissions, writes authored userId;
 * - `{"kind":"session","session":{user_id,authMode,claims}}`: that user's permissions and authorship.
 */
export type ActorJSON = string;

export interface BackendHandle {
  /**
   * headersJSON: {"Header-Name": ["value", ...]}. Resolves to the session JSON; rejects with AuthError
   * (code expired|missing|invalid|disabled). forAttribution also refuses a request without credentials.
   */
  resolveRequest(headersJSON: string, forAttribution?: boolean): Promise<string>;
  /** Registers tables (schema JSON) for every actor's replica. Throws ValidationError on conflict. */
  useSchema(schemaJSON: string): void;
  all(actor: ActorJSON, queryJSON: string): Promise<string>;
  one(actor: ActorJSON, queryJSON: string): Promise<string>;
  /** Resolves once the server acknowledged the write (to the row JSON), or rejects with its typed error. */
  insert(actor: ActorJSON, table: string, valuesJSON: string): Promise<string>;
  update(actor: ActorJSON, table: string, id: string, patchJSON: string): Promise<string>;
  delete(actor: ActorJSON, table: string, id: string): Promise<void>;
  upsert(actor: ActorJSON, table: string, id: string, valuesJSON: string): Promise<string>;
  restore(actor: ActorJSON, table: string, id: string, valuesJSON: string): Promise<string>;
  /** Writes opsJSON as one batch named batchId; resolves once the server acknowledged it, to the rows after it. */
  batch(actor: ActorJSON, batchId: string, opsJSON: string): Promise<string>;
  /** Like all, over the rows as they would be after opsJSON (a transaction's writes, not committed). */
  allStaged(actor: ActorJSON, queryJSON: string, opsJSON: string): Promise<string>;
  /** Live query: cb receives {"added","updated","removed","rows"}; onError a failure to start it. Returns unsubscribe. */
  subscribe(actor: ActorJSON, queryJSON: string, cb: (updateJSON: string) => void, onError: (errorJSON: string) => void): () => void;
  /** Flushes unacknowledged writes (bounded) and closes every connection. */
  close(): Promise<void>;
}

/** The JazzCore of jazz-backend.wasm: the browser core plus createBackend and proof checks. */
export interface BackendCore extends JazzCore {
  /** Verifies a local-first identity proof; returns the user_id or throws AuthError. */
  verifyLocalFirstIdentityProof(proof: string, audience: string): string;
  /**
   * configJSON: {appId, serverUrl, backendSecret, adminSecret?, jwksUrl?, jwtPublicKey? (inline JWK or PEM),
   * jwtAudience? (string[]), jwtIssuer?, allowLocalFirstAuth?, production? (NODE_ENV=production),
   * maxConnections?, waitTimeoutMs?}. Rejects with ConfigError; configuration warnings go to console.warn.
   */
  createBackend(configJSON: string): Promise<BackendHandle>;
}
