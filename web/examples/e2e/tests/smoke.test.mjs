// The smoke subset against the Vue and Svelte examples: the app loads, adds
// a todo, and two browsers with one local-first secret sync it both ways.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import {
  addTodo, cleanupAll, e2eTest, eventually, expectPublic, expectTodos, launchBrowser, openApp, screenshot, SECRET_KEY, startApps,
  startStack, text,
} from "../lib/harness.mjs";

let apps;
before(async () => (apps = await startApps(["vue", "svelte"])));
after(async () => {
  await cleanupAll();
  await apps?.close();
});

for (const name of ["vue", "svelte"]) {
  e2eTest(`${name}: loads, adds a todo and syncs it between two browsers`, async () => {
      const stack = await startStack();
    const a = await launchBrowser(`${name}-a`);
    await openApp(a.page, apps[name], stack);
    assert.equal(await text(a.page, "auth-mode"), "local-first");
    const userId = await text(a.page, "user-id");
    assert.match(await a.page.title(), new RegExp(name, "i"));

    await addTodo(a.page, `${name} milk`);
    await addTodo(a.page, `${name} news`, { isPublic: true });
    await expectTodos(a.page, [`${name} milk`, `${name} news`]);
    await expectPublic(a.page, [`${name} news`]);
    assert.equal(await a.page.locator('[data-testid="todo"]').first().getAttribute("data-created-by"), userId);

    const secret = await a.page.evaluate((k) => localStorage.getItem(k), SECRET_KEY);
    const b = await launchBrowser(`${name}-b`);
    await b.context.addInitScript(([k, s]) => localStorage.setItem(k, s), [SECRET_KEY, secret]);
    await openApp(b.page, apps[name], stack);
    assert.equal(await text(b.page, "user-id"), userId);
    await expectTodos(b.page, [`${name} milk`, `${name} news`]);

    await b.page.locator(`[data-testid="todo"][data-title="${name} milk"] [data-testid="toggle"]`).click();
    await eventually(async () => (await a.page.locator(`[data-testid="todo"][data-title="${name} milk"]`).getAttribute("data-done")) === "true", { message: "toggle synced" });
    await b.page.locator(`[data-testid="todo"][data-title="${name} news"] [data-testid="delete"]`).click();
    await expectTodos(a.page, [`${name} milk`]);
    await screenshot(a.page, `${name}-a`);
    await screenshot(b.page, `${name}-b`);
    assert.deepEqual([...a.problems, ...b.problems].filter((p) => !/WebSocket/.test(p)), []);
  });
}
