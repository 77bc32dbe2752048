// Vue adapter: createJazzClient in <script setup>, <JazzProvider :client> to
// put it in context, and composables over the shared stores (refs updated
// by store listeners, released with onScopeDispose).
import {
  computed, defineComponent, inject, onScopeDispose, provide, shallowRef, toValue, watch,
  type ComputedRef, type InjectionKey, type MaybeRefOrGetter, type PropType, type ShallowRef, type SlotsType,
} from "vue";
import { createJazzClient, type JazzClient } from "../client.js";
import type { Db } from "../db.js";
import type { AnyQuery } from "../query.js";
import type { Row } from "../schema.js";
import { authStore, authView, createQueryStore, syncStateStore, type AuthView } from "../subscription.js";
import type { Session, SyncState } from "../types.js";

const ClientKey: InjectionKey<JazzClient> = Symbol("jazz-tools/vue");

/**
 * Puts client in context and renders the default slot (with `{ db }`) once
 * its Db is ready, the `fallback` slot until then. The provider owns the
 * client it was mounted with: unmounting it closes the Db, and a new client
 * needs a new provider (give it a `:key`).
 */
export const JazzProvider = defineComponent({
  name: "JazzProvider",
  props: { client: { type: Object as PropType<JazzClient>, required: true } },
  slots: Object as SlotsType<{ default?: { db: Db }; fallback?: Record<string, never> }>,
  setup(props, { slots }) {
    const client = props.client;
    provide(ClientKey, client);
    const state = shallowRef(client.getSnapshot());
    const stop = client.subscribe(() => (state.value = client.getSnapshot()));
    onScopeDispose(() => {
      stop();
      void client.close();
    });
    return () => {
      const s = state.value;
      if (s.error) throw s.error;
      return s.db ? slots.default?.({ db: s.db }) : slots.fallback?.({});
    };
  },
});

/** The Db of the nearest JazzProvider. */
export function useDb(): Db {
  const client = inject(ClientKey, null);
  if (!client) throw new Error("jazz-tools/vue: useDb() and the other Jazz composables need a <JazzProvider :client=\"client\"> above this component");
  const db = client.getSnapshot().db;
  if (!db) throw new Error("jazz-tools/vue: the Db is not ready; use Jazz composables in components rendered inside <JazzProvider>'s default slot");
  return db;
}

/**
 * The rows of query, live, as a ref: undefined while loading or when the
 * query is undefined. Accepts a ref or getter; it resubscribes only when the
 * query's queryKey changes. Query errors go to Vue's error handler.
 */
export function useAll<Q extends AnyQuery>(query: MaybeRefOrGetter<Q | undefined>): Readonly<ShallowRef<Row<Q>[] | undefined>> {
  const db = useDb();
  const data = shallowRef<Row<Q>[] | undefined>();
  let stop: (() => void) | undefined;
  watch(
    () => toValue(query)?.queryKey,
    () => {
      stop?.();
      const store = createQueryStore(db, toValue(query));
      const sync = () => {
        const s = store.getSnapshot();
        if (s.error) throw s.error;
        data.value = s.data;
      };
      stop = store.subscribe(sync);
      sync();
    },
    { immediate: true },
  );
  onScopeDispose(() => stop?.());
  return data;
}

/**
 * The session when the component was set up. A live Db never changes user
 * (a new user means a new client), so this is stable; use useAuthState() to
 * follow auth errors and claim refreshes reactively.
 */
export function useSession(): Session | null {
  return useDb().getAuthState().session;
}

type AuthRefs = { readonly [K in keyof AuthView]: ComputedRef<AuthView[K]> };

/** `{ authMode, userId, claims, error, session }` as refs (destructure freely). */
export function useAuthState(): AuthRefs {
  const store = authStore(useDb());
  const view = shallowRef(authView(store.getSnapshot()));
  onScopeDispose(store.subscribe(() => (view.value = authView(store.getSnapshot()))));
  return {
    authMode: computed(() => view.value.authMode),
    userId: computed(() => view.value.userId),
    claims: computed(() => view.value.claims),
    error: computed(() => view.value.error),
    session: computed(() => view.value.session),
  };
}

type SyncRefs = { readonly [K in keyof SyncState]: ComputedRef<SyncState[K]> };

/** `{ connection, pendingWrites, lastAckedAt, error }` as refs (destructure freely). */
export function useSyncState(): SyncRefs {
  const store = syncStateStore(useDb());
  const state = shallowRef(store.getSnapshot());
  onScopeDispose(store.subscribe(() => (state.value = store.getSnapshot())));
  return {
    connection: computed(() => state.value.connection),
    pendingWrites: computed(() => state.value.pendingWrites),
    lastAckedAt: computed(() => state.value.lastAckedAt),
    error: computed(() => state.value.error),
  };
}

export { createJazzClient };
export type { AuthView, JazzClient };
