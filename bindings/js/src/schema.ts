// The schema DSL: column builders, tables and apps, and the row types
// inferred from them. `schema` (imported as `s`) is the namespace users see.
import { compileBundle } from "./bundle.js";
import { definePermissions } from "./permissions.js";
import { Query } from "./query.js";

export type ColumnType = "string" | "boolean" | "int" | "float" | "timestamp" | "json" | "ref" | "enum" | "bytes" | "array";

/** One column as core/schema reads it. */
export interface ColumnJSON {
  name: string;
  type: ColumnType;
  optional?: true;
  ref?: string;
  noIndex?: true;
  /** An enum's values (also an array of enum's). */
  enum?: string[];
  /** An array's element type. */
  items?: ColumnType;
  /** What an insert that leaves the column out gets (JSON form: bytes as base64, timestamps as ms). */
  default?: unknown;
}

export interface TableJSON {
  name: string;
  columns: ColumnJSON[];
}

/** The schema part of a bundle, also what DbHandle.useSchema takes. */
export interface SchemaJSON {
  tables: TableJSON[];
}

interface ColumnSpec {
  readonly type: ColumnType;
  readonly optional: boolean;
  readonly noIndex: boolean;
  readonly ref?: string;
  readonly enum?: readonly string[];
  readonly items?: ColumnType;
  /** The default in its JSON form; undefined: none. */
  readonly default?: unknown;
}

/**
 * A column declaration. R is the type rows carry, W what writes accept
 * (timestamps read as numbers but accept Dates), O whether it is optional,
 * D whether it has a default (inserts may then leave it out).
 */
export class Column<R, W = R, O extends boolean = false, D extends boolean = false> {
  declare readonly _read: R;
  declare readonly _write: W;
  declare readonly _optional: O;
  declare readonly _default: D;
  /** @internal */
  readonly spec: ColumnSpec;

  /** @internal Use the builders on `schema`. */
  constructor(spec: ColumnSpec) {
    this.spec = spec;
  }

  /** The column may be null; inserts may leave it out. */
  optional(): Column<R, W, true, D> {
    return new Column({ ...this.spec, optional: true });
  }

  /** Opts out of the equality index (long text, blobs of JSON). */
  noIndex(): Column<R, W, O, D> {
    return new Column({ ...this.spec, noIndex: true });
  }

  /**
   * What an insert (or restore) that leaves the column out gets. The core
   * applies it, locally and again on the server, and checks it fits the
   * column when the app is defined.
   */
  default(value: W): Column<R, W, O, true> {
    if (value === null || value === undefined) throw new TypeError("schema: a default is a value; an optional column left out is null anyway");
    return new Column({ ...this.spec, default: toJSONValue(value) });
  }
}

/**
 * A ref column: the id of a row of table T. Named `<name>Id` or `<name>_id`,
 * it gives its table the relation `<name>` and table T the reverse relation
 * `<thisTable>Via<Name>` (see include()).
 */
export class RefColumn<T extends string = string, O extends boolean = false> extends Column<string, string, O, false> {
  declare readonly _ref: T;
  override optional(): RefColumn<T, true> {
    return new RefColumn({ ...this.spec, optional: true });
  }
  override noIndex(): RefColumn<T, O> {
    return new RefColumn({ ...this.spec, noIndex: true });
  }
}

export type AnyColumn = Column<any, any, boolean, boolean>;
export type Columns = Record<string, AnyColumn>;

/** Bytes as JSON carries them: standard base64. */
export function bytesToBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

export function base64ToBytes(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A value in the JSON form the core reads: bytes as base64, Dates as ms. */
function toJSONValue(v: unknown): unknown {
  if (v instanceof Uint8Array) return bytesToBase64(v);
  if (v instanceof Date) return v.getTime();
  if (Array.isArray(v)) return v.map(toJSONValue);
  return v;
}

/** JSON.stringify for values written to the core: Uint8Array (bytes columns) as base64. */
export function writeJSON(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? bytesToBase64(x) : x));
}

const col = <R, W = R>(type: ColumnType, ref?: string) =>
  new Column<R, W>(ref === undefined ? { type, optional: false, noIndex: false } : { type, optional: false, noIndex: false, ref });

/** A table declaration: its columns, in order. */
export class Table<C extends Columns = Columns> {
  constructor(readonly columns: C) {}
}

