// The permissions DSL: row-level policies per table and operation, compiled
// to core/policy's JSON. Several allow rules for one operation OR together;
// an operation with no rule is denied (the core fails closed).
import {
  and, compileFilter, compileWhere, not as notExpr, operands, or, ROW_COLUMN, SESSION_PATH,
  type CompileContext, type ExprJSON, type RowColumnRef,
} from "./expr.js";
import { stableStringify } from "./json.js";
import type { AnyApp, AnyTableRef, App, Columns, Operators, Table, TableRef, WhereInput } from "./schema.js";
import type { AuthMode } from "./types.js";

/** A condition built from where-objects, session tests and allOf/anyOf/not; compiled per table. */
export class Condition {
  /** @internal */
  readonly compile: (ctx: CompileContext) => ExprJSON;
  /** @internal */
  constructor(compile: (ctx: CompileContext) => ExprJSON) {
    this.compile = compile;
  }
}

/**
 * A field of the session, usable as a value in policy where-objects
 * (`{ owner_id: session.user_id }`) or tested directly
 * (`session.claims.roles.contains("admin")`).
 */
export interface SessionValue {
  readonly [SESSION_PATH]: string;
  eq(value: unknown): Condition;
  ne(value: unknown): Condition;
  /** The session value is one of these. */
  in(values: readonly unknown[]): Condition;
  /** The session value (an array, or a string) contains value. */
  contains(value: unknown): Condition;
  isNull(): Condition;
}

/** A claim of the session's token; nested claims are properties: `session.claims.org.id`. */
export type ClaimValue = SessionValue & { readonly [claim: string]: ClaimValue };

type SessionWhere = {
  user_id?: string | Operators<string>;
  authMode?: AuthMode | Operators<AuthMode>;
} & { [claim: `claims.${string}`]: unknown };

export interface SessionDSL {
  readonly user_id: SessionValue;
  readonly authMode: SessionValue;
  /** Any claim by name. A claim named like a SessionValue method (eq, in, ...) needs session.claim("name"). */
  readonly claims: { readonly [claim: string]: ClaimValue };
  /** A claim by dotted path: `session.claim("org.id")`. */
  claim(path: string): ClaimValue;
  /** Tests the session itself: `session.where({ authMode: "anonymous" })`. */
  where(filter: SessionWhere): Condition;
}

const METHODS = new Set(["eq", "ne", "in", "contains", "isNull"]);

function sessionValue(path: string, nested: boolean): ClaimValue {
  const test = (op: string, v?: unknown) =>
    new Condition((ctx) => and(compileFilter({ session: path }, op === "isNull" ? { isNull: true } : { [op]: v }, ctx, `session.${path}`)));
  return new Proxy({} as ClaimValue, {
    get(_t, prop) {
      if (prop === SESSION_PATH) return path;
      if (typeof prop !== "string") return undefined;
      if (METHODS.has(prop)) return (v: unknown) => test(prop, v);
      return nested ? sessionValue(`${path}.${prop}`, true) : undefined;
    },
  });
}

const claims = new Proxy({} as Record<string, ClaimValue>, {
  get: (_t, prop) => (typeof prop === "string" ? sessionValue(`claims.${prop}`, true) : undefined),
});

const session: SessionDSL = {
  user_id: sessionValue("user_id", false),
  authMode: sessionValue("authMode", false),
  claims,
  claim: (path) => sessionValue(`claims.${path}`, true),
  where: (filter) =>
    new Condition((ctx) => {
      const terms: ExprJSON[] = [];
      for (const key of Object.keys(filter).sort()) {
        if (key !== "user_id" && key !== "authMode" && !/^claims\.[^.]+(\.[^.]+)*$/.test(key)) {
          throw new TypeError(`${ctx.site}: session.where(): unknown session field "${key}" (use user_id, authMode or claims.<name>)`);
        }
        terms.push(...compileFilter({ session: key }, (filter as Record<string, unknown>)[key], ctx, `session.${key}`));
      }
      return and(terms);
    }),
};

/**
 * The row a policy judges, in the callback form of where
 * (`policy.todos.allowRead.where((todo) => ...)`): each column stands for
 * that row's value, to compare with in an exists condition.
 */
export type PolicyRow<C extends Columns> = { readonly [K in keyof C | "id"]: RowColumnRef };

