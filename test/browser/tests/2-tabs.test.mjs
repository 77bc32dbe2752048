// Two tabs of one app and user (one Chromium profile): a write in either shows
// in the other promptly, online and offline, and the server receives every
// change exactly once (only the leader tab has a socket).
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { checkFresh, inWorld, openPage, until } from "../lib/harness.mjs";

before(() => checkFresh());

const PROMPT_MS = 1000;

/** Inserts title in `from` and returns how long until `to`'s live query had it (ms, absolute clocks). */
async function roundTrip(from, to, title) {
  const start = await from.evaluate(async (t) => {
    const s = T.now();
    await T.insert("db", t);
    return s;
  }, title);
  const seenAt = await until(async () => to.evaluate((t) => T.view("all").seenAt[t], title), {
    timeoutMs: 5000,
    intervalMs: 10,
    what: `${title} to show in the other tab`,
  });
  return seenAt - start;
}

test("two tabs: writes show in the other tab promptly, online and offline; the server gets each change once", async () => {
  await inWorld("tabs", async (w) => {
    const b = await w.launch();
    const cfg = { appId: w.appId, serverUrl: w.proxy.url, secret: true };
    const tab1 = await openPage(b.ctx, w.pageUrl);
    await tab1.evaluate((c) => T.open("db", c), cfg); // creates the secret, becomes the leader
    const tab2 = await openPage(b.ctx, w.pageUrl);
    await tab2.evaluate((c) => T.open("db", c), cfg);
    const [u1, u2] = await Promise.all([tab1.evaluate(() => T.userId("db")), tab2.evaluate(() => T.userId("db"))]);
    assert.equal(u1, u2, "both tabs are the same user");
    for (const t of [tab1, tab2]) await t.evaluate(() => T.watch("db", "all"));
    const seq0 = (await w.server.health()).seq;

    const lat = {};
    lat["online 1->2"] = await roundTrip(tab1, tab2, "online-from-1");
    lat["online 2->1"] = await roundTrip(tab2, tab1, "online-from-2");
    await until(async () => (await w.server.health()).seq === seq0 + 2, { what: "the online writes to reach the server" });

    // Offline: the browser and the network to the server.
    await b.ctx.setOffline(true);
    w.unplug();
    assert.equal(await tab2.evaluate(() => navigator.onLine), false);
    lat["offline 1->2"] = await roundTrip(tab1, tab2, "offline-from-1");
    lat["offline 2->1"] = await roundTrip(tab2, tab1, "offline-from-2");
    for (const [k, ms] of Object.entries(lat)) assert.ok(ms < PROMPT_MS, `${k}: ${ms.toFixed(1)} ms`);
    assert.equal((await w.server.health()).seq, seq0 + 2, "nothing reached the server while offline");

    await b.ctx.setOffline(false);
    w.plug();
    await until(async () => (await w.server.health()).seq === seq0 + 4, { timeoutMs: 20_000, what: "the offline writes to reach the server" });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await w.server.health()).seq, seq0 + 4, "the server applied exactly four changes");

    const expected = ["offline-from-1", "offline-from-2", "online-from-1", "online-from-2"];
    for (const t of [tab1, tab2]) assert.deepEqual(await t.evaluate(() => T.view("all").titles), expected);
    // Each change reached the server in exactly one push frame (read off the
    // wire by the proxy), and only the leader tab sent any.
    for (const title of expected) {
      const got = w.proxy.received.filter((p) => p.title === title);
      const sent = b.rec.pushes.filter((p) => p.title === title);
      assert.equal(got.length, 1, `${title} reached the server ${got.length} times: ${JSON.stringify(got)}; browser sent ${JSON.stringify(sent)}`);
      if (sent.length > 1) console.log(`# tabs: ${title} was also sent on a dead socket (${JSON.stringify(sent)}), which is a normal resend`);
    }
    assert.equal(new Set(b.rec.pushes.map((p) => p.page)).size, 1, "only the leader tab pushes");
    assert.equal(new Set(b.rec.sockets.map((s) => s.page)).size, 1, `only the leader tab has sockets: ${JSON.stringify(b.rec.sockets)}`);

    // What the server has, through a second device of the same user.
    const secret = await tab1.evaluate((app) => T.jazz.peekLocalFirstSecret(app), w.appId);
    const o = await w.launch();
    const other = await openPage(o.ctx, w.pageUrl);
    await other.evaluate((c) => T.open("db", c), { ...cfg, secret });
    await other.evaluate(() => T.watch("db", "all"));
    const seen = await until(async () => {
      const v = await other.evaluate(() => T.view("all"));
      return v.titles.length >= 4 && v.titles;
    }, { what: "the second device to see the rows" });
    assert.deepEqual(seen, expected);
    assert.deepEqual(b.rec.errors, []);
    console.log(`# tabs: write-to-other-tab ${Object.entries(lat).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(", ")}`);
  });
});
