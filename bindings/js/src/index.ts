// jazz-tools: the typed Db over the Go core, the schema/query/permissions
// DSL, and the framework-agnostic stores the adapters share.
export { schema } from "./schema.js";
export type {
  AnyApp, AnyColumn, AnyTableRef, App, AppSchema, Column, ColumnJSON, ColumnName, ColumnType, Columns,
  Insert, InsertOf, MagicColumns, Operators, Patch, Row, RowOf, SchemaJSON, Table, TableJSON, TableRef, WhereInput,
} from "./schema.js";
export type { AnyQuery, Query, QueryJSON } from "./query.js";
export type { ExprJSON, Operand } from "./expr.js";
export type {
  AllowedTo, ClaimValue, Condition, PermissionsDSL, Permissions, PolicyCondition, PolicyRow, RuleBuilder, SessionDSL,
  SessionValue, TablePolicyBuilder, TablePolicyJSON, UpdateRuleBuilder,
} from "./permissions.js";
export type { RowColumnRef } from "./expr.js";
export type { Bundle } from "./bundle.js";
export { createDb, Db } from "./db.js";
export type { DbConfig, JWTExpiredHook, QueryChange, ReadOptions, ReadTier } from "./db.js";
export { MAX_BATCH_WRITES } from "./batch.js";
export type { BatchResult, BatchWriter, Transaction, WaitTier } from "./batch.js";
export type { AuthErrorReason, AuthMode, AuthState, Session, SyncConnection, SyncState } from "./types.js";
export {
  AnonymousWriteDeniedError, AuthError, ClosedError, ConfigError, ConflictError, fromCoreError, InternalError,
  JazzError, NotFoundError, PermissionDeniedError, StorageError, SyncError, ValidationError,
} from "./errors.js";
export type { JazzErrorOptions, Operation } from "./errors.js";
export {
  clearLocalFirstSecret, DEFAULT_SECRET_NAMESPACE, getLocalFirstSecret, isLocalFirstSecret, newLocalFirstSecret,
  peekLocalFirstSecret, setLocalFirstSecret,
} from "./local-first.js";
export type { SecretOptions, SecretStorage } from "./local-first.js";
export { configureWasm, loadCore } from "./loader.js";
export type { WasmOptions } from "./loader.js";
export { createJazzClient } from "./client.js";
export type { ClientState, JazzClient } from "./client.js";
export { authStore, authView, createQueryStore, queryKeyOf, syncStateStore } from "./subscription.js";
export type { AuthView, QuerySnapshot, Store } from "./subscription.js";
export type { DbHandle, JazzCore, CoreError, CoreErrorName } from "./core.js";
