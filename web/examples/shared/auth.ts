// Framework-agnostic auth plumbing shared by the three apps: which mode the
// user chose (persisted), the dev issuer's endpoints (sign in, sign up with
// a local-first identity proof, refresh, sign out), the onJWTExpired hook
// with its visible log, and a counter that numbers Db instances.
import type { Db, DbConfig } from "jazz-tools";
import { APP_ID, issuerUrl, serverUrl } from "./config.ts";

export type Mode = "local-first" | "anonymous" | "external";

/** The user's choice: local-first (default), anonymous, or external with the issuer's JWT. */
export interface AuthChoice {
  readonly mode: Mode;
  /** The JWT the Db was created with (external mode); refreshed tokens do not change it. */
  readonly jwt: string | null;
}

const CHOICE_KEY = "jazz-examples:auth";
const JWT_KEY = "jazz-examples:jwt"; // the latest JWT, refreshed ones included (used on reload)

/** A tiny store (subscribe/getSnapshot), the shape every framework can render from. */
export interface Store<T> {
  getSnapshot(): T;
  subscribe(listener: () => void): () => void;
}

function store<T>(initial: T): Store<T> & { set(v: T): void } {
  let value = initial;
  const listeners = new Set<() => void>();
  return {
    getSnapshot: () => value,
    subscribe(l) {
      listeners.add(l);
      return () => void listeners.delete(l);
    },
    set(v) {
      value = v;
      for (const l of [...listeners]) l();
    },
  };
}

function readChoice(): AuthChoice {
  try {
    const c = JSON.parse(localStorage.getItem(CHOICE_KEY) ?? "null") as AuthChoice | null;
    if (c && (c.mode === "anonymous" || c.mode === "local-first")) return { mode: c.mode, jwt: null };
    if (c?.mode === "external") {
      const jwt = localStorage.getItem(JWT_KEY);
      if (jwt) return { mode: "external", jwt };
    }
  } catch {
    // a broken value falls back to the default
  }
  return { mode: "local-first", jwt: null };
}

const choiceStore = store<AuthChoice>(readChoice());

/** The current auth choice; changing it (sign in/out/up, anonymous) recreates the Db. */
export const authChoice: Store<AuthChoice> = choiceStore;

function choose(c: AuthChoice): void {
  localStorage.setItem(CHOICE_KEY, JSON.stringify({ mode: c.mode }));
  if (c.jwt) localStorage.setItem(JWT_KEY, c.jwt);
  else localStorage.removeItem(JWT_KEY);
  choiceStore.set(c);
}

/** The Db config for a choice: a provider key change (mode or JWT) gives a fresh Db. */
export function dbConfig(choice: AuthChoice, secret: string | null): DbConfig {
  const base = { appId: APP_ID, serverUrl };
  if (choice.mode === "external") return { ...base, jwtToken: choice.jwt };
  if (choice.mode === "local-first") return { ...base, secret };
  return base;
}

/** A key that changes exactly when the Db must be recreated. */
export function providerKey(choice: AuthChoice): string {
  return choice.mode === "external" ? `external:${jwtSubject(choice.jwt)}:${choice.jwt?.slice(-12)}` : choice.mode;
}

