// The condition JSON shared by queries and policies (core/expr), and the one
// compiler from where-objects to it. Queries and policies use the same
// compiler so a filter means the same thing in both.

/** An operand: a column of the row, a field of the session, or a literal. */
export type Operand = { col: string } | { session: string } | { value: unknown };

export type BinaryOp = "eq" | "ne" | "lt" | "lte" | "gt" | "gte" | "in" | "contains";

/** A condition in core/expr's JSON form. */
export type ExprJSON =
  | boolean
  | { and: ExprJSON[] }
  | { or: ExprJSON[] }
  | { not: ExprJSON }
  | { isNull: Operand }
  | { [K in BinaryOp]: Record<K, [Operand, Operand]> }[BinaryOp];

const OPERATORS = new Set(["eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "isNull"]);

const SESSION_PATH: unique symbol = Symbol("jazz-tools.sessionPath");
export { SESSION_PATH };

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
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v) || sessionPathOf(v) !== undefined) return false;
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

/** Visits every operand of e. */
export function operands(e: ExprJSON, fn: (o: Operand) => void): void {
  if (typeof e === "boolean") return;
  for (const [op, body] of Object.entries(e) as [string, unknown][]) {
    if (op === "and" || op === "or") (body as ExprJSON[]).forEach((x) => operands(x, fn));
    else if (op === "not") operands(body as ExprJSON, fn);
    else if (op === "isNull") fn(body as Operand);
    else (body as Operand[]).forEach(fn);
  }
}
