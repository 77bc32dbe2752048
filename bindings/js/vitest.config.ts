import { fileURLToPath } from "node:url";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vitest/config";

const src = (p: string) => fileURLToPath(new URL(`./src/${p}`, import.meta.url));

export default defineConfig({
  plugins: [
    vue(),
    svelte({
      compilerOptions: { dev: true },
      // The seed snippet reads session state once on purpose (a live Db never changes user).
      onwarn: (w, handle) => void (w.code === "state_referenced_locally" && w.filename?.includes("test/seeds/") ? 0 : handle(w)),
    }),
  ],
  resolve: {
    // Svelte's client runtime (mount) rather than its server build.
    conditions: ["browser"],
    // The seed snippets import the package by name; test the sources.
    alias: [
      { find: /^jazz-tools$/, replacement: src("index.ts") },
      { find: /^jazz-tools\/react$/, replacement: src("react/index.tsx") },
      { find: /^jazz-tools\/vue$/, replacement: src("vue/index.ts") },
      { find: /^jazz-tools\/svelte$/, replacement: src("svelte/index.ts") },
    ],
  },
  test: {
    include: ["test/**/*.test.{ts,tsx}"],
    testTimeout: 20_000,
  },
});
