// Offline writes survive a reload, are read back from IndexedDB while the
// sync server is down, and reach the server exactly once after reconnecting.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { checkFresh, inWorld, openPage, until } from "../lib/harness.mjs";

before(() => checkFresh());

test("offline write: survives reload, read from IndexedDB with the server stopped, delivered exactly once", async () => {
  await inWorld("offline", async (w) => {
    const a = await w.launch();
    let page = await openPage(a.ctx, w.pageUrl);
    const cfg = { appId: w.appId, serverUrl: w.proxy.url, secret: true };
    const opened = await page.evaluate((c) => T.open("db", c), cfg);
    assert.equal(opened.storageMode, "indexeddb");

    // Online first: one row, applied by the server.
    const seq0 = (await w.server.health()).seq;
    await page.evaluate(() => T.insert("db", "online-1"));
    await until(async () => (await w.server.health()).seq === seq0 + 1, { what: "the online write to reach the server" });

    // The sync server goes away (stopped, and the network to it cut), the browser goes offline.
    await w.stopServer();
    await a.ctx.setOffline(true);
    const ids = await page.evaluate(async () => [await T.insert("db", "offline-1"), await T.insert("db", "offline-2")]);
    assert.deepEqual(await page.evaluate(() => T.titles("db")), ["offline-1", "offline-2", "online-1"]);
    // The page shell itself must load (a real app would have it from a service
    // worker); the sync server stays stopped and unreachable during the reload.
    await a.ctx.setOffline(false);

    await page.reload();
    await page.waitForFunction(() => window.__ready === true);
    const t0 = Date.now();
    const reopened = await page.evaluate((c) => T.open("db", c), cfg);
    const titles = await page.evaluate(() => T.titles("db"));
    const readMs = Date.now() - t0;
    assert.equal(reopened.storageMode, "indexeddb");
    assert.equal(reopened.userId, opened.userId);
    // With the server stopped these rows can only come from IndexedDB.
    assert.deepEqual(titles, ["offline-1", "offline-2", "online-1"]);
    assert.ok(readMs < 3000, `rows after reload took ${readMs} ms`);
    const pushedOffline = w.proxy.received.filter((p) => p.title?.startsWith("offline-"));
    assert.deepEqual(pushedOffline, [], "nothing reached the server while it was down");

    // The server comes back on the same data; the queued writes go out.
    await w.restartServer();
    w.plug();
    await until(async () => (await w.server.health()).seq === seq0 + 3, { timeoutMs: 20_000, what: "the offline writes to reach the server" });
    // Give a duplicate time to show up, then count.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await w.server.health()).seq, seq0 + 3, "the server applied exactly three changes");
    // Each change reached the server in exactly one push frame (read off the wire by the proxy).
    for (const row of ids) {
      const got = w.proxy.received.filter((p) => p.row === row);
      assert.equal(got.length, 1, `row ${row} reached the server ${got.length} times: ${JSON.stringify(got)}; browser sent ${JSON.stringify(a.rec.pushes.filter((p) => p.row === row))}`);
    }

    // A second device of the same user (fresh profile: it only has what the server has).
    const secret = await page.evaluate((app) => T.jazz.peekLocalFirstSecret(app), w.appId);
    const b = await w.launch();
    const other = await openPage(b.ctx, w.pageUrl);
    await other.evaluate((c) => T.open("db", c), { ...cfg, secret });
    await other.evaluate(() => T.watch("db", "all"));
    const seen = await until(async () => {
      const v = await other.evaluate(() => T.view("all"));
      return v.titles.length >= 3 && v.titles;
    }, { what: "the second device to see the rows" });
    assert.deepEqual(seen, ["offline-1", "offline-2", "online-1"]);
    assert.deepEqual(a.rec.errors, []);
    assert.deepEqual(b.rec.errors, []);
    console.log(`# offline: rows read back from IndexedDB ${readMs} ms after reload (open + query), server seq ${seq0} -> ${seq0 + 3}`);
  });
});
