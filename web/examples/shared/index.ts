export { app, permissions } from "./schema.ts";
export * from "./config.ts";
export * from "./auth.ts";
