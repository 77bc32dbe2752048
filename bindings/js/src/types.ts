// Auth, session and sync shapes shared by the Db and every adapter.
import type { SyncError } from "./errors.js";

export type AuthMode = "anonymous" | "local-first" | "external";

/** Who is acting. `claims` holds the token's payload (external auth) or is empty. */
export interface Session {
  user_id: string;
  authMode: AuthMode;
  claims: Record<string, unknown>;
}

/** Why the server refused the current credentials. */
export type AuthErrorReason = "expired" | "missing" | "invalid" | "disabled";

/**
 * Flat auth state: `error` signals trouble; `authMode` and the last known
 * `session` stay available while it is set.
 */
export interface AuthState {
  authMode: AuthMode;
  session: Session | null;
  error?: AuthErrorReason;
}

/**
 * The Db's link to the server: "connecting" (dialing, or waiting for the
 * server's welcome), "online", "offline" (a reconnect is scheduled, or the
 * Db has no serverUrl), "paused" (the server refused the credentials; see
 * AuthState.error) or "stopped" (a fatal error, or close()).
 */
export type SyncConnection = "connecting" | "online" | "offline" | "paused" | "stopped";

/**
 * What an app shows about syncing. The same object until something changes;
 * in every tab of the app the same state (other tabs show the leader's, the
 * tab that talks to the server).
 */
export interface SyncState {
  connection: SyncConnection;
  /** Local writes the server has not acknowledged (or rejected) yet, across the app's tabs. */
  pendingWrites: number;
  /** When the server last acknowledged writes, or null before the first. */
  lastAckedAt: Date | null;
  /** Why syncing does not work, null when it does; cleared once online again. */
  error: SyncError | null;
}
