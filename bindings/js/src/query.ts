// Queries: immutable, chainable descriptions of a read, compiled to
// core/query's JSON form.
import { and, compileWhere, type CompileContext, type ExprJSON } from "./expr.js";
import { stableStringify } from "./json.js";
import type { Columns, ColumnName, TableRef, WhereInput } from "./schema.js";

/** core/query's JSON form. */
export interface QueryJSON {
  table: string;
  where?: ExprJSON;
  orderBy?: { col: string; desc?: true }[];
  limit?: number;
  offset?: number;
}

interface QueryState {
  readonly where: readonly ExprJSON[];
  readonly orderBy: readonly { col: string; desc?: true }[];
  readonly limit?: number;
  readonly offset?: number;
}

const EMPTY: QueryState = { where: [], orderBy: [] };

function checkCount(what: string, n: number, min: number): number {
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${what}(${n}): expected an integer >= ${min}`);
  return n;
}

/**
 * A read of one table. Every method returns a new Query; the receiver is
 * never changed, so queries can be shared and used as React/Vue inputs.
 * Successive where() calls AND together; successive orderBy() calls add
 * sort keys.
 */
export class Query<C extends Columns = Columns, N extends string = string> {
  /** The table this query reads. */
  readonly table: TableRef<N, C>;
  readonly #state: QueryState;
  #key?: string;

  /** @internal Use `app.<table>` and its methods instead. */
  constructor(table: TableRef<N, C> | null, state: QueryState = EMPTY) {
    this.table = table ?? (this as unknown as TableRef<N, C>);
    this.#state = state;
  }

  #with(patch: Partial<QueryState>): Query<C, N> {
    return new Query(this.table, { ...this.#state, ...patch });
  }

  #context(): CompileContext {
    const t = this.table;
    return { site: `${t.name}.where()`, hasColumn: (c) => t.hasColumn(c), allowSession: false };
  }

  /**
   * Filters rows. Keys are columns (magic columns included); a value means
   * equality, null means "is null", and an operator object compares:
   * `{ rank: { gt: 3 } }`, `{ title: { in: ["a", "b"] } }`,
   * `{ title: { contains: "milk" } }`, `{ due: { isNull: true } }`.
   */
  where(filter: WhereInput<C>): Query<C, N> {
    return this.#with({ where: [...this.#state.where, compileWhere(filter, this.#context())] });
  }

  /** Adds a sort key (ascending unless "desc"). */
  orderBy(column: ColumnName<C>, direction: "asc" | "desc" = "asc"): Query<C, N> {
    if (!this.table.hasColumn(column)) throw new TypeError(`${this.table.name}.orderBy(): unknown column "${column}"`);
    const key = direction === "desc" ? { col: column, desc: true as const } : { col: column };
    return this.#with({ orderBy: [...this.#state.orderBy, key] });
  }

  /** At most n rows (n >= 1). */
  limit(n: number): Query<C, N> {
    return this.#with({ limit: checkCount("limit", n, 1) });
  }

  /** Skips the first n rows. */
  offset(n: number): Query<C, N> {
    return this.#with({ offset: checkCount("offset", n, 0) });
  }

  /** The query in core/query's JSON form. */
  toJSON(): QueryJSON {
    const s = this.#state;
    const json: QueryJSON = { table: this.table.name };
    if (s.where.length > 0) {
      const w = and([...s.where]);
      if (w !== true) json.where = w;
    }
    if (s.orderBy.length > 0) json.orderBy = s.orderBy.map((o) => ({ ...o }));
    if (s.limit !== undefined) json.limit = s.limit;
    if (s.offset) json.offset = s.offset;
    return json;
  }

  /** A string equal for equal queries: adapters use it to keep one subscription per distinct query. */
  get queryKey(): string {
    return (this.#key ??= stableStringify(this.toJSON()));
  }
}

/** Any query or table of any app. */
export type AnyQuery = Query<any, any>;