type Loose = Condition | Record<string, unknown> | ((row: any) => Condition | Record<string, unknown>);

/** The tables of the app being compiled, by name (set while definePermissions compiles). */
let compiling: Record<string, AnyTableRef> | undefined;

function tableOf(ctx: CompileContext): AnyTableRef {
  const t = ctx.table === undefined ? undefined : compiling?.[ctx.table];
  if (!t) throw new TypeError(`${ctx.site}: relations are only for permission policies`);
  return t;
}

function rowOf(table: string): PolicyRow<any> {
  const cache = new Map<string, RowColumnRef>();
  return new Proxy({} as PolicyRow<any>, {
    get(_t, prop) {
      if (typeof prop !== "string") return undefined;
      const t = compiling?.[table];
      if (t && !t.hasColumn(prop)) throw new TypeError(`permissions: ${table} has no column "${prop}"`);
      let ref = cache.get(prop);
      if (!ref) cache.set(prop, (ref = { [ROW_COLUMN]: { table, column: prop } }));
      return ref;
    },
  });
}

function toCondition(c: Loose): Condition {
  if (c instanceof Condition) return c;
  if (typeof c === "function") {
    return new Condition((ctx) => toCondition(c(rowOf(tableOf(ctx).name))).compile(ctx));
  }
  return new Condition((ctx) => compileWhere(c, ctx));
}

type Action = "read" | "insert" | "update" | "delete";

/**
 * A row inherits access from the row one of its relations leads to:
 * `allowedTo.read("project")` holds when the row's project exists and the
 * session may read it. Name the relation (`project`) or its ref column
 * (`projectId`). For a relation to the same table, `maxDepth` (default 10,
 * at most 64) bounds how far up the chain a check goes.
 */
export interface AllowedTo {
  read(relation: string, options?: { maxDepth?: number }): Condition;
  insert(relation: string, options?: { maxDepth?: number }): Condition;
  update(relation: string, options?: { maxDepth?: number }): Condition;
  delete(relation: string, options?: { maxDepth?: number }): Condition;
}

function allowedToFor(op: Action) {
  return (relation: string, options?: { maxDepth?: number }) => {
    const depth = options?.maxDepth;
    if (depth !== undefined && (!Number.isInteger(depth) || depth <= 0 || depth > 64)) {
      throw new TypeError(`allowedTo.${op}("${relation}"): maxDepth must be a whole number from 1 to 64, got ${String(depth)}`);
    }
    return new Condition((ctx) => {
      const t = tableOf(ctx);
      const rel = t.relations[relation];
      const via = rel && !rel.reverse ? rel.column : t.columns[relation]?.spec.ref !== undefined ? relation : undefined;
      if (via === undefined) {
        const names = Object.entries(t.relations).filter(([, r]) => !r.reverse).map(([n]) => n).sort();
        throw new TypeError(
          `${ctx.site}: allowedTo.${op}("${relation}"): ${t.name} has no relation "${relation}" ` +
            `(its relations: ${names.length ? names.join(", ") : "none"}; a relation comes from a ref column)`,
        );
      }
      return { allowedTo: depth === undefined ? { op, via } : { op, via, maxDepth: depth } };
    });
  };
}

const allowedTo: AllowedTo = {
  read: allowedToFor("read"),
  insert: allowedToFor("insert"),
  update: allowedToFor("update"),
  delete: allowedToFor("delete"),
};

/** `policy.<table>.exists.where(...)`: some row of the table matches. */
function existsIn(table: string) {
  return {
    where: (where: Loose) =>
      new Condition((ctx) => {
        if (ctx.outerTable !== undefined) throw new TypeError(`${ctx.site}: exists cannot be nested in exists`);
        const t = compiling?.[table];
        if (!t) throw new TypeError(`${ctx.site}: exists on unknown table "${table}"`);
        const inner: CompileContext = { site: `${ctx.site} exists ${table}`, hasColumn: (c) => t.hasColumn(c), allowSession: true, table, outerTable: ctx.table };
        return { exists: { table, where: toCondition(where).compile(inner) } };
      }),
  };
}

function flatten(items: (Loose | readonly Loose[])[]): Condition[] {
  return items.flat().map(toCondition);
}

