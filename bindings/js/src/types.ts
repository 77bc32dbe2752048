// Auth and session shapes shared by the Db and every adapter.

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