/** The edit metadata ("magic") columns every row carries, written by the engine only. */
export interface MagicColumns {
  id: string;
  $createdBy: string;
  /** Milliseconds since the Unix epoch. */
  $createdAt: number;
  $updatedBy: string;
  /** Milliseconds since the Unix epoch. */
  $updatedAt: number;
}

const MAGIC = new Set(["id", "$createdBy", "$createdAt", "$updatedBy", "$updatedAt"]);

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ReadOf<K> = K extends Column<infer R, any, infer O, any> ? (O extends true ? R | null : R) : never;
type WriteOf<K> = K extends Column<any, infer W, infer O, any> ? (O extends true ? W | null : W) : never;
/** Columns an insert may leave out: optional ones (null) and ones with a default. */
type OptionalKeys<C> = {
  [K in keyof C]: C[K] extends Column<any, any, true, any> ? K : C[K] extends Column<any, any, any, true> ? K : never;
}[keyof C];
type RequiredKeys<C> = Exclude<keyof C, OptionalKeys<C>>;

/** A row as read: every column (optional ones `| null`) plus id and the magic columns. */
export type RowOf<C extends Columns> = Simplify<MagicColumns & { [K in keyof C]: ReadOf<C[K]> }>;
/** What insert() takes: required columns required, optional ones optional. */
export type InsertOf<C extends Columns> = Simplify<
  { [K in RequiredKeys<C>]: WriteOf<C[K]> } & { [K in OptionalKeys<C>]?: WriteOf<C[K]> }
>;

/** The row type of a table or query: `Row<typeof app.todos>`; a query's select and include shape it. */
export type Row<T> = T extends Query<any, any, infer S, infer I, any> ? Simplify<S & I> : never;
/** The insert type of a table: `Insert<typeof app.todos>`. */
export type Insert<T> = T extends Query<infer C, any> ? InsertOf<C> : never;
/** The update patch type of a table: any subset of its columns. */
export type Patch<T> = Partial<Insert<T>>;

type FilterValues<C extends Columns> = Omit<MagicColumns, "$createdAt" | "$updatedAt"> & {
  $createdAt: number | Date;
  $updatedAt: number | Date;
} & { [K in keyof C]: WriteOf<C[K]> };

/** Columns a select may add that no row stores: what the reading session may do with the row (null without a session). */
export interface PermissionColumns {
  $canRead: boolean | null;
  $canEdit: boolean | null;
  $canDelete: boolean | null;
}

/** Every column a query can filter or sort on, magic columns included. */
export type ColumnName<C extends Columns> = keyof FilterValues<C> & string;

/** Comparison operators for one column. S is what else a value may be (session values, in policies). */
export interface Operators<V, S = never> {
  eq?: V | S;
  ne?: V | S;
  lt?: V | S;
  lte?: V | S;
  gt?: V | S;
  gte?: V | S;
  /** The column's value is one of these. */
  in?: readonly V[] | S;
  /** Substring for strings; element of an array for array and json columns. */
  contains?: (V extends string ? string : V extends readonly (infer E)[] ? E : unknown) | S;
  isNull?: boolean;
}

/** A where-object: `{ owner_id: id }`, `{ rank: { gt: 3 } }`, `{ $createdBy: userId }`. */
export type WhereInput<C extends Columns, S = never> = {
  [K in keyof FilterValues<C>]?: FilterValues<C>[K] | S | Operators<NonNullable<FilterValues<C>[K]>, S>;
};

/** The identity of an app: what a Db registers with the core on first use. */
export interface AppSchema {
  readonly $schema: SchemaJSON;
}

/**
 * A table of an app: also the query that reads all of it. Carries its app so
 * a Db can register the whole schema the first time one of its tables is used.
 */
export class TableRef<N extends string = string, C extends Columns = Columns, T extends Tables = any> extends Query<C, N, RowOf<C>, {}, T> {
  readonly name: N;
  readonly columns: C;
  readonly app: AppSchema;
  /** @internal This table's relations, by name (set by defineApp). */
  readonly relations: Record<string, RelationInfo> = {};

  /** @internal Created by defineApp. */
  constructor(name: N, columns: C, app: AppSchema) {
    super(null);
    this.name = name;
    this.columns = columns;
    this.app = app;
  }

  /** Whether name is a declared or magic column. */
  hasColumn(name: string): boolean {
    return MAGIC.has(name) || Object.hasOwn(this.columns, name);
  }

  #bytes?: string[];