/** All of these hold (no conditions: always). Accepts conditions and where-objects, as a list or an array. */
function allOf(...conditions: (Loose | readonly Loose[])[]): Condition {
  const cs = flatten(conditions);
  return new Condition((ctx) => and(cs.map((c) => c.compile(ctx))));
}

/** Any of these holds (no conditions: never). */
function anyOf(...conditions: (Loose | readonly Loose[])[]): Condition {
  const cs = flatten(conditions);
  return new Condition((ctx) => or(cs.map((c) => c.compile(ctx))));
}

function not(condition: Loose): Condition {
  const c = toCondition(condition);
  return new Condition((ctx) => notExpr(c.compile(ctx)));
}

/**
 * What a policy rule accepts: a where-object over the table (values may be
 * session values), a Condition, or a function of the judged row returning
 * either (`(todo) => anyOf([...])`), for exists conditions that correlate
 * with it.
 */
export type PolicyCondition<C extends Columns> =
  | WhereInput<C, SessionValue>
  | Condition
  | ((row: PolicyRow<C>) => WhereInput<C, SessionValue> | Condition);

export interface RuleBuilder<C extends Columns> {
  where(condition: PolicyCondition<C>): void;
  always(): void;
  never(): void;
}

export interface UpdateRuleBuilder<C extends Columns> {
  /** The same condition on the row before and after the update. */
  where(condition: PolicyCondition<C>): void;
  /** A condition on the row before the update; chain whereNew for the row after. */
  whereOld(condition: PolicyCondition<C>): { whereNew(condition: PolicyCondition<C>): void };
  /** A condition on the row after the update; chain whereOld for the row before. */
  whereNew(condition: PolicyCondition<C>): { whereOld(condition: PolicyCondition<C>): void };
  always(): void;
  never(): void;
}

export interface TablePolicyBuilder<C extends Columns> {
  readonly allowRead: RuleBuilder<C>;
  readonly allowInsert: RuleBuilder<C>;
  readonly allowUpdate: UpdateRuleBuilder<C>;
  readonly allowDelete: RuleBuilder<C>;
  /**
   * A condition that some row of this table matches, for another table's
   * rules: `policy.shares.exists.where({ todoId: todo.id, user_id: session.user_id })`
   * with `todo` from the callback form of where. Every row counts, readable
   * by the session or not.
   */
  readonly exists: { where(condition: WhereInput<C, SessionValue | RowColumnRef> | Condition): Condition };
}

export interface PermissionsDSL<A extends AnyApp> {
  readonly policy: { readonly [K in keyof A & string as K extends "$schema" ? never : K]: A[K] extends TableRef<any, infer C> ? TablePolicyBuilder<C> : never };
  readonly session: SessionDSL;
  allOf: typeof allOf;
  anyOf: typeof anyOf;
  not: typeof not;
  allowedTo: AllowedTo;
}

/** One table's policies in core/policy's JSON form; a missing operation is denied. */
export interface TablePolicyJSON {
  read?: ExprJSON;
  insert?: ExprJSON;
  updateOld?: ExprJSON;
  updateNew?: ExprJSON;
  delete?: ExprJSON;
}

export interface Permissions<A extends AnyApp = AnyApp> {
  readonly app: A;
  readonly policies: Record<string, TablePolicyJSON>;
}

const TRUE = new Condition(() => true);
const FALSE = new Condition(() => false);

interface Rules {
  read: Condition[];
  insert: Condition[];
  update: { old: Condition; new: Condition }[];
  delete: Condition[];
}

function ruleBuilder(list: Condition[]): RuleBuilder<any> {
  return {
    where: (c) => void list.push(toCondition(c as Loose)),
    always: () => void list.push(TRUE),
    never: () => void list.push(FALSE),
  };
}

function updateBuilder(list: Rules["update"]): UpdateRuleBuilder<any> {
  const add = (o: Condition, n: Condition) => {
    const rule = { old: o, new: n };
    list.push(rule);
    return rule;
  };
  return {
    where: (c) => void add(toCondition(c as Loose), toCondition(c as Loose)),
    whereOld: (c) => {
      const rule = add(toCondition(c as Loose), TRUE);
      return { whereNew: (n) => void (rule.new = toCondition(n as Loose)) };
    },
    whereNew: (c) => {
      const rule = add(TRUE, toCondition(c as Loose));
      return { whereOld: (o) => void (rule.old = toCondition(o as Loose)) };
    },
    always: () => void add(TRUE, TRUE),
    never: () => void add(FALSE, FALSE),
  };
}

