#!/usr/bin/env node
// The user-path benchmarks (scenarios.mjs) through the npm package's own
// client in Node: createDb from the built package's main entry (not the
// backend build), with the same jazz.wasm a browser loads, memory storage,
// against the real sync server (the jazz-tools binary: bbolt, fsync) in
// another process. Prints Go benchmark lines named BenchmarkNode<scenario>
// on stdout (tools/benchreport parses them) and a summary on stderr.
//
// Every client of a run, the 50 fan-out subscribers included, is a Db in
// one worker thread (node-worker.mjs), so they share one core and one event
// loop as a browser's tabs do not (each tab has its own); the figures
// include that sharing. The driver here only sends calls and keeps the
// deadlines.
//
// Environment: SIZES (5000,25000: comma-separated row counts), SAMPLES (200),
// FANOUT (50), RUNS (3: each with a fresh server and worker; benchreport
// takes the medians), TIMEOUT_S (120: each scenario's deadline), plus
// lib/harness.mjs's.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { artifact, checkFresh, cleanup, ROOT, startServer, tempDir, writeBundle } from "../lib/harness.mjs";
import { runScenarios } from "./scenarios.mjs";

checkFresh();
const dir = tempDir("jazz-node-bench-");
const bundle = await writeBundle(dir);
let runNo = 0;

/** Starts node-worker.mjs; call(method, ...args) runs a clientside.js method in it. */
async function startWorker() {
  const worker = new Worker(new URL("./node-worker.mjs", import.meta.url), { workerData: { root: ROOT, dist: artifact().dist } });
  const pending = new Map();
  let next = 0;
  let failed = null;
  const fail = (e) => {
    failed = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.on("error", fail);
  worker.on("exit", (code) => fail(new Error(`bench: the client worker exited (${code})`)));
  await new Promise((resolve, reject) => {
    worker.on("message", (msg) => {
      if (msg.ready) return resolve();
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(msg.error));
      else p?.resolve(msg.value);
    });
    worker.once("error", reject);
  });
  return {
    call(method, ...args) {
      if (failed) return Promise.reject(failed);
      const id = ++next;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, method, args });
      });
    },
    terminate: () => worker.terminate(),
  };
}

/** A fresh server and user, and a fresh worker whose Dbs are that user's devices. */
async function newRun() {
  const appId = "bench-node";
  const secret = randomBytes(32).toString("base64url");
  const backendSecret = randomBytes(16).toString("base64url");
  const server = await startServer({ appId, dataDir: join(dir, `data-${++runNo}`), bundle, backendSecret });
  const w = await startWorker();
  return {
    serverUrl: server.url,
    appId,
    backendSecret,
    async client(role, { server: synced = true } = {}) {
      const cfg = synced ? { appId, secret, serverUrl: server.url, storage: "memory" } : { appId: `bench-${role}`, secret, storage: "memory" };
      await w.call("open", role, cfg);
      return {
        role,
        db: (m, ...args) => w.call(m, role, ...args),
        s: (m, ...args) => w.call(m, ...args),
        close: () => w.call("close", role),
      };
    },
    async close() {
      // After a timeout the worker may be too busy to close its Dbs.
      await Promise.race([w.call("closeAll"), new Promise((r) => setTimeout(r, 5000))]).catch(() => {});
      await w.terminate();
      await server.stop();
    },
  };
}

try {
  await runScenarios(
    { name: "node", prefix: "BenchmarkNode", newRun },
    {
      sizes: (process.env.SIZES || "5000,25000").split(",").map(Number),
      samples: Number(process.env.SAMPLES || 200),
      fanout: Number(process.env.FANOUT || 50),
      runs: Number(process.env.RUNS || 3),
      timeoutMs: Number(process.env.TIMEOUT_S || 120) * 1000,
    },
  );
} finally {
  cleanup(dir);
}
process.exit(0);
