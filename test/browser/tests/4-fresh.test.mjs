// The artifact under test is fresh: its BUILD_ID matches the current Go
// sources, a stale one is refused (by the same check test.sh and bench.sh
// run first), and the page runs exactly that jazz.wasm, found by the built
// package next to its own module (no configureWasm).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { artifact, checkFresh, cleanup, currentBuildId, inWorld, openPage, sha256, TB, tempDir } from "../lib/harness.mjs";

test("the artifact's BUILD_ID matches the current sources", () => {
  const { wasmDir } = artifact();
  assert.equal(readFileSync(join(wasmDir, "BUILD_ID"), "utf8").trim(), currentBuildId());
  assert.equal(checkFresh(), currentBuildId());
  const sizes = JSON.parse(readFileSync(join(wasmDir, "SIZES.json"), "utf8"));
  assert.equal(sizes.buildId, currentBuildId(), "SIZES.json was measured on this build");
});

test("a stale or unstamped artifact is refused (bin/check-fresh.mjs exits 1)", () => {
  const { dist, wasmDir } = artifact();
  const dir = tempDir("jazz-stale-");
  try {
    cpSync(wasmDir, join(dir, "wasm"), { recursive: true });
    writeFileSync(join(dir, "wasm/BUILD_ID"), "0123456789abcdef0123456789abcdef\n");
    assert.throws(() => checkFresh({ dist, wasmDir: join(dir, "wasm") }), /stale.*built from 0123456789abcdef/s);
    const r = spawnSync(process.execPath, [join(TB, "bin/check-fresh.mjs")], { env: { ...process.env, JAZZ_WASM_DIR: join(dir, "wasm") }, encoding: "utf8" });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /refusing to run/);
    rmSync(join(dir, "wasm/BUILD_ID"));
    assert.throws(() => checkFresh({ dist, wasmDir: join(dir, "wasm") }), /BUILD_ID is missing/);
    assert.throws(() => checkFresh({ dist: join(dir, "nodist"), wasmDir }), /index\.js is missing/);
  } finally {
    cleanup(dir);
  }
  // And the real one passes the same command.
  assert.match(execFileSync(process.execPath, [join(TB, "bin/check-fresh.mjs")], { encoding: "utf8" }), /artifact is fresh/);
});

test("the page runs the checked jazz.wasm, loaded by the built package from its default URL", async () => {
  checkFresh();
  const { wasmDir } = artifact();
  await inWorld("fresh", async (w) => {
    const b = await w.launch();
    const page = await openPage(b.ctx, w.pageUrl);
    await page.evaluate((c) => T.open("db", c), { appId: w.appId, storage: "memory" });
    const got = await page.evaluate(async () => {
      const wasm = performance.getEntriesByType("resource").map((e) => new URL(e.name).pathname).filter((p) => p.endsWith(".wasm"));
      const buf = await (await fetch("/jazz/wasm/jazz.wasm")).arrayBuffer();
      const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-256", buf))].map((x) => x.toString(16).padStart(2, "0")).join("");
      const core = await T.jazz.loadCore();
      return { wasm, hex, version: core.version };
    });
    assert.deepEqual(got.wasm, ["/jazz/wasm/jazz.wasm"]);
    assert.equal(got.hex, sha256(join(wasmDir, "jazz.wasm")));
    assert.ok(w.web.state.requests.includes("/jazz/index.js"), "the page imported the built dist/index.js");
    console.log(`# fresh: page ran ${wasmDir}/jazz.wasm (sha256 ${got.hex.slice(0, 12)}..., core version ${got.version})`);
  });
});
