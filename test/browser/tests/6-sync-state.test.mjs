// The sync state in Chromium, in two tabs of one app and user: both show
// "online"; when the server stops both show "offline" with an
// "unreachable" error, and a write made in the follower tab waits in both
// tabs' pendingWrites; when the server is back both show "online" with
// nothing waiting and the same last acknowledgement time.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { checkFresh, inWorld, openPage, startServer, until } from "../lib/harness.mjs";

before(() => checkFresh());

const both = (tabs, what, pred) =>
  until(async () => {
    const states = await Promise.all(tabs.map((t) => t.evaluate(() => T.sync("db"))));
    return states.every(pred) && states;
  }, { timeoutMs: 40_000, what });

test("sync state: offline when the server stops and online again, the same in a second tab", async () => {
  await inWorld("syncstate", async (w) => {
    const b = await w.launch();
    const cfg = { appId: w.appId, serverUrl: w.proxy.url, secret: true };
    const leader = await openPage(b.ctx, w.pageUrl);
    await leader.evaluate((c) => T.open("db", c), cfg);
    const follower = await openPage(b.ctx, w.pageUrl);
    await follower.evaluate((c) => T.open("db", c), cfg);
    const tabs = [leader, follower];
    for (const t of tabs) await t.evaluate(() => T.watchSync("db"));

    await both(tabs, "both tabs online", (s) => s.connection === "online" && s.pendingWrites === 0 && s.error === null);
    await follower.evaluate(() => T.insert("db", "online"));
    const acked = await both(tabs, "the online write acknowledged in both tabs", (s) => s.lastAckedAt !== null && s.pendingWrites === 0);
    assert.equal(acked[0].lastAckedAt, acked[1].lastAckedAt, "the follower shows the leader's last acknowledgement");

    await w.server.stop();
    await both(tabs, "both tabs offline, the server unreachable", (s) => s.connection !== "online" && s.error === "unreachable");
    await follower.evaluate(() => T.insert("db", "offline"));
    await both(tabs, "the offline write waiting in both tabs", (s) => s.pendingWrites === 1);

    w.server = await startServer({ appId: w.appId, dataDir: `${w.dir}/data`, bundle: w.bundle });
    w.plug();
    await both(tabs, "both tabs online again with nothing waiting", (s) => s.connection === "online" && s.pendingWrites === 0 && s.error === null);
    for (const t of tabs) {
      const seen = await t.evaluate(() => T.syncSeen.db);
      assert.ok(seen.includes("offline") && seen.lastIndexOf("online") > seen.indexOf("offline"), `connections seen: ${seen.join(" ")}`);
    }
    assert.deepEqual(b.rec.errors, []);
    assert.equal(new Set(b.rec.sockets.map((s) => s.page)).size, 1, "only the leader tab has sockets");
  });
});
