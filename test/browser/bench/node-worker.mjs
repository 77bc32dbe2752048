// The clients of one node.mjs run: a worker thread holding the package (its
// main entry, the same jazz.wasm a browser loads) and clientside.js, called
// over postMessage ({id, method, args} -> {id, value} or {id, error}). A
// worker, so the driver's deadlines hold even while the core keeps this
// thread busy, and a run that timed out ends by terminating it.
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parentPort, workerData } from "node:worker_threads";
import { clientSide } from "./clientside.js";

const { root, dist } = workerData;
// Node 20 has no global WebSocket; the package depends on ws.
globalThis.WebSocket ??= createRequire(join(root, "bindings/js/package.json"))("ws");
const jazz = await import(pathToFileURL(join(dist, "index.js")).href);
const { defineTodos } = await import(pathToFileURL(join(root, "test/browser/page/schema.js")).href);
const S = clientSide(jazz, defineTodos(jazz.schema).app);

parentPort.on("message", async ({ id, method, args }) => {
  try {
    parentPort.postMessage({ id, value: await S[method](...args) });
  } catch (e) {
    parentPort.postMessage({ id, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  }
});
parentPort.postMessage({ ready: true });
