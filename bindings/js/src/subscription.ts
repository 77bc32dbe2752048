// The one subscription store every adapter renders from, TanStack-style:
// subscribe(listener) -> unsubscribe, and getSnapshot() that returns the same
// object until something changes. Live queries are shared per Db and
// queryKey, opened by the first subscriber (never during render) and closed
// a tick after the last one leaves, so a remount reuses them.
import type { Db } from "./db.js";
import type { AnyQuery } from "./query.js";
import type { Row } from "./schema.js";
import type { AuthMode, AuthState, Session, SyncState } from "./types.js";

export interface Store<T> {
  subscribe(listener: () => void): () => void;
  getSnapshot(): T;
}

export interface QuerySnapshot<R> {
  /** idle: no query (undefined was passed); loading: waiting for the first result. */
  readonly status: "idle" | "loading" | "ready" | "error";
  readonly data: R[] | undefined;
  readonly error: Error | undefined;
}

const IDLE: QuerySnapshot<never> = Object.freeze({ status: "idle", data: undefined, error: undefined });
const LOADING: QuerySnapshot<never> = Object.freeze({ status: "loading", data: undefined, error: undefined });

interface Live {
  snapshot: QuerySnapshot<any>;
  readonly listeners: Set<() => void>;
  stop?: () => void;
  teardown?: ReturnType<typeof setTimeout>;
}

const registry = new WeakMap<Db, Map<string, Live>>();

function open(db: Db, query: AnyQuery, key: string, lives: Map<string, Live>): Live {
  const live: Live = { snapshot: LOADING, listeners: new Set() };
  lives.set(key, live);
  const set = (s: QuerySnapshot<any>) => {
    live.snapshot = s;
    for (const l of [...live.listeners]) l();
  };
  try {
    // Rows that did not change are the objects of the last result already
    // (see Db.subscribe), so memoized children skip them.
    live.stop = db.subscribe(query, (rows) => set({ status: "ready", data: rows, error: undefined }));
  } catch (e) {
    live.snapshot = { status: "error", data: undefined, error: e instanceof Error ? e : new Error(String(e)) };
  }
  return live;
}

/**
 * A store for one query on one Db. Pass undefined (or no Db) for an idle
 * store. Creating it has no effect; subscribing opens (or joins) the live query.
 */
export function createQueryStore<Q extends AnyQuery>(db: Db | null | undefined, query: Q | undefined): Store<QuerySnapshot<Row<Q>>> {
  if (!db || !query) return { subscribe: () => () => undefined, getSnapshot: () => IDLE };
  const key = query.queryKey;
  const lives = () => {
    let m = registry.get(db);
    if (!m) registry.set(db, (m = new Map()));
    return m;
  };
  return {
    getSnapshot: () => registry.get(db)?.get(key)?.snapshot ?? LOADING,
    subscribe(listener) {
      const m = lives();
      const live = m.get(key) ?? open(db, query, key, m);
      clearTimeout(live.teardown);
      live.listeners.add(listener);
      return () => {
        live.listeners.delete(listener);
        if (live.listeners.size > 0) return;
        live.teardown = setTimeout(() => {
          if (live.listeners.size > 0 || m.get(key) !== live) return;
          m.delete(key);
          live.stop?.();
        }, 0);
      };
    },
  };
}

/** The key adapters compare to decide whether a new query object is a new query. */
export function queryKeyOf(query: AnyQuery | null | undefined): string {
  return query ? query.queryKey : "";
}

const authStores = new WeakMap<Db, Store<AuthState>>();

/** A store of db's auth state (stable functions, so React does not resubscribe). */
export function authStore(db: Db): Store<AuthState> {
  let s = authStores.get(db);
  if (!s) {
    s = { subscribe: (l) => db.onAuthChanged(() => l()), getSnapshot: () => db.getAuthState() };
    authStores.set(db, s);
  }
  return s;
}

const syncStores = new WeakMap<Db, Store<SyncState>>();

/** A store of db's sync state (stable functions, so React does not resubscribe). */
export function syncStateStore(db: Db): Store<SyncState> {
  let s = syncStores.get(db);
  if (!s) {
    s = { subscribe: (l) => db.onSyncStateChanged(() => l()), getSnapshot: () => db.getSyncState() };
    syncStores.set(db, s);
  }
  return s;
}

/** The flat view of auth state the useAuthState/getAuthState helpers return. */
export interface AuthView {
  readonly authMode: AuthMode;
  readonly userId: string | null;
  readonly claims: Record<string, unknown>;
  readonly error: AuthState["error"];
  readonly session: Session | null;
}

const views = new WeakMap<AuthState, AuthView>();

/** The AuthView of state; the same object for the same state. */
export function authView(state: AuthState): AuthView {
  let v = views.get(state);
  if (!v) {
    v = Object.freeze({
      authMode: state.authMode,
      userId: state.session?.user_id ?? null,
      claims: state.session?.claims ?? {},
      error: state.error,
      session: state.session,
    });
    views.set(state, v);
  }
  return v;
}
