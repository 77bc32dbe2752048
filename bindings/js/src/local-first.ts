// Local-first secret storage. The secret is the account: 32 random bytes,
// base64url without padding, from which the core derives the user's key and
// id. It lives in localStorage under a key namespaced by app id.
import { ConfigError } from "./errors.js";
import type { JazzCore } from "./core.js";

/** The minimal Storage surface used here (localStorage fits). */
export interface SecretStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface SecretOptions {
  /** Defaults to localStorage, or an in-memory store where it is unavailable (SSR, some private modes). */
  storage?: SecretStorage;
}

/** The namespace used by useLocalFirstAuth() when no app id is given. */
export const DEFAULT_SECRET_NAMESPACE = "default";

const SECRET = /^[A-Za-z0-9_-]{43}$/;
const memory = new Map<string, string>();
const memoryStorage: SecretStorage = {
  getItem: (k) => memory.get(k) ?? null,
  setItem: (k, v) => void memory.set(k, v),
  removeItem: (k) => void memory.delete(k),
};

function defaultStorage(): SecretStorage {
  try {
    // Reading the property itself throws in some sandboxed iframes.
    const ls = (globalThis as { localStorage?: SecretStorage }).localStorage;
    if (ls && typeof ls.getItem === "function") return ls;
  } catch {
    // fall through to memory
  }
  return memoryStorage;
}

function storageKey(appId: string): string {
  return `jazz-tools:local-first-secret:${appId}`;
}

function attempt<T>(fn: () => T, fallback: () => T): T {
  try {
    return fn();
  } catch {
    return fallback(); // a full or denied localStorage must not break sign-in
  }
}

/** Whether s has the secret format: 43 base64url characters (32 bytes, no padding). */
export function isLocalFirstSecret(s: unknown): s is string {
  return typeof s === "string" && SECRET.test(s);
}

/** A new secret: from the core when it is loaded, else from Web Crypto, in the same format. */
export function newLocalFirstSecret(): string {
  const core = (globalThis as { __jazzCore?: JazzCore }).__jazzCore;
  if (core) return core.newSecret();
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The stored secret for appId, or null; never creates one. */
export function peekLocalFirstSecret(appId: string, options: SecretOptions = {}): string | null {
  const storage = options.storage ?? defaultStorage();
  const key = storageKey(appId);
  // Memory holds what a failing storage could not keep.
  const v = attempt(() => storage.getItem(key), () => null) ?? memoryStorage.getItem(key);
  return isLocalFirstSecret(v) ? v : null;
}

/**
 * The device's secret for appId: read from storage, or created and stored.
 * A stored value that is not a valid secret could never have produced an
 * identity, so it is replaced.
 */
export function getLocalFirstSecret(appId: string, options: SecretOptions = {}): string {
  const existing = peekLocalFirstSecret(appId, options);
  if (existing) return existing;
  const secret = newLocalFirstSecret();
  setLocalFirstSecret(appId, secret, options);
  return secret;
}

/** Stores secret for appId (e.g. restoring an account on a new device). */
export function setLocalFirstSecret(appId: string, secret: string, options: SecretOptions = {}): void {
  if (!isLocalFirstSecret(secret)) {
    throw new ConfigError("setLocalFirstSecret: a secret is 43 base64url characters (32 bytes, no padding)", { code: "bad_secret" });
  }
  const storage = options.storage ?? defaultStorage();
  const key = storageKey(appId);
  attempt(() => storage.setItem(key, secret), () => memoryStorage.setItem(key, secret));
}

/** Forgets the secret for appId. Without another copy (or a linked auth provider) the identity is lost. */
export function clearLocalFirstSecret(appId: string, options: SecretOptions = {}): void {
  const storage = options.storage ?? defaultStorage();
  const key = storageKey(appId);
  attempt(() => storage.removeItem(key), () => undefined);
  memoryStorage.removeItem(key);
}
