// Batches and transactions: several writes that apply locally at once, go
// to the server as one push, and are applied there all or nothing. The
// writes are collected here and handed to the core in one call (core
// batch), so nothing is applied if the callback throws.
import type { DbHandle } from "./core.js";
import type { AnyQuery } from "./query.js";
import { JazzError, ValidationError } from "./errors.js";
import type { AnyTableRef, Insert, Patch, Row } from "./schema.js";

/** How far a batch must have got for `wait` to resolve. */
export type WaitTier = "local" | "edge";

/**
 * The most writes one batch may hold. A batch always goes to the server as
 * one push, and is never split (that would break its atomicity): write
 * more rows as several batches. A batch must also fit one 1 MiB frame,
 * which the core checks when it applies it.
 */
export const MAX_BATCH_WRITES = 1000;

/** What a batch or transaction callback writes with. */
export interface BatchWriter {
  /** Queues an insert; returns the values with the new row's id (the stored row, with its metadata, is in `result.rows`). */
  insert<T extends AnyTableRef>(table: T, values: Insert<T>): Insert<T> & { id: string };
  /** Queues an update of row id. */
  update<T extends AnyTableRef>(table: T, id: string, patch: Patch<T>): void;
  /** Queues a delete of row id. */
  delete<T extends AnyTableRef>(table: T, id: string): void;
  /** Queues an upsert of row `options.id`: an insert if it does not exist, else an update. */
  upsert<T extends AnyTableRef>(table: T, values: Insert<T>, options: { id: string }): void;
  /** Queues bringing deleted row id back with values. */
  restore<T extends AnyTableRef>(table: T, id: string, values: Insert<T>): void;
}

/** A transaction's writer: a BatchWriter that can also read, seeing its own writes. */
export interface Transaction extends BatchWriter {
  /** Rows matching query as they would be after the writes so far (which nobody else sees yet). */
  all<Q extends AnyQuery>(query: Q): Promise<Row<Q>[]>;
  /** The first row of all(query), or null. */
  one<Q extends AnyQuery>(query: Q): Promise<Row<Q> | null>;
}

/** A committed batch. */
export interface BatchResult {
  /** Names the batch; the server acknowledges or rejects it whole. */
  readonly batchId: string;
  /**
   * The rows as they read after the batch, one per write in order (null for
   * a delete), once it is applied locally and on disk. Rejects if the batch
   * was refused locally (nothing of it is applied then).
   */
  readonly rows: Promise<(Record<string, unknown> | null)[]>;
  /**
   * Resolves once the batch got as far as tier: "local" (applied locally
   * and on disk, the default) or "edge" (the server acknowledged it: every
   * write of it is stored there). Rejects with the typed error (e.g.
   * PermissionDeniedError) when the batch was refused, locally or by the
   * server; by then every write of it is rolled back.
   */
  wait(options?: { tier?: WaitTier }): Promise<void>;
}

/**
 * The one rule for how far a write must have got, for single writes and
 * batches alike: "local" once `applied` settles (applied locally and on
 * disk), "edge" once the server acknowledged `id` too (waitBatch, which
 * rejects with the server's typed rejection). `any` is false for a batch
 * with no writes, which has nothing to wait for.
 */
export async function waitForTier<T>(h: DbHandle, applied: Promise<T>, id: string, tier: WaitTier = "local", any = true): Promise<T> {
  if (tier !== "local" && tier !== "edge") {
    throw new ValidationError(`jazz-tools: wait takes { tier: "local" | "edge" }, not ${JSON.stringify(tier)}`, { code: "bad_argument" });
  }
  const v = await applied;
  if (tier === "edge" && any) {
    if (!h.waitBatch) throw new JazzError("jazz-tools: this core cannot wait for the server", { code: "unsupported" });
    await h.waitBatch(id);
  }
  return v;
}

/** Fresh ids (UUIDv7) from the core, fetched synchronously in chunks. */
export class IdPool {
  #ids: string[] = [];
  constructor(private readonly h: DbHandle) {}
  next(): string {
    if (this.#ids.length === 0) this.#ids = JSON.parse(this.h.newIds!(64)) as string[];
    return this.#ids.pop()!;
  }
}

export interface Op {
  kind: "insert" | "update" | "delete" | "upsert" | "restore";
  table: string;
  row: string;
  values?: Record<string, unknown>;
}

/** Collects a batch's writes; ids come from the core, synchronously. */
export class OpCollector implements BatchWriter {
  readonly ops: Op[] = [];
  /** The table of each op, to give its row its JavaScript types (TableRef.revive). */
  readonly refs: AnyTableRef[] = [];
  #closed = false;

  constructor(
    private readonly ids: IdPool,
    private readonly tableName: (t: AnyTableRef) => string,
  ) {}

  /** A fresh id (UUIDv7) from the core. */
  newId(): string {
    return this.ids.next();
  }

  #add(op: Op, ref: AnyTableRef): void {
    if (this.#closed) throw new ValidationError("jazz-tools: this batch is already committed or abandoned", { code: "batch_closed" });
    if (this.ops.length >= MAX_BATCH_WRITES) {
      throw new ValidationError(`jazz-tools: a batch holds at most ${MAX_BATCH_WRITES} writes; write more rows as several batches`, {
        code: "batch_too_large",
      });
    }
    this.ops.push(op);
    this.refs.push(ref);
  }

  close(): void {
    this.#closed = true;
  }

  insert<T extends AnyTableRef>(table: T, values: Insert<T>): Insert<T> & { id: string } {
    const id = this.newId();
    this.#add({ kind: "insert", table: this.tableName(table), row: id, values: values as Record<string, unknown> }, table);
    return { ...values, id };
  }

  update<T extends AnyTableRef>(table: T, id: string, patch: Patch<T>): void {
    this.#add({ kind: "update", table: this.tableName(table), row: id, values: patch as Record<string, unknown> }, table);
  }

  delete<T extends AnyTableRef>(table: T, id: string): void {
    this.#add({ kind: "delete", table: this.tableName(table), row: id }, table);
  }

  upsert<T extends AnyTableRef>(table: T, values: Insert<T>, options: { id: string }): void {
    this.#add({ kind: "upsert", table: this.tableName(table), row: options.id, values: values as Record<string, unknown> }, table);
  }

  restore<T extends AnyTableRef>(table: T, id: string, values: Insert<T>): void {
    this.#add({ kind: "restore", table: this.tableName(table), row: id, values: values as Record<string, unknown> }, table);
  }
}
