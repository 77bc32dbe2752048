// The condition JSON shared by queries and policies (core/expr), and the one
// compiler from where-objects to it. Queries and policies use the same
// compiler so a filter means the same thing in both.

/**
 * An operand: a column of the row, a field of the session, a literal, or
 * (inside a policy's exists) a column of the row the policy judges.
 */
export type Operand = { col: string } | { session: string } | { value: unknown } | { outer: string };

export type BinaryOp = "eq" | "ne" | "lt" | "lte" | "gt" | "gte" | "in" | "contains";

/** A condition in core/expr's JSON form. */
export type ExprJSON =
  | boolean
  | { and: ExprJSON[] }
  | { or: ExprJSON[] }
  | { not: ExprJSON }
  | { isNull: Operand }
  | { allowedTo: { op: "read" | "insert" | "update" | "delete"; via: string; maxDepth?: number } }
  | { exists: { table: string; where: ExprJSON } }
  | { [K in BinaryOp]: Record<K, [Operand, Operand]> }[BinaryOp];

const OPERATORS = new Set(["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "isNull"]);

const SESSION_PATH: unique symbol = Symbol("jazz-tools.sessionPath");
export { SESSION_PATH };

const ROW_COLUMN: unique symbol = Symbol("jazz-tools.rowColumn");
export { ROW_COLUMN };

/** A column of the row a policy judges, as the callback form of where hands it out. */
export interface RowColumnRef {
  readonly [ROW_COLUMN]: { readonly table: string; readonly column: string };
}

function rowColumnOf(v: unknown): RowColumnRef[typeof ROW_COLUMN] | undefined {
  if (typeof v === "object" && v !== null && ROW_COLUMN in v) return (v as RowColumnRef)[ROW_COLUMN];
  return undefined;
}

/** The session path a permissions-DSL session value stands for, if v is one. */
export function sessionPathOf(v: unknown): string | undefined {
  if ((typeof v === "object" || typeof v === "function") && v !== null) {
    const p = (v as { [SESSION_PATH]?: unknown })[SESSION_PATH];
    if (typeof p === "string") return p;
  }
  return undefined;
}

/** Where a where-object is being compiled: for column checks and messages. */
export interface CompileContext {
  /** e.g. `todos.where()` or `policy.todos.allowRead` */
  readonly site: string;
  hasColumn(name: string): boolean;
  /** Policies may compare with the session; queries may not (core/query refuses it). */
  readonly allowSession: boolean;
  /** The table the condition judges (policies). */
  readonly table?: string;
  /** The table of the row an exists condition was reached from (policies). */
  readonly outerTable?: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v) || sessionPathOf(v) !== undefined || rowColumnOf(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function isOperatorObject(v: unknown): v is Record<string, unknown> {
  if (!isPlainObject(v)) return false;
  const keys = Object.keys(v);
  return keys.length > 0 && keys.every((k) => OPERATORS.has(k));
}

function literal(v: unknown): unknown {
  if (v instanceof Date) return v.getTime();
  if (Array.isArray(v)) return v.map(literal);
  return v;
}

export function operand(v: unknown, ctx: CompileContext): Operand {
  const ref = rowColumnOf(v);
  if (ref !== undefined) {
    // The judged row's column: the outer row inside exists (even when it
    // looks in the same table), the row itself at the top.
    if (ctx.outerTable !== undefined) {
      if (ref.table === ctx.outerTable) return { outer: ref.column };
    } else if (ref.table === ctx.table) return { col: ref.column };
    throw new TypeError(`${ctx.site}: ${ref.table}.${ref.column} is a column of a row this condition cannot see (a row reaches one exists deep)`);
  }
  const path = sessionPathOf(v);
  if (path === undefined) return { value: literal(v) };
  if (!ctx.allowSession) {
    throw new TypeError(`${ctx.site}: a query cannot read the session (session.${path}); pass the value itself`);
  }
  return { session: path };
}

/** AND of terms, flattened: no terms is true, one term is itself. */
export function and(terms: ExprJSON[]): ExprJSON {
  const flat = terms.flatMap((t) => (typeof t === "object" && "and" in t ? t.and : [t]));
  if (flat.some((t) => t === false)) return false;
  const rest = flat.filter((t) => t !== true);
  return rest.length === 0 ? true : rest.length === 1 ? rest[0]! : { and: rest };
}

/** OR of terms: no terms (or only false) is false, any true is true, one term is itself. */
export function or(terms: ExprJSON[]): ExprJSON {
  const flat = terms.flatMap((t) => (typeof t === "object" && "or" in t ? t.or : [t]));
  if (flat.some((t) => t === true)) return true;
  const rest = flat.filter((t) => t !== false);
  return rest.length === 0 ? false : rest.length === 1 ? rest[0]! : { or: rest };
}

export function not(e: ExprJSON): ExprJSON {
  return typeof e === "boolean" ? !e : { not: e };
}

/**
 * Compiles the filters on one operand: a literal or session value means
 * equality, null means isNull, and an operator object
 * (`{ gt: 3, lte: 9 }`, `{ in: [...] }`, `{ isNull: false }`) one term per operator.
 */
export function compileFilter(left: Operand, v: unknown, ctx: CompileContext, label: string): ExprJSON[] {
  if (v === undefined) return [];
  if (v === null) return [{ isNull: left }];
  if (!isOperatorObject(v)) return [{ eq: [left, operand(v, ctx)] }];
  const terms: ExprJSON[] = [];
  for (const op of Object.keys(v).sort()) {
    const arg = v[op];
    if (arg === undefined) continue;
    if (op === "isNull") {
      if (typeof arg !== "boolean") throw new TypeError(`${ctx.site}: ${label}: isNull takes true or false`);
      terms.push(arg ? { isNull: left } : { not: { isNull: left } });
      continue;
    }
    if (op === "in" && !Array.isArray(arg) && sessionPathOf(arg) === undefined) {
      throw new TypeError(`${ctx.site}: ${label}: "in" takes an array${ctx.allowSession ? " or a session value" : ""}`);
    }
    terms.push({ [op]: [left, operand(arg, ctx)] } as ExprJSON);
  }
  return terms;
}

/** Compiles a where-object over columns (keys sorted, so equal objects compile equally). */
export function compileWhere(where: object, ctx: CompileContext): ExprJSON {
  if (!isPlainObject(where)) throw new TypeError(`${ctx.site}: where() takes an object of column filters`);
  const terms: ExprJSON[] = [];
  for (const col of Object.keys(where).sort()) {
    if (!ctx.hasColumn(col)) throw new TypeError(`${ctx.site}: unknown column "${col}"`);
    terms.push(...compileFilter({ col }, where[col], ctx, col));
  }
  return and(terms);
}

/**
 * Visits every operand of e that reads the judged row or the session: the
 * ref column an allowedTo follows counts as a column, and inside exists
 * only the outer operands (the exists table's own columns are another row's).
 */
export function operands(e: ExprJSON, fn: (o: Operand) => void, inExists = false): void {
  if (typeof e === "boolean") return;
  for (const [op, body] of Object.entries(e) as [string, unknown][]) {
    if (op === "and" || op === "or") (body as ExprJSON[]).forEach((x) => operands(x, fn, inExists));
    else if (op === "not") operands(body as ExprJSON, fn, inExists);
    else if (op === "allowedTo") {
      if (!inExists) fn({ col: (body as { via: string }).via });
    } else if (op === "exists") {
      operands((body as { where: ExprJSON }).where, (o) => ("outer" in o ? fn({ col: o.outer }) : "session" in o && fn(o)), true);
    } else if (op === "isNull") visit(body as Operand);
    else (body as Operand[]).forEach(visit);
  }
  function visit(o: Operand) {
    if (!inExists || "outer" in o || "session" in o) fn(o);
  }
}
