// Private-mode fallback: where IndexedDB is missing or refuses to open, createDb
// still works, in memory (storageMode "memory"), says so with a console.warn,
// and nothing throws; the Db still syncs with the server.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { checkFresh, inWorld, openPage, until } from "../lib/harness.mjs";

before(() => checkFresh());

// Init scripts, run before any of the page's scripts.
const VARIANTS = {
  // No IndexedDB at all (old private modes, some embedded webviews).
  "indexedDB is undefined": () => {
    Object.defineProperty(window, "indexedDB", { value: undefined, configurable: true, writable: true });
  },
  // open() throws synchronously (opaque origins, sandboxed frames).
  "indexedDB.open throws SecurityError": () => {
    IDBFactory.prototype.open = function () {
      throw new DOMException("The operation is insecure.", "SecurityError");
    };
  },
  // open() fails later with an error event (Firefox private browsing until v115).
  "indexedDB.open fires an error event": () => {
    IDBFactory.prototype.open = function () {
      const req = new EventTarget();
      const err = new DOMException("A mutation operation was attempted on a database that did not allow mutations.", "InvalidStateError");
      Object.assign(req, { result: undefined, error: err, readyState: "done", source: null, transaction: null, onsuccess: null, onerror: null, onupgradeneeded: null, onblocked: null });
      setTimeout(() => {
        const ev = new Event("error", { cancelable: true });
        if (typeof req.onerror === "function") req.onerror(ev);
        req.dispatchEvent(ev);
      }, 0);
      return req;
    };
  },
};

for (const [name, script] of Object.entries(VARIANTS)) {
  test(`private mode (${name}): in-memory Db, storageMode "memory", a console.warn, nothing throws`, async () => {
    await inWorld("private", async (w) => {
      const b = await w.launch({ initScript: script });
      const page = await openPage(b.ctx, w.pageUrl);
      const cfg = { appId: w.appId, serverUrl: w.proxy.url, secret: true };
      const t0 = Date.now();
      const opened = await page.evaluate((c) => T.open("db", c), cfg);
      const openMs = Date.now() - t0;
      assert.equal(opened.storageMode, "memory");
      assert.ok(openMs < 5000, `createDb took ${openMs} ms`);

      const seq0 = (await w.server.health()).seq;
      await page.evaluate(() => T.watch("db", "all"));
      await page.evaluate(() => T.insert("db", "in-memory"));
      assert.deepEqual(await page.evaluate(() => T.titles("db")), ["in-memory"]);
      await until(async () => (await page.evaluate(() => T.view("all"))).titles.length === 1, { what: "the live query to update" });
      // Memory mode still syncs.
      await until(async () => (await w.server.health()).seq === seq0 + 1, { what: "the write to reach the server" });
      await page.evaluate(() => T.close("db"));

      const warns = b.rec.console.filter((c) => c.type === "warning" && /memory/.test(c.text));
      assert.equal(warns.length, 1, `one console.warn about memory storage: ${JSON.stringify(b.rec.console)}`);
      assert.deepEqual(b.rec.errors, [], "no uncaught errors");
      assert.deepEqual(b.rec.console.filter((c) => c.type === "error"), [], "no console errors");
      console.log(`# private mode (${name}): createDb ${openMs} ms; warned: ${warns[0].text.slice(0, 90)}...`);
    });
  });
}