const readsColumns = (e: ExprJSON) => {
  let found = false;
  operands(e, (o) => (found ||= "col" in o));
  return found;
};

/**
 * The format checks updateOld and updateNew separately, so rules (o1, n1) and
 * (o2, n2) compile to (o1 | o2) & (n1 | n2), which would also allow o1 with n2.
 * That is exact only when the rules that read columns share their old or
 * their new condition (session-only rules with old == new add no cross terms);
 * anything else is refused rather than compiled more permissive than written.
 */
function compileUpdate(table: string, rules: { old: ExprJSON; new: ExprJSON }[]): Pick<TablePolicyJSON, "updateOld" | "updateNew"> {
  const key = stableStringify;
  const rowRules = rules.filter((r) => readsColumns(r.old) || readsColumns(r.new) || key(r.old) !== key(r.new));
  const same = (side: "old" | "new") => new Set(rowRules.map((r) => key(r[side]))).size <= 1;
  if (rowRules.length > 1 && !same("old") && !same("new")) {
    throw new TypeError(
      `definePermissions: policy.${table}.allowUpdate: these whereOld/whereNew pairs cannot be combined exactly ` +
        "(the bundle checks old and new rows separately); merge them into one rule with anyOf/allOf",
    );
  }
  return { updateOld: or(rules.map((r) => r.old)), updateNew: or(rules.map((r) => r.new)) };
}

/**
 * Declares an app's row-level policies:
 *
 *     s.definePermissions(app, ({ policy, session }) => {
 *       policy.todos.allowRead.where({ owner_id: session.user_id });
 *     })
 */
export function definePermissions<T extends Record<string, Table>>(
  app: App<T>,
  define: (dsl: PermissionsDSL<App<T>>) => void,
): Permissions<App<T>> {
  const tables = app.$schema.tables.map((t) => t.name);
  const rules = new Map<string, Rules>(tables.map((n) => [n, { read: [], insert: [], update: [], delete: [] }]));
  const policy = Object.fromEntries(
    tables.map((n) => {
      const r = rules.get(n)!;
      const b: TablePolicyBuilder<any> = {
        allowRead: ruleBuilder(r.read),
        allowInsert: ruleBuilder(r.insert),
        allowUpdate: updateBuilder(r.update),
        allowDelete: ruleBuilder(r.delete),
        exists: existsIn(n),
      };
      return [n, b];
    }),
  );
  define({ policy, session, allOf, anyOf, not, allowedTo } as unknown as PermissionsDSL<App<T>>);
  compiling = Object.fromEntries(tables.map((n) => [n, (app as unknown as Record<string, AnyTableRef>)[n]!]));
  try {
    return compileRules(app, tables, rules);
  } finally {
    compiling = undefined;
  }
}

function compileRules<T extends Record<string, Table>>(app: App<T>, tables: string[], rules: Map<string, Rules>): Permissions<App<T>> {

  const policies: Record<string, TablePolicyJSON> = {};
  for (const name of tables) {
    const r = rules.get(name)!;
    const ref = (app as unknown as Record<string, TableRef>)[name]!;
    const ctx = (op: string): CompileContext => ({
      site: `policy.${name}.${op}`,
      hasColumn: (c) => ref.hasColumn(c),
      allowSession: true,
      table: name,
    });
    const compileAll = (op: string, list: Condition[]) => or(list.map((c) => c.compile(ctx(op))));
    const out: TablePolicyJSON = {};
    if (r.read.length) out.read = compileAll("allowRead", r.read);
    if (r.insert.length) out.insert = compileAll("allowInsert", r.insert);
    if (r.update.length) {
      const c = ctx("allowUpdate");
      Object.assign(out, compileUpdate(name, r.update.map((u) => ({ old: u.old.compile(c), new: u.new.compile(c) }))));
    }
    if (r.delete.length) out.delete = compileAll("allowDelete", r.delete);
    if (Object.keys(out).length) policies[name] = out;
  }
  return Object.freeze({ app, policies });
}

export { allOf, allowedTo, anyOf, not, session as sessionDSL };
