// A JazzClient owns one Db being created asynchronously, as a tiny store
// (subscribe/getSnapshot) that every framework provider renders from.
import { createDb, type Db, type DbConfig } from "./db.js";

export type ClientState =
  | { readonly status: "loading"; readonly db: null; readonly error: null }
  | { readonly status: "ready"; readonly db: Db; readonly error: null }
  | { readonly status: "error"; readonly db: null; readonly error: Error }
  | { readonly status: "closed"; readonly db: null; readonly error: null };

export interface JazzClient {
  readonly config: DbConfig;
  /** The current state; the same object until it changes. */
  getSnapshot(): ClientState;
  /** listener runs after every state change. Returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
  /** Resolves with the Db once created (rejects with the creation error). */
  readonly ready: Promise<Db>;
  /** Closes the Db (now, or as soon as it exists). Idempotent. */
  close(): Promise<void>;
}

const LOADING: ClientState = { status: "loading", db: null, error: null };
const CLOSED: ClientState = { status: "closed", db: null, error: null };

/** Starts creating a Db for config; providers render children once it is ready. */
export function createJazzClient(config: DbConfig): JazzClient {
  let state: ClientState = LOADING;
  let closing: Promise<void> | undefined;
  const listeners = new Set<() => void>();
  const set = (s: ClientState) => {
    state = s;
    for (const l of [...listeners]) l();
  };
  const ready = createDb(config).then(
    (db) => {
      if (closing) {
        void db.close();
        throw new Error("jazz-tools: the client was closed before its Db was ready");
      }
      set({ status: "ready", db, error: null });
      return db;
    },
    (e: unknown) => {
      const error = e instanceof Error ? e : new Error(String(e));
      if (!closing) set({ status: "error", db: null, error });
      throw error;
    },
  );
  ready.catch(() => undefined); // the error is in the state; ready is for those who await it
  return {
    config,
    ready,
    getSnapshot: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    close() {
      if (!closing) {
        const db = state.db;
        set(CLOSED);
        closing = db ? db.close() : Promise.resolve();
      }
      return closing;
    },
  };
}
