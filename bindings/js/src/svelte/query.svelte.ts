import { untrack } from "svelte";
import type { Db } from "../db.js";
import type { AnyQuery } from "../query.js";
import type { Row } from "../schema.js";
import { createQueryStore, type QuerySnapshot } from "../subscription.js";
import { getDb } from "./context.js";

/**
 * A live query for a component: `.current` holds the rows (undefined while
 * loading or when the query is undefined), `.loading` and `.error` the rest.
 * Pass a getter (`() => query`) to follow reactive inputs; it resubscribes
 * only when the queryKey changes. Construct it during component init.
 */
export class QuerySubscription<Q extends AnyQuery> {
  #snap: QuerySnapshot<Row<Q>> = $state.raw({ status: "idle", data: undefined, error: undefined });

  constructor(query: Q | undefined | (() => Q | undefined), db: Db = getDb()) {
    const read = typeof query === "function" ? query : () => query;
    this.#snap = createQueryStore(db, untrack(read)).getSnapshot(); // loading (or cached) before the effect runs
    const key = $derived(read()?.queryKey);
    $effect(() => {
      void key;
      const store = createQueryStore(db, untrack(read));
      const sync = () => (this.#snap = store.getSnapshot());
      const stop = store.subscribe(sync);
      sync();
      return stop;
    });
  }

  get current(): Row<Q>[] | undefined {
    return this.#snap.data;
  }

  get loading(): boolean {
    return this.#snap.status === "loading";
  }

  get error(): Error | undefined {
    return this.#snap.error;
  }
}
