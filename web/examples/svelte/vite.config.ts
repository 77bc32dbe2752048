import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [svelte()],
  // jazz-tools finds its wasm next to its own module: keep it out of pre-bundling.
  optimizeDeps: { exclude: ["jazz-tools"] },
  // jazz-tools is linked from bindings/js, which has its own dev copy of Svelte: use the app's.
  resolve: { dedupe: ["svelte"] },
  build: { target: "es2022" },
  server: { host: "127.0.0.1", port: 5175 },
  preview: { host: "127.0.0.1", port: 5175 },
});
