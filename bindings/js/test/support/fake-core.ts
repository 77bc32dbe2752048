// A small in-memory JazzCore for testing the bindings before (and besides)
// the real wasm core. It follows core.d.ts: JSON strings in and out, errors
// with name/code/table/operation, subscriptions that send deltas (the
// initial result, then what changed and where). It is not a model of sync or merge.
import type { CoreErrorName, DbHandle, JazzCore } from "../../src/core.js";

type Json = Record<string, unknown>;
type Row = Json & { id: string };

export function coreError(name: CoreErrorName, code: string, message: string, fields: Json = {}): Error {
  return Object.assign(new Error(message), { name, code }, fields);
}

function b64urlJSON(part: string): Json | null {
  try {
    return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/"))) as Json;
  } catch {
    return null;
  }
}

/** The payload of a JWT, or null. */
export function jwtPayload(token: string): Json | null {
  const parts = token.split(".");
  return parts.length === 3 ? b64urlJSON(parts[1]!) : null;
}

/** An unsigned JWT for sub (the fake, like the real client, does not verify signatures). */
export function fakeJwt(sub: string, claims: Json = {}): string {
  const enc = (o: Json) => btoa(JSON.stringify(o)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${enc({ alg: "none", typ: "JWT" })}.${enc({ sub, ...claims })}.sig`;
}

type Operand = { col?: string; value?: unknown };

function val(o: Operand, row: Row): unknown {
  return o.col !== undefined ? row[o.col] : o.value;
}

function evalExpr(e: unknown, row: Row): boolean {
  if (e === true || e === undefined) return true;
  if (e === false) return false;
  const [op, body] = Object.entries(e as Json)[0]!;
  const pair = body as [Operand, Operand];
  switch (op) {
    case "and": return (body as unknown[]).every((x) => evalExpr(x, row));
    case "or": return (body as unknown[]).some((x) => evalExpr(x, row));
    case "not": return !evalExpr(body, row);
    case "isNull": return val(body as Operand, row) == null;
  }
  const l = val(pair[0], row) as any;
  const r = val(pair[1], row) as any;
  switch (op) {
    case "eq": return JSON.stringify(l) === JSON.stringify(r);
    case "ne": return JSON.stringify(l) !== JSON.stringify(r);
    case "lt": return l != null && l < r;
    case "lte": return l != null && l <= r;
    case "gt": return l != null && l > r;
    case "gte": return l != null && l >= r;
    case "in": return Array.isArray(r) && r.includes(l);
    case "contains": return typeof l === "string" ? l.includes(r) : Array.isArray(l) && l.includes(r);
  }
  throw new Error(`fake core: unknown op ${op}`);
}

interface Query { table: string; where?: unknown; orderBy?: { col: string; desc?: boolean }[]; limit?: number; offset?: number }

export interface FakeDb extends DbHandle {
  readonly config: Json;
  readonly closed: boolean;
  readonly calls: string[];
  /** Simulates the server rejecting the token as expired: sets error, runs the hook single-flight. */
  expire(): Promise<void>;
  emitError(error: Json): void;
}

export interface FakeCore extends JazzCore {
  readonly dbs: FakeDb[];
}

export function createFakeCore(): FakeCore {
  const dbs: FakeDb[] = [];
  let seq = 0;
  const core: FakeCore = {
    version: "fake",
    dbs,
    newSecret: () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url"),
    async createDb(configJSON) {
      const config = JSON.parse(configJSON) as Json;
      if (!config.appId) throw coreError("ConfigError", "config", "client: invalid config: appId is required");
      if (config.secret && config.jwtToken) throw coreError("ConfigError", "config", "client: invalid config: pass either secret or jwtToken, not both");
      let session: { user_id: string; authMode: string; claims: Json };
      if (typeof config.jwtToken === "string") {
        const p = jwtPayload(config.jwtToken);
        if (!p || typeof p.sub !== "string") throw coreError("ConfigError", "bad_token", "client: jwtToken is not a JWT with a subject");
        session = { user_id: p.sub, authMode: "external", claims: p };
      } else if (typeof config.secret === "string") {
        session = { user_id: `lf-${config.secret.slice(0, 8)}`, authMode: "local-first", claims: {} };
      } else {
        session = { user_id: `anon-${++seq}`, authMode: "anonymous", claims: {} };
      }
      const db = fakeDb(config, session, () => ++seq);
      dbs.push(db);
      return db;
    },
  };
  return core;
}

function fakeDb(config: Json, session: { user_id: string; authMode: string; claims: Json }, nextId: () => number): FakeDb {
  const schema = new Map<string, { name: string; type: string; optional?: boolean }[]>();
  const rows = new Map<string, Map<string, Row>>();
  const subs = new Set<() => void>();
  const authListeners = new Set<(s: string) => void>();
  const errorListeners = new Set<(s: string) => void>();
  let authError: string | undefined;
  let hook: (() => Promise<string | null | undefined>) | null = null;
  let refreshing: Promise<void> | undefined;
  let closed = false;
  const calls: string[] = [];

  const live = () => {
    if (closed) throw coreError("ClosedError", "closed", "client: Db is closed");
  };
  const authJSON = () => JSON.stringify({ authMode: session.authMode, session, ...(authError ? { error: authError } : {}) });
  const authChanged = () => authListeners.forEach((l) => l(authJSON()));
  const table = (name: string) => {
    const cols = schema.get(name);
    if (!cols) throw coreError("ValidationError", "unknown_table", `schema: unknown table "${name}"`, { table: name });
    if (!rows.has(name)) rows.set(name, new Map());
    return { cols, rows: rows.get(name)! };
  };
  const run = (q: Query): Row[] => {
    const t = table(q.table);
    for (const c of JSON.stringify(q.where ?? true).matchAll(/"col":"([^"]+)"/g)) {
      if (!c[1]!.startsWith("$") && c[1] !== "id" && !t.cols.some((x) => x.name === c[1])) {
        throw coreError("ValidationError", "invalid_query", `query: ${q.table} has no column ${c[1]}`, { table: q.table, column: c[1] });
      }
    }
    let out = [...t.rows.values()].filter((r) => evalExpr(q.where, r));
    for (const o of [...(q.orderBy ?? [])].reverse()) {
      out.sort((a, b) => {
        const x = a[o.col] as any, y = b[o.col] as any;
        const c = x < y ? -1 : x > y ? 1 : 0;
        return o.desc ? -c : c;
      });
    }
    out = out.slice(q.offset ?? 0);
    return q.limit ? out.slice(0, q.limit) : out;
  };
  const denyAnonymous = (t: string, op: string) => {
    if (session.authMode === "anonymous") {
      throw coreError("AnonymousWriteDeniedError", "anonymous_write_denied", `policy: anonymous sessions cannot ${op} rows of "${t}"`, { table: t, operation: op });
    }
  };
  const changed = () => subs.forEach((s) => s());
  const now = () => Date.now();

  const db: FakeDb = {
    config,
    get closed() { return closed; },
    calls,
    useSchema(json) {
      live();
      calls.push(`useSchema`);
      for (const t of (JSON.parse(json) as { tables: { name: string; columns: { name: string; type: string; optional?: boolean }[] }[] }).tables) {
        const prev = schema.get(t.name);
        if (prev && JSON.stringify(prev) !== JSON.stringify(t.columns)) {
          throw coreError("ValidationError", "schema_conflict", `schema: table "${t.name}" is already registered with other columns`, { table: t.name });
        }
        schema.set(t.name, t.columns);
      }
    },
    async all(q) { live(); calls.push(`all ${q}`); return JSON.stringify(run(JSON.parse(q) as Query)); },
    async one(q) { live(); calls.push(`one ${q}`); return JSON.stringify(run(JSON.parse(q) as Query)[0] ?? null); },
    async insert(name, valuesJSON) {
      live();
      calls.push(`insert ${name} ${valuesJSON}`);
      denyAnonymous(name, "insert");
      const t = table(name);
      const values = JSON.parse(valuesJSON) as Json;
      for (const c of t.cols) {
        if (values[c.name] === undefined && !c.optional) {
          throw coreError("ValidationError", "validation", `schema: ${name}.${c.name}: required column is missing`, { table: name, column: c.name });
        }
      }
      const row: Row = { id: `row-${nextId()}`, ...values, $createdBy: session.user_id, $createdAt: now(), $updatedBy: session.user_id, $updatedAt: now() };
      for (const c of t.cols) row[c.name] ??= null;
      t.rows.set(row.id, row);
      changed();
      return JSON.stringify(row);
    },
    async update(name, id, patchJSON) {
      live();
      denyAnonymous(name, "update");
      const t = table(name);
      const old = t.rows.get(id);
      if (!old) throw coreError("NotFoundError", "not_found", `no row ${id} in ${name}`, { table: name });
      const row = { ...old, ...(JSON.parse(patchJSON) as Json), $updatedBy: session.user_id, $updatedAt: now() };
      t.rows.set(id, row);
      changed();
      return JSON.stringify(row);
    },
    async delete(name, id) {
      live();
      denyAnonymous(name, "delete");
      const t = table(name);
      if (!t.rows.delete(id)) throw coreError("NotFoundError", "not_found", `no row ${id} in ${name}`, { table: name });
      changed();
    },
    subscribe(qJSON, cb) {
      live();
      calls.push(`subscribe ${qJSON}`);
      const q = JSON.parse(qJSON) as Query;
      let prev = new Map<string, string>();
      let prevOrder: string[] = [];
      run(q); // throws now for a bad query, like the real core
      // Sends a delta as the real core does (see src/delta.ts): unchanged
      // rows stay, the others are deleted and inserted where they now are.
      const send = () => {
        const result = run(q);
        const next = new Map(result.map((r) => [r.id, JSON.stringify(r)]));
        const kept = (id: string) => prev.has(id) && prev.get(id) === next.get(id);
        const first = prev.size === 0 && !sent;
        const rows = result.filter((r) => !kept(r.id));
        const ref = new Map(rows.map((r, i) => [r.id, i]));
        const del = prevOrder.flatMap((id, i) => (kept(id) ? [] : [i])).reverse();
        const ins = result.flatMap((r, i) => (kept(r.id) ? [] : [[i, ref.get(r.id)!]]));
        const added = rows.filter((r) => !prev.has(r.id)).map((r) => ref.get(r.id)!);
        const updated = rows.filter((r) => prev.has(r.id)).map((r) => ref.get(r.id)!);
        const removed = prevOrder.filter((id) => !next.has(id));
        prev = next;
        prevOrder = result.map((r) => r.id);
        if (first || rows.length || removed.length) {
          cb(JSON.stringify({ rows, reset: false, steps: [{ del, ins }], added, updated, removed }));
        }
        sent = true;
      };
      let sent = false;
      let active = true;
      const listener = () => active && send();
      subs.add(listener);
      setTimeout(listener, 0);
      return () => {
        active = false;
        subs.delete(listener);
        calls.push(`unsubscribe ${qJSON}`);
      };
    },
    getAuthState() { live(); return authJSON(); },
    onAuthChanged(cb) {
      live();
      authListeners.add(cb);
      return () => void authListeners.delete(cb);
    },
    updateAuthToken(jwt) {
      live();
      if (jwt === null) throw coreError("AuthError", "null_token", "client: updateAuthToken(null) is not supported on a live Db");
      if (session.authMode !== "external") throw coreError("AuthError", "not_external", "client: updateAuthToken only applies to a Db created with jwtToken");
      const p = jwtPayload(jwt);
      if (!p || p.sub !== session.user_id) throw coreError("AuthError", "principal_changed", "client: the new token is for a different user");
      session = { ...session, claims: p };
      authError = undefined;
      authChanged();
    },
    onJWTExpired(h) { live(); hook = h; },
    onError(cb) {
      errorListeners.add(cb);
      return () => void errorListeners.delete(cb);
    },
    async getLocalFirstIdentityProof(ttl, audience) {
      live();
      if (session.authMode !== "local-first") throw coreError("AuthError", "not_local_first", "client: identity proofs need local-first auth");
      return `proof.${session.user_id}.${audience}.${ttl}`;
    },
    storageMode: () => "memory",
    storageName: () => "",
    async close() { closed = true; subs.clear(); },
    expire() {
      authError = "expired";
      authChanged();
      refreshing ??= (async () => {
        const token = hook ? await hook() : null;
        if (token) db.updateAuthToken(token);
      })().finally(() => (refreshing = undefined));
      return refreshing;
    },
    emitError(e) { errorListeners.forEach((l) => l(JSON.stringify(e))); },
  };
  return db;
}
