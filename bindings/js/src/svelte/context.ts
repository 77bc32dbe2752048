import { getContext, setContext } from "svelte";
import type { JazzClient } from "../client.js";
import type { Db } from "../db.js";
import type { Session } from "../types.js";

const KEY = Symbol("jazz-tools/svelte");

/** @internal Called by JazzSvelteProvider. */
export function setJazzClient(client: JazzClient): void {
  setContext(KEY, client);
}

/** The client of the nearest JazzSvelteProvider (call during component init). */
export function getJazzClient(): JazzClient {
  const client = getContext<JazzClient | undefined>(KEY);
  if (!client) throw new Error("jazz-tools/svelte: getDb(), getSession(), getAuthState() and QuerySubscription need a <JazzSvelteProvider {client}> above this component");
  return client;
}

/** The Db of the nearest JazzSvelteProvider. */
export function getDb(): Db {
  const db = getJazzClient().getSnapshot().db;
  if (!db) throw new Error("jazz-tools/svelte: the Db is not ready; use Jazz helpers in components rendered inside <JazzSvelteProvider>'s children snippet");
  return db;
}

/**
 * The session at component init. A live Db never changes user (a new user
 * means a new client), so this is stable; getAuthState() follows auth
 * errors and claim refreshes reactively.
 */
export function getSession(): Session | null {
  return getDb().getAuthState().session;
}
