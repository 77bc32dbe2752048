import { authStore, authView, syncStateStore, type AuthView } from "../subscription.js";
import type { SyncState } from "../types.js";
import { getDb } from "./context.js";

/** `{ authMode, userId, claims, error, session }`, reactive (read it in markup, $derived or $effect). */
export function getAuthState(): AuthView {
  const store = authStore(getDb());
  let view = $state.raw(authView(store.getSnapshot()));
  $effect(() => store.subscribe(() => (view = authView(store.getSnapshot()))));
  return {
    get authMode() { return view.authMode; },
    get userId() { return view.userId; },
    get claims() { return view.claims; },
    get error() { return view.error; },
    get session() { return view.session; },
  };
}

/** `{ connection, pendingWrites, lastAckedAt, error }`, reactive like getAuthState. */
export function getSyncState(): SyncState {
  const store = syncStateStore(getDb());
  let state = $state.raw(store.getSnapshot());
  $effect(() => store.subscribe(() => (state = store.getSnapshot())));
  return {
    get connection() { return state.connection; },
    get pendingWrites() { return state.pendingWrites; },
    get lastAckedAt() { return state.lastAckedAt; },
    get error() { return state.error; },
  };
}
