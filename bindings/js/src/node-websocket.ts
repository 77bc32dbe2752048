// Node 20 has no global WebSocket (22 has); the Go sync client needs one.
// The `ws` package, a dependency of jazz-tools, provides it there. It is
// imported through a variable specifier, so browser bundles never include
// it (browsers have a WebSocket and never reach the import).
import { ConfigError } from "./errors.js";

type Globals = { WebSocket?: unknown };
const g = globalThis as Globals;

/** Imports a module by a name bundlers and tsc do not resolve. */
export const nodeImport = (name: string): Promise<unknown> => import(/* @vite-ignore */ name);

/** Sets globalThis.WebSocket from `ws` when the runtime has none. `who` prefixes the error. */
export async function ensureWebSocket(who: string): Promise<void> {
  if (typeof g.WebSocket === "function") return;
  try {
    const ws = (await nodeImport("ws")) as { WebSocket?: unknown; default?: unknown };
    g.WebSocket = ws.WebSocket ?? ws.default;
  } catch (e) {
    throw new ConfigError(`${who}: this runtime has no WebSocket and the \`ws\` package could not be loaded; install ws or use Node >= 22`, { code: "wasm_load_failed", cause: e });
  }
  if (typeof g.WebSocket !== "function") throw new ConfigError(`${who}: the \`ws\` package did not provide a WebSocket`, { code: "wasm_load_failed" });
}
