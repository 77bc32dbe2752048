// The database opened while the core loads: createDb remembers which
// IndexedDB database the app used and, on the next load, opens it before
// the wasm has started; the core takes that connection instead of opening
// its own. A stale guess opens nothing new and costs nothing but the try.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { checkFresh, inWorld, openPage } from "../lib/harness.mjs";

before(() => checkFresh());

// Records every indexedDB.open: which database, and whether the core had
// started by then (early opens happen before).
function recordOpens() {
  window.__opens = [];
  const open = IDBFactory.prototype.open;
  IDBFactory.prototype.open = function (name, ...rest) {
    window.__opens.push({ name, coreStarted: globalThis.__jazzCore !== undefined });
    return open.call(this, name, ...rest);
  };
}

test("the remembered database is opened while the core loads and taken by it; a stale one is never created", async () => {
  await inWorld("early", async (w) => {
    const b = await w.launch({ initScript: recordOpens });
    const page = await openPage(b.ctx, w.pageUrl);
    const cfg = { appId: w.appId, secret: true };
    const hintKey = `jazz-tools:db:${w.appId}`;
    const loaded = async () => {
      await page.reload();
      await page.waitForFunction(() => window.__ready === true);
      const opened = await page.evaluate((c) => T.open("db", c), cfg);
      assert.equal(opened.storageMode, "indexeddb");
      return page.evaluate(() => window.__opens);
    };

    // First load: nothing remembered, the core opens the database itself.
    const opened = await page.evaluate((c) => T.open("db", c), cfg);
    const name = `jazz:${w.appId}:${opened.userId}`;
    assert.deepEqual(await page.evaluate(() => window.__opens), [{ name, coreStarted: true }]);
    assert.equal(await page.evaluate((k) => localStorage.getItem(k), hintKey), name, "createDb remembers its database");
    await page.evaluate(() => T.insert("db", "before reload"));
    await page.evaluate(() => T.close("db"));

    // Reload: opened before the core started, and not again after.
    assert.deepEqual(await loaded(), [{ name, coreStarted: false }]);
    assert.deepEqual(await page.evaluate(() => T.titles("db")), ["before reload"]);
    await page.evaluate(() => T.close("db"));

    // A remembered database that is gone (deleted at sign-out, say): the
    // early open does not create it, the core opens the right one, and the
    // page remembers that instead.
    const gone = `jazz:${w.appId}:someone-else`;
    await page.evaluate(([k, v]) => localStorage.setItem(k, v), [hintKey, gone]);
    assert.deepEqual(await loaded(), [
      { name: gone, coreStarted: false },
      { name, coreStarted: true },
    ]);
    assert.deepEqual(await page.evaluate(() => T.titles("db")), ["before reload"]);
    const names = await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
    assert.ok(!names.includes(gone), `the stale guess created ${gone}: ${names}`);
    assert.equal(await page.evaluate((k) => localStorage.getItem(k), hintKey), name);
    await page.evaluate(() => T.close("db"));
    assert.deepEqual(b.rec.errors, []);
  });
});
