// React adapter: a provider that owns the Db, and hooks over the shared
// stores through useSyncExternalStore. Rendering never subscribes; React
// subscribes at commit, and an equal query (same queryKey) keeps its store.
import { createContext, useContext, useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from "react";
import { createJazzClient, type ClientState, type JazzClient } from "../client.js";
import type { Db, DbConfig, JWTExpiredHook } from "../db.js";
import { stableStringify } from "../json.js";
import { DEFAULT_SECRET_NAMESPACE, getLocalFirstSecret, peekLocalFirstSecret } from "../local-first.js";
import type { AnyQuery } from "../query.js";
import type { Row } from "../schema.js";
import { authStore, authView, createQueryStore, syncStateStore, type AuthView } from "../subscription.js";
import type { Session, SyncState } from "../types.js";

const DbContext = createContext<Db | null>(null);

export interface JazzProviderProps {
  /** The Db config. A different config (compared as JSON) recreates the Db and closes the old one. */
  config: DbConfig;
  /** Called, single-flight, when the server reports the JWT expired; resolve to a fresh JWT. */
  onJWTExpired?: JWTExpiredHook;
  /** Rendered until the Db is ready (default: nothing). */
  fallback?: ReactNode;
  children?: ReactNode;
}

const LOADING: ClientState = { status: "loading", db: null, error: null };
const NO_CLIENT = { subscribe: () => () => undefined, getSnapshot: () => LOADING };

/** Creates the Db for config and renders children once it is ready. Creation errors throw to the nearest error boundary. */
export function JazzProvider({ config, onJWTExpired, fallback = null, children }: JazzProviderProps): ReactNode {
  const key = stableStringify(config);
  const [client, setClient] = useState<JazzClient | null>(null);
  const latest = useRef({ config, onJWTExpired });
  // Updated at commit (render stays pure), before the effects below read it.
  useLayoutEffect(() => void (latest.current = { config, onJWTExpired }));

  useEffect(() => {
    const c = createJazzClient(latest.current.config);
    setClient(c);
    return () => void c.close();
  }, [key]);

  const store = client ?? NO_CLIENT;
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const db = state.db;
  const hasHook = (onJWTExpired ?? config.onJWTExpired) !== undefined;

  // One hook per Db that reads the latest prop, so a new callback identity needs no re-registration.
  useEffect(() => {
    if (!db) return;
    const current = () => latest.current.onJWTExpired ?? latest.current.config.onJWTExpired;
    db.onJWTExpired(hasHook ? async () => current()?.() : null);
  }, [db, hasHook]);

  if (state.error) throw state.error;
  if (!db) return fallback;
  return <DbContext.Provider value={db}>{children}</DbContext.Provider>;
}

/** The Db of the nearest JazzProvider. */
export function useDb(): Db {
  const db = useContext(DbContext);
  if (!db) throw new Error("jazz-tools/react: useDb() and the other Jazz hooks need a <JazzProvider config={...}> above this component");
  return db;
}

/**
 * The rows of query, live; undefined while loading or when query is
 * undefined. A new query object equal to the last one (same queryKey) keeps
 * the same subscription. Query errors throw to the nearest error boundary.
 */
export function useAll<Q extends AnyQuery>(query: Q | undefined): Row<Q>[] | undefined {
  const db = useDb();
  const key = query?.queryKey;
  // Keyed on queryKey, not on the query object: an equal query keeps its store.
  const store = useMemo(() => createQueryStore(db, query), [db, key]);
  const snap = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  if (snap.error) throw snap.error;
  return snap.data;
}

function useAuthSnapshot() {
  const store = authStore(useDb());
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** The current session; the last known one is kept while auth has an error. */
export function useSession(): Session | null {
  return useAuthSnapshot().session;
}

/** `{ authMode, userId, claims, error, session }`, updated on every auth change. */
export function useAuthState(): AuthView {
  return authView(useAuthSnapshot());
}

/** `{ connection, pendingWrites, lastAckedAt, error }`, updated on every sync state change. */
export function useSyncState(): SyncState {
  const store = syncStateStore(useDb());
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/**
 * This device's local-first secret for appId (read, or created and stored on
 * first use). Works outside JazzProvider, so it can feed its config. Without
 * appId the "default" namespace is used; pass one per app on a shared origin.
 */
export function useLocalFirstAuth(appId: string = DEFAULT_SECRET_NAMESPACE): { secret: string | null; isLoading: boolean } {
  const [state, setState] = useState(() => ({ appId, secret: peekLocalFirstSecret(appId) }));
  useEffect(() => {
    setState((s) => (s.appId === appId && s.secret ? s : { appId, secret: getLocalFirstSecret(appId) }));
  }, [appId]);
  const secret = state.appId === appId ? state.secret : peekLocalFirstSecret(appId);
  return { secret, isLoading: secret === null };
}

export { createJazzClient };
export type { AuthView, JazzClient };