/** The payload of a JWT (not verified: for display). */
export function jwtPayload(jwt: string | null): Record<string, unknown> {
  if (!jwt) return {};
  try {
    const b64 = jwt.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(b64)) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export function jwtSubject(jwt: string | null): string | null {
  const sub = jwtPayload(jwt).sub;
  return typeof sub === "string" ? sub : null;
}

async function post(path: string, body?: unknown): Promise<{ token: string; sub: string }> {
  const res = await fetch(`${issuerUrl}${path}`, {
    method: "POST",
    credentials: "include", // the issuer's refresh cookie
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json().catch(() => ({}))) as { token?: string; sub?: string; error?: string };
  if (!res.ok || !json.token) throw new Error(`issuer ${path}: ${json.error ?? `HTTP ${res.status}`}`);
  return { token: json.token, sub: json.sub ?? "" };
}

/** Signs in with the dev issuer (external JWT); the issuer also sets a refresh cookie. */
export async function signIn(username: string): Promise<void> {
  const { token } = await post("/sign-in", { username });
  authLog.set([]);
  choose({ mode: "external", jwt: token });
}

/**
 * Signs up from local-first, keeping the identity: the Db proves it holds
 * the local-first key, the issuer verifies the proof and issues JWTs whose
 * sub is the same user_id, so the user keeps their id and their rows.
 */
export async function signUp(db: Db, username: string): Promise<void> {
  const proof = await db.getLocalFirstIdentityProof({ audience: issuerUrl, ttlSeconds: 60 });
  const { token } = await post("/sign-up", { proof, username });
  authLog.set([]);
  choose({ mode: "external", jwt: token });
}

/** Signs out of the issuer (drops the refresh cookie) and goes back to local-first. */
export async function signOut(): Promise<void> {
  await fetch(`${issuerUrl}/sign-out`, { method: "POST", credentials: "include" }).catch(() => undefined);
  authLog.set([]);
  choose({ mode: "local-first", jwt: null });
}

export function switchToLocalFirst(): void {
  if (authChoice.getSnapshot().mode === "external") void signOut();
  else choose({ mode: "local-first", jwt: null });
}

export function browseAnonymously(): void {
  if (authChoice.getSnapshot().mode === "external") {
    void fetch(`${issuerUrl}/sign-out`, { method: "POST", credentials: "include" }).catch(() => undefined);
  }
  choose({ mode: "anonymous", jwt: null });
}

export interface LogEntry {
  /** Wall-clock time (ms) the entry was made. */
  readonly at: number;
  /** "refresh": one onJWTExpired call (updated when it ends); "auth-error": the server refused the credentials. */
  readonly kind: "refresh" | "auth-error";
  /** refresh: "pending" | "ok" | "failed"; auth-error: the reason ("expired", ...). */
  readonly status: string;
  readonly detail: string;
  /** When a refresh ended (ms). */
  readonly endedAt?: number;
}

const authLog = store<readonly LogEntry[]>([]);

/** What happened to the session's credentials: every onJWTExpired call, and every auth error the server reported. */
export const refreshes: Store<readonly LogEntry[]> = authLog;

function logEntry(e: LogEntry): number {
  authLog.set([...authLog.getSnapshot(), e]);
  return authLog.getSnapshot().length - 1;
}

function updateEntry(i: number, patch: Partial<LogEntry>): void {
  const next = [...authLog.getSnapshot()];
  if (next[i]) next[i] = { ...next[i]!, ...patch };
  authLog.set(next);
}

/** Logs every auth error the Db reports (the apps call it once per Db). Returns the stop function. */
export function watchAuthErrors(db: Db): () => void {
  let last: string | undefined = db.getAuthState().error;
  return db.onAuthChanged((s) => {
    if (s.error && s.error !== last) logEntry({ at: Date.now(), kind: "auth-error", status: s.error, detail: `the server says the session is ${s.error}` });
    last = s.error;
  });
}

/**
 * The onJWTExpired hook: the core calls it (single-flight) when the server
 * says the JWT expired, or shortly before it does. It asks the issuer for a
 * fresh JWT for the same user with the refresh cookie set at sign-in. The
 * new token is kept for reloads, but the provider's config keeps the old
 * one: same user, same Db.
 */
export async function fetchFreshJwt(): Promise<string | null> {
  const i = logEntry({ at: Date.now(), kind: "refresh", status: "pending", detail: "asking the issuer for a fresh JWT…" });
  try {
    const { token } = await post("/refresh");
    localStorage.setItem(JWT_KEY, token);
    const exp = Number(jwtPayload(token).exp);
    updateEntry(i, { status: "ok", endedAt: Date.now(), detail: `new JWT, expires ${new Date(exp * 1000).toLocaleTimeString()}` });
    return token;
  } catch (e) {
    updateEntry(i, { status: "failed", endedAt: Date.now(), detail: String((e as Error).message ?? e) });
    return null;
  }
}

/** How the apps show a log entry. */
export function describeEntry(e: LogEntry): string {
  const t = new Date(e.at).toLocaleTimeString();
  if (e.kind === "auth-error") return `${t} ⚠ ${e.detail}`;
  const mark = e.status === "ok" ? "✓" : e.status === "failed" ? "✗" : "…";
  return `${t} onJWTExpired ${mark} ${e.detail}`;
}

/** Posts to the issuer's backend route, authenticated as the current user. */
export async function announce(text: string): Promise<void> {
  const jwt = localStorage.getItem(JWT_KEY);
  const res = await fetch(`${issuerUrl}/api/announce`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(jwt ? { authorization: `Bearer ${jwt}` } : {}) },
    body: JSON.stringify({ text }),
  });
  if (!res.ok) {
    const j = (await res.json().catch(() => ({}))) as { error?: string };
    throw new Error(`announce: ${j.error ?? `HTTP ${res.status}`}`);
  }
}

const instances = new WeakMap<Db, number>();
let lastInstance = 0;

/** A number per Db instance, to show that a provider key change gives a fresh Db. */
export function instanceNumber(db: Db): number {
  let n = instances.get(db);
  if (n === undefined) instances.set(db, (n = ++lastInstance));
  return n;
}

/** `Name: message` of an error, as the apps show it. */
export function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** A short form of a user id for display. */
export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : "—";
}
