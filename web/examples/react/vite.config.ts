import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  // jazz-tools finds its wasm next to its own module: keep it out of pre-bundling.
  optimizeDeps: { exclude: ["jazz-tools"] },
  // jazz-tools is linked from bindings/js, which has its own dev copy of React: use the app's.
  resolve: { dedupe: ["react", "react-dom"] },
  build: { target: "es2022" },
  server: { host: "127.0.0.1", port: 5173 },
  preview: { host: "127.0.0.1", port: 5173 },
});
