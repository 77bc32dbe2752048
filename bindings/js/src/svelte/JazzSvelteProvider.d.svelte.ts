// Types of JazzSvelteProvider.svelte for tsc (svelte-check reads the component itself).
import type { Component, Snippet } from "svelte";
import type { JazzClient } from "../client.js";
import type { Db } from "../db.js";

declare const JazzSvelteProvider: Component<{ client: JazzClient; children: Snippet<[{ db: Db }]>; fallback?: Snippet }>;
export default JazzSvelteProvider;