  /**
   * Gives a row read from the core its JavaScript types: a bytes column
   * arrives as base64 (JSON has no bytes) and becomes a Uint8Array.
   * Changes row in place; rows of tables without bytes pass untouched.
   */
  revive<T>(row: T): T {
    this.#bytes ??= Object.keys(this.columns).filter((k) => this.columns[k]!.spec.type === "bytes");
    if (this.#bytes.length === 0 || row === null || typeof row !== "object") return row;
    const r = row as Record<string, unknown>;
    for (const k of this.#bytes) if (typeof r[k] === "string") r[k] = base64ToBytes(r[k]);
    return row;
  }
}

export type AnyTableRef = TableRef<any, any, any>;

/** @internal A relation as a TableRef knows it at run time. */
export interface RelationInfo {
  readonly table: AnyTableRef;
  readonly reverse: boolean;
  /** The ref column: this table's for a forward relation, the other table's for a reverse one. */
  readonly column: string;
}

/** The tables of an app. */
export type Tables = Record<string, Table>;

// Relations at the type level, by the rule core/schema applies at run time
// (schema.ForwardName): a ref column projectId or project_id is the
// relation project of its table and the relation <table>ViaProject of the
// table it refers to.
type ForwardName<K> = K extends `${infer P}_id` ? (P extends "" ? never : P) : K extends `${infer P}Id` ? (P extends "" ? never : P) : never;
type RefTarget<Col> = Col extends RefColumn<infer R, any> ? R : never;

/** A relation's target table, whether it is a list, and whether it may be null. */
export interface Rel<To extends string, Many extends boolean, Nullable extends boolean> {
  to: To;
  many: Many;
  nullable: Nullable;
}

type ForwardRels<T extends Tables, N extends keyof T> = {
  [K in keyof T[N]["columns"] & string as RefTarget<T[N]["columns"][K]> extends never ? never : ForwardName<K>]:
    T[N]["columns"][K] extends RefColumn<infer R, infer O> ? Rel<R, false, O> : never;
};
type ReverseEntries<T extends Tables, N extends string> = {
  [S in keyof T & string]: {
    [K in keyof T[S]["columns"] & string]: RefTarget<T[S]["columns"][K]> extends N
      ? ForwardName<K> extends never ? never : { name: `${S}Via${Capitalize<ForwardName<K>>}`; rel: Rel<S, true, false> }
      : never;
  }[keyof T[S]["columns"] & string];
}[keyof T & string];
type ReverseRels<T extends Tables, N extends string> = {
  [E in ReverseEntries<T, N> as E["name"]]: E["rel"];
};
/** The relations of table N of app tables T, by name. */
export type Relations<T extends Tables, N extends string> = ForwardRels<T, N> & ReverseRels<T, N>;

/** An app: one TableRef per table, plus its schema JSON under `$schema`. */
export type App<T extends Record<string, Table>> = {
  readonly [K in keyof T & string]: TableRef<K, T[K]["columns"], T>;
} & AppSchema;

/** Any app made by defineApp. */
export type AnyApp = AppSchema;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function columnJSON(name: string, c: AnyColumn): ColumnJSON {
  const out: ColumnJSON = { name, type: c.spec.type };
  if (c.spec.optional) out.optional = true;
  if (c.spec.ref !== undefined) out.ref = c.spec.ref;
  if (c.spec.noIndex) out.noIndex = true;
  if (c.spec.enum !== undefined) out.enum = [...c.spec.enum];
  if (c.spec.items !== undefined) out.items = c.spec.items;
  if (c.spec.default !== undefined) out.default = c.spec.default;
  return out;
}

const ARRAY_ITEMS = new Set<ColumnType>(["string", "boolean", "int", "float", "timestamp", "enum"]);

function enumColumn<const V extends readonly [string, ...string[]]>(...values: V): Column<V[number]> {
  if (values.length === 0) throw new TypeError("schema.enum: list at least one value");
  if (new Set(values).size !== values.length || values.some((v) => typeof v !== "string" || v === "")) {
    throw new TypeError("schema.enum: values are distinct non-empty strings");
  }
  return new Column({ type: "enum", optional: false, noIndex: false, enum: [...values] });
}

function arrayColumn<R, W>(item: Column<R, W, false, false>): Column<R[], W[]> {
  const s = item.spec;
  if (!ARRAY_ITEMS.has(s.type) || s.optional || s.default !== undefined) {
    throw new TypeError("schema.array: elements are a plain string, boolean, int, float, timestamp or enum column (not optional, no default)");
  }
  return new Column(s.enum === undefined ? { type: "array", optional: false, noIndex: false, items: s.type } : { type: "array", optional: false, noIndex: false, items: s.type, enum: s.enum });
}

/** The relation a ref column gives its table, "" for none (core/schema's ForwardName). */
function forwardName(column: string): string {
  const m = /^(.+?)(?:_id|Id)$/.exec(column);
  return m ? m[1]! : "";
}

function addRelation(t: AnyTableRef, name: string, rel: RelationInfo) {
  if (t.hasColumn(name) || Object.hasOwn(t.relations, name)) {
    throw new TypeError(`defineApp: relation ${t.name}.${name} clashes with a column or another relation; rename the ref column`);
  }
  t.relations[name] = rel;
}

/** Declares an app's tables. Names are checked as the core checks them, so mistakes fail here. */
function defineApp<T extends Record<string, Table>>(tables: T): App<T> {
  const names = Object.keys(tables);
  const schemaJSON: SchemaJSON = { tables: [] };
  for (const name of names) {
    if (!IDENT.test(name)) throw new TypeError(`defineApp: table name "${name}" must be a letter or _ followed by up to 63 letters, digits or _`);
    const t = tables[name];
    if (!(t instanceof Table)) throw new TypeError(`defineApp: "${name}" must be declared with schema.table({...})`);
    const columns: ColumnJSON[] = [];
    for (const [cname, c] of Object.entries(t.columns)) {
      if (!IDENT.test(cname) || cname === "id") {
        throw new TypeError(`defineApp: ${name}.${cname}: column names are identifiers; id and the $ columns are built in`);
      }
      if (!(c instanceof Column)) throw new TypeError(`defineApp: ${name}.${cname} must be a column builder such as schema.string()`);
      if (c.spec.ref !== undefined && !names.includes(c.spec.ref)) {
        throw new TypeError(`defineApp: ${name}.${cname} refers to unknown table "${c.spec.ref}"`);
      }
      columns.push(columnJSON(cname, c));
    }
    schemaJSON.tables.push({ name, columns });
  }
  const app = { $schema: schemaJSON } as { $schema: SchemaJSON } & Record<string, unknown>;
  const refs: Record<string, AnyTableRef> = {};
  for (const name of names) app[name] = refs[name] = new TableRef(name, tables[name]!.columns, app);
  for (const name of names) {
    for (const [cname, c] of Object.entries(tables[name]!.columns)) {
      const rel = c.spec.ref === undefined ? "" : forwardName(cname);
      if (rel === "") continue;
      const target = refs[c.spec.ref!]!;
      addRelation(refs[name]!, rel, { table: target, reverse: false, column: cname });
      addRelation(target, `${name}Via${rel[0]!.toUpperCase()}${rel.slice(1)}`, { table: refs[name]!, reverse: true, column: cname });
    }
  }
  return Object.freeze(app) as unknown as App<T>;
}

/** The schema DSL, usually imported as `schema as s`. */
export const schema = {
  string: () => col<string>("string"),
  boolean: () => col<boolean>("boolean"),
  /** A 64-bit integer (safe up to 2^53 in JavaScript). */
  int: () => col<number>("int"),
  float: () => col<number>("float"),
  /** Read as milliseconds since the Unix epoch; writes also accept a Date. */
  timestamp: () => col<number, number | Date>("timestamp"),
  /** Any JSON value; T types it. Not indexed. */
  json: <T = unknown>() => col<T>("json"),
  /** Binary data, read and written as a Uint8Array. Not indexed. */
  bytes: () => col<Uint8Array>("bytes"),
  /** One of the listed strings: `s.enum("todo", "done")`. */
  enum: enumColumn,
  /** A list of one scalar type: `s.array(s.string())`. Not indexed; `contains` finds an element. */
  array: arrayColumn,
  /**
   * The id of a row of `table`. Name the column `<name>Id` or `<name>_id` to
   * get the relation `<name>` (and `<thisTable>Via<Name>` on `table`).
   */
  ref: <T extends string>(table: T) => new RefColumn<T>({ type: "ref", optional: false, noIndex: false, ref: table }),
  table: <C extends Columns>(columns: C) => new Table(columns),
  defineApp,
  definePermissions,
  compileBundle,
};
