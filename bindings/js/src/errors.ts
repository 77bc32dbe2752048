// Typed errors. The wasm core rejects with plain Error objects carrying a
// stable `name` and `code` (see core.d.ts); fromCoreError turns them into
// instances of these classes so callers can use `instanceof`.
import type { CoreError, CoreErrorName } from "./core.js";

/** The operation a denial or write error refers to. */
export type Operation = "insert" | "update" | "delete" | "read";

export interface JazzErrorOptions {
  code?: string;
  table?: string;
  operation?: Operation;
  column?: string;
  cause?: unknown;
}

/** Base class of every error this package throws or rejects with. */
export class JazzError extends Error {
  /** Stable snake_case code from the core, e.g. "anonymous_write_denied". */
  readonly code: string;
  declare readonly table?: string;
  declare readonly operation?: Operation;
  declare readonly column?: string;

  constructor(message: string, options: JazzErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? "internal";
    // Only the fields the core sent become own properties.
    const self = this as { -readonly [K in "table" | "operation" | "column"]?: JazzError[K] };
    if (options.table !== undefined) self.table = options.table;
    if (options.operation !== undefined) self.operation = options.operation;
    if (options.column !== undefined) self.column = options.column;
  }
}

// Names live on the prototype, not on constructor.name, so minified builds keep them.
function named<T extends { prototype: Error }>(cls: T, name: CoreErrorName | "JazzError"): T {
  Object.defineProperty(cls.prototype, "name", { value: name, writable: true, configurable: true });
  return cls;
}
named(JazzError, "JazzError");

/** A write by an anonymous session; refused before any policy runs. */
export class AnonymousWriteDeniedError extends JazzError {
  declare readonly table: string;
  declare readonly operation: Operation;
}
named(AnonymousWriteDeniedError, "AnonymousWriteDeniedError");

/** A read or write refused by the table's permission policy. */
export class PermissionDeniedError extends JazzError {
  declare readonly table: string;
  declare readonly operation: Operation;
}
named(PermissionDeniedError, "PermissionDeniedError");

/** A write or schema that does not fit the app's schema. */
export class ValidationError extends JazzError {
  declare readonly table: string;
}
named(ValidationError, "ValidationError");

/**
 * An update or delete of a row that does not exist or that the session may not
 * read: the two are one answer, so errors never tell which rows exist.
 */
export class NotFoundError extends JazzError {}
named(NotFoundError, "NotFoundError");

export class ConflictError extends JazzError {}
named(ConflictError, "ConflictError");

/** A bad DbConfig (e.g. both `secret` and `jwtToken`), or the wasm could not be loaded. */
export class ConfigError extends JazzError {}
named(ConfigError, "ConfigError");

/** Auth problems: updateAuthToken with another principal, a bad proof, ... */
export class AuthError extends JazzError {}
named(AuthError, "AuthError");

/** The Db was closed. */
export class ClosedError extends JazzError {}
named(ClosedError, "ClosedError");

/**
 * Local storage (IndexedDB) stopped accepting writes, e.g. the disk is full.
 * Reported through onError; the Db keeps working in memory (storageMode turns
 * "memory") and still syncs, but changes from then on do not survive a reload.
 */
export class StorageError extends JazzError {}
named(StorageError, "StorageError");

/**
 * Why syncing does not work, in SyncState.error and reported to onError once
 * per problem. `code` says which, and the message what to do:
 * "unreachable" (nothing answers at serverUrl; retried), "wrong_server" (it
 * answers, but not as a jazz-tools sync server: a serverUrl with a path,
 * another web server; retried), "no_bundle" (the server has no schema
 * deployed for the app), "unknown_app" (the server does not serve appId;
 * sync stops) and "protocol_version" (package and server versions differ;
 * sync stops).
 */
export class SyncError extends JazzError {}
named(SyncError, "SyncError");

/** A bug in the core; the instance keeps working. */
export class InternalError extends JazzError {}
named(InternalError, "InternalError");

const classes: Record<CoreErrorName, new (message: string, options?: JazzErrorOptions) => JazzError> = {
  AnonymousWriteDeniedError,
  PermissionDeniedError,
  ValidationError,
  NotFoundError,
  ConflictError,
  ConfigError,
  AuthError,
  ClosedError,
  StorageError,
  SyncError,
  InternalError,
};

/**
 * Converts what the core rejected with (a CoreError, or the plain
 * `{name, code, message, ...}` object that onError reports) into the matching
 * JazzError subclass. JazzErrors pass through; other Errors (a TypeError from
 * app code, say) are returned unchanged; anything else becomes a JazzError.
 */
export function fromCoreError(e: unknown): Error {
  if (e instanceof JazzError) return e;
  if (typeof e === "object" && e !== null) {
    const c = e as Partial<CoreError>;
    const cls = typeof c.name === "string" ? classes[c.name as CoreErrorName] : undefined;
    if (cls && Object.hasOwn(classes, c.name as string)) {
      const opts: JazzErrorOptions = { code: typeof c.code === "string" ? c.code : "internal" };
      if (typeof c.table === "string") opts.table = c.table;
      if (typeof c.operation === "string") opts.operation = c.operation;
      if (typeof c.column === "string") opts.column = c.column;
      if (e instanceof Error) opts.cause = e;
      return new cls(String(c.message ?? c.name), opts);
    }
    if (e instanceof Error) return e;
  }
  return new JazzError(typeof e === "string" ? e : "unknown error from the Jazz core", { cause: e });
}
