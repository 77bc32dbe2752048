// Svelte 5 adapter. Ships as source for the app's Svelte compiler: the
// component (.svelte) and the rune modules (.svelte.js) are compiled by
// vite-plugin-svelte like the app's own files, through the "svelte" export
// condition, so they always match the app's Svelte version.
import type { Component, Snippet } from "svelte";
import type { JazzClient } from "../client.js";
import type { Db } from "../db.js";
import Provider from "./JazzSvelteProvider.svelte";

export interface JazzSvelteProviderProps {
  client: JazzClient;
  children: Snippet<[{ db: Db }]>;
  fallback?: Snippet;
}

/** `<JazzSvelteProvider {client}>{#snippet children({ db })}...{/snippet}</JazzSvelteProvider>` */
export const JazzSvelteProvider: Component<JazzSvelteProviderProps> = Provider;

export { createJazzClient } from "../client.js";
export type { JazzClient } from "../client.js";
export type { AuthView } from "../subscription.js";
export { getAuthState, getSyncState } from "./auth.svelte.js";
export { getDb, getJazzClient, getSession } from "./context.js";
export { QuerySubscription } from "./query.svelte.js";
