// The server's inspector in Chromium: behind the admin secret, it lists the
// tables, filters rows, shows a row's cells with when each was written,
// the live connections with their sessions and subscriptions, and the
// bundle.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { checkFresh, inWorld, openPage, until } from "../lib/harness.mjs";

before(() => checkFresh());

test("inspector: tables, filtered rows, a row's cells, connections and the bundle, only with the secret", async () => {
  await inWorld("inspect", async (w) => {
    const b = await w.launch();
    const app = await openPage(b.ctx, w.pageUrl);
    await app.evaluate((c) => T.open("db", c), { appId: w.appId, serverUrl: w.proxy.url, secret: true });
    for (const t of ["first", "second", "third"]) await app.evaluate((t) => T.insert("db", t), t);
    await app.evaluate(() => T.watch("db", "all"));
    const userId = await app.evaluate(() => T.userId("db"));
    await until(async () => (await w.server.health()).seq >= 3, { what: "the writes to reach the server" });

    const page = await b.ctx.newPage();
    await page.goto(`${w.server.url}/apps/${w.appId}/admin/inspector`);
    await page.fill("#secret", "wrong");
    await page.click("#login button");
    await until(async () => (await page.textContent("#error")).includes("X-Jazz-Admin-Secret"), { what: "a wrong secret refused" });
    assert.equal(await page.isHidden("#ui"), true, "nothing shown with a wrong secret");

    await page.fill("#secret", "A");
    await page.click("#login button");
    await page.waitForSelector('#tables button[data-table="todos"]');
    assert.match(await page.textContent('#tables button[data-table="todos"]'), /todos \(3\)/);

    await page.click('#tables button[data-table="todos"]');
    await until(async () => (await page.$$("#rows tr.row")).length === 3, { what: "three rows listed" });
    await page.fill("#filter", "title = second");
    await page.click("#filterForm button");
    await until(async () => (await page.$$("#rows tr.row")).length === 1, { what: "the filter to leave one row" });
    assert.match(await page.textContent("#rows tr.row"), /second/);

    await page.click("#rows tr.row");
    await page.waitForSelector("#cells tr td");
    const cells = await page.$$eval("#cells tr", (trs) => trs.slice(1).map((tr) => [...tr.children].map((td) => td.textContent)));
    const title = cells.find((c) => c[0] === "title");
    assert.ok(title && title[1] === "second", `title cell: ${JSON.stringify(title)}`);
    assert.ok(Math.abs(Date.parse(title[2]) - Date.now()) < 5 * 60_000, `written at ${title[2]}`);
    assert.ok(cells.some((c) => c[0] === "$createdBy" && c[1] === userId), "the row's author is shown");

    await page.click('[data-view="connections"]');
    await until(async () => (await page.textContent("#connections")).includes(userId), { what: "the app's connection listed" });
    assert.match(await page.textContent("#connections"), /"table":"todos"/, "its subscription is listed");

    await page.click('[data-view="bundle"]');
    await until(async () => (await page.textContent("#bundle")).includes('"todos"'), { what: "the bundle shown" });
    assert.deepEqual(b.rec.errors, [], "no page errors");
  });
});
