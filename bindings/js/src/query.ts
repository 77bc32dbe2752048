// Queries: immutable, chainable descriptions of a read, compiled to
// core/query's JSON form.
import { and, compileWhere, type CompileContext, type ExprJSON } from "./expr.js";
import { stableStringify } from "./json.js";
import type { Columns, ColumnName, MagicColumns, PermissionColumns, Relations, Rel, RowOf, TableRef, Tables, WhereInput } from "./schema.js";

/** core/query's JSON form. */
export interface QueryJSON {
  table: string;
  where?: ExprJSON;
  orderBy?: { col: string; desc?: true }[];
  limit?: number;
  offset?: number;
  select?: string[];
  include?: Record<string, QueryJSON>;
  requireIncludes?: true;
}

interface QueryState {
  readonly where: readonly ExprJSON[];
  readonly orderBy: readonly { col: string; desc?: true }[];
  readonly limit?: number;
  readonly offset?: number;
  readonly select?: readonly string[];
  readonly include?: Readonly<Record<string, QueryJSON>>;
  readonly requireIncludes?: true;
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** What select() takes: a column, "*" (every declared column) or a permission column. */
export type Selectable<C extends Columns> = ColumnName<C> | "*" | keyof PermissionColumns;

/** The row select(...K) gives: id plus the columns K names. */
export type Selected<C extends Columns, K extends string> = Simplify<
  { id: string } & Pick<RowOf<C>, Extract<K, keyof RowOf<C>>> &
    ("*" extends K ? Omit<RowOf<C>, Exclude<keyof MagicColumns, "id">> : {}) &
    Pick<PermissionColumns, Extract<K, keyof PermissionColumns>>
>;

/** The tables of an app T, by name, as include() reads them. */
type TableColumns<T extends Tables, N> = N extends keyof T ? T[N]["columns"] : never;

/** What include() takes: per relation, true or a query of the related table. */
export type IncludeInput<T extends Tables, N extends string> = {
  [R in keyof Relations<T, N>]?: true | Query<TableColumns<T, Relations<T, N>[R] extends Rel<infer To, any, any> ? To : never>, any, any, any, T>;
};

/** The fields include(spec) adds to a row. */
export type Included<T extends Tables, N extends string, Spec> = {
  [R in keyof Spec & keyof Relations<T, N>]: Relations<T, N>[R] extends Rel<infer To, infer Many, infer Nullable>
    ? IncludedRow<Spec[R], TableColumns<T, To>> extends infer X
      ? Many extends true ? X[] : Nullable extends true ? X | null : X
      : never
    : never;
};
type IncludedRow<V, C extends Columns> = V extends Query<any, any, infer S, infer I, any> ? Simplify<S & I> : RowOf<C>;

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
export class Query<C extends Columns = Columns, N extends string = string, S = RowOf<C>, I = {}, T extends Tables = any> {
  /** The table this query reads. */
  readonly table: TableRef<N, C, T>;
  readonly #state: QueryState;
  #key?: string;
  declare readonly _row: S & I;

  /** @internal Use `app.<table>` and its methods instead. */
  constructor(table: TableRef<N, C, T> | null, state: QueryState = EMPTY) {
    this.table = table ?? (this as unknown as TableRef<N, C, T>);
    this.#state = state;
  }

  #with(patch: Partial<QueryState>): Query<C, N, S, I, T> {
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
  where(filter: WhereInput<C>): Query<C, N, S, I, T> {
    return this.#with({ where: [...this.#state.where, compileWhere(filter, this.#context())] });
  }

  /** Adds a sort key (ascending unless "desc"). */
  orderBy(column: ColumnName<C>, direction: "asc" | "desc" = "asc"): Query<C, N, S, I, T> {
    if (!this.table.hasColumn(column)) throw new TypeError(`${this.table.name}.orderBy(): unknown column "${column}"`);
    const key = direction === "desc" ? { col: column, desc: true as const } : { col: column };
    return this.#with({ orderBy: [...this.#state.orderBy, key] });
  }

  /** At most n rows (n >= 1). */
  limit(n: number): Query<C, N, S, I, T> {
    return this.#with({ limit: checkCount("limit", n, 1) });
  }

  /** Skips the first n rows. */
  offset(n: number): Query<C, N, S, I, T> {
    return this.#with({ offset: checkCount("offset", n, 0) });
  }

  /**
   * Narrows each row to id and these columns (its includes stay). "*" is
   * every declared column; $canRead, $canEdit and $canDelete say what the
   * session may do with the row (null without a session).
   */
  select<K extends Selectable<C>>(...columns: K[]): Query<C, N, Selected<C, K>, I, T> {
    for (const c of columns) {
      if (c !== "*" && c !== "$canRead" && c !== "$canEdit" && c !== "$canDelete" && !this.table.hasColumn(c)) {
        throw new TypeError(`${this.table.name}.select(): unknown column "${c}"`);
      }
    }
    return new Query(this.table, { ...this.#state, select: [...columns] }) as unknown as Query<C, N, Selected<C, K>, I, T>;
  }

  /**
   * Resolves relations into each row: `include({ project: true })` adds
   * `project` (the row, or null for a null reference) next to `projectId`;
   * a reverse relation (`todosViaProject`) adds the list of rows naming
   * this one, and takes a query of that table to filter, order, window or
   * shape it (`app.todos.where({ done: false }).limit(5)`). Nest includes
   * by passing a query with its own include(). Inner join: a row whose
   * included reference cannot be resolved (not synced, deleted, or not
   * readable) is left out of the result.
   */
  include<Spec extends IncludeInput<T, N>>(spec: Spec): Query<C, N, S, Simplify<I & Included<T, N, Spec>>, T> {
    const include: Record<string, QueryJSON> = { ...this.#state.include };
    for (const [name, v] of Object.entries(spec as Record<string, unknown>)) {
      const rel = Object.hasOwn(this.table.relations, name) ? this.table.relations[name] : undefined;
      if (!rel) throw new TypeError(`${this.table.name}.include(): no relation "${name}"`);
      if (v === true) {
        include[name] = { table: rel.table.name };
      } else if (v instanceof Query && v.table.name === rel.table.name) {
        include[name] = v.toJSON();
      } else {
        throw new TypeError(`${this.table.name}.include(): "${name}" takes true or a query of ${rel.table.name}`);
      }
    }
    return new Query(this.table, { ...this.#state, include }) as unknown as Query<C, N, S, Simplify<I & Included<T, N, Spec>>, T>;
  }

  /** Also leaves out rows whose included forward relation is null (at this level of includes). */
  requireIncludes(): Query<C, N, S, I, T> {
    return this.#with({ requireIncludes: true });
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
    if (s.select) json.select = [...s.select];
    if (s.include && Object.keys(s.include).length > 0) json.include = { ...s.include };
    if (s.requireIncludes) json.requireIncludes = true;
    return json;
  }

  /** A string equal for equal queries: adapters use it to keep one subscription per distinct query. */
  get queryKey(): string {
    return (this.#key ??= stableStringify(this.toJSON()));
  }
}

/** Any query or table of any app. */
export type AnyQuery = Query<any, any, any, any, any>;
