// Every scenario against the React example, each with its own sync server,
// issuer, server data dir and browser user-data-dirs.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before } from "node:test";
import {
  addTodo, cleanupAll, e2eTest, EXAMPLES, eventually, expectPublic, expectTodos, launchBrowser, onCleanup, openApp, ROOT,
  screenshot, SECRET_KEY, startApps, startStack, text, todoTitles, waitReady,
} from "../lib/harness.mjs";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
let apps;
before(async () => (apps = await startApps(["react"])));
after(async () => {
  await cleanupAll();
  await apps?.close();
});

/** A browser whose app uses this local-first secret (written to localStorage before the app runs). */
async function browserWithSecret(label, secret) {
  const b = await launchBrowser(label);
  await b.context.addInitScript(([k, s]) => localStorage.setItem(k, s), [SECRET_KEY, secret]);
  return b;
}

const secretOf = (page) => page.evaluate((k) => localStorage.getItem(k), SECRET_KEY);

/** The server's change sequence number (GET /health). */
async function serverSeq(stack) {
  const res = await fetch(`${stack.serverUrl}/health`);
  return (await res.json()).seq;
}

async function signIn(page, username) {
  const before = await text(page, "db-instance");
  await page.getByTestId("username").fill(username);
  await page.getByTestId("sign-in").click();
  await eventually(async () => (await text(page, "auth-mode")) === "external" && (await text(page, "db-instance")) !== before, { message: `signed in as ${username}` });
  await eventually(async () => (await text(page, "username-claim")) === username, { message: "username claim" });
}

e2eTest("react: two browsers with one local-first secret sync adds, toggles and deletes", async () => {
  const stack = await startStack();
  const a = await launchBrowser("a");
  await openApp(a.page, apps.react, stack);
  const userId = await text(a.page, "user-id");
  const b = await browserWithSecret("b", await secretOf(a.page));
  await openApp(b.page, apps.react, stack);
  assert.equal(await text(b.page, "user-id"), userId);

  await addTodo(a.page, "milk");
  await addTodo(a.page, "eggs");
  await expectTodos(b.page, ["milk", "eggs"]);
  const createdBy = await b.page.locator('[data-testid="todo"]').first().getAttribute("data-created-by");
  assert.equal(createdBy, userId, "$createdBy is the session's user_id");

  await b.page.locator('[data-testid="todo"][data-title="milk"] [data-testid="toggle"]').click();
  await eventually(async () => (await a.page.locator('[data-testid="todo"][data-title="milk"]').getAttribute("data-done")) === "true", { message: "milk done in a" });

  await a.page.locator('[data-testid="todo"][data-title="eggs"] [data-testid="delete"]').click();
  await expectTodos(b.page, ["milk"]);
  await screenshot(a.page, "react-sync-a");
  await screenshot(b.page, "react-sync-b");
  assert.deepEqual([...a.problems, ...b.problems].filter((p) => !/WebSocket/.test(p)), []);
});

e2eTest("react: anonymous visitor reads public rows and gets AnonymousWriteDeniedError on a write", async () => {
  const stack = await startStack();
  const owner = await launchBrowser("owner");
  await openApp(owner.page, apps.react, stack);
  await addTodo(owner.page, "open to all", { isPublic: true });
  await addTodo(owner.page, "owner only");
  await expectTodos(owner.page, ["open to all", "owner only"]);
  await expectPublic(owner.page, ["open to all"]);

  const visitor = await launchBrowser("visitor");
  await openApp(visitor.page, apps.react, stack);
  await visitor.page.getByTestId("browse-anonymously").click();
  await eventually(async () => (await text(visitor.page, "auth-mode")) === "anonymous", { message: "anonymous mode" });
  await expectPublic(visitor.page, ["open to all"]);
  assert.deepEqual(await todoTitles(visitor.page), [], "an anonymous session owns nothing");

  await addTodo(visitor.page, "sneaky");
  await visitor.page.getByTestId("error").waitFor();
  assert.match(await text(visitor.page, "error"), /^AnonymousWriteDeniedError: /);
  await screenshot(visitor.page, "react-anonymous");
  // Nothing reached the server: the owner's public list is unchanged, and a reload shows no trace.
  await visitor.page.reload();
  await waitReady(visitor.page);
  assert.equal(await text(visitor.page, "auth-mode"), "anonymous", "the choice survives a reload");
  await expectPublic(visitor.page, ["open to all"]);
  await expectPublic(owner.page, ["open to all"]);
});

e2eTest("react: local-first identity is stable across reloads and shared through the secret", async () => {
  const stack = await startStack();
  const a = await launchBrowser("a");
  await openApp(a.page, apps.react, stack);
  const userId = await text(a.page, "user-id");
  assert.match(userId, UUID);
  assert.equal(await text(a.page, "auth-mode"), "local-first");
  await a.page.reload();
  await waitReady(a.page);
  assert.equal(await text(a.page, "user-id"), userId, "same id after a reload");

  const b = await browserWithSecret("b", await secretOf(a.page));
  await openApp(b.page, apps.react, stack);
  assert.equal(await text(b.page, "user-id"), userId, "same secret, same id in another browser");

  const c = await launchBrowser("c");
  await openApp(c.page, apps.react, stack);
  assert.notEqual(await text(c.page, "user-id"), userId, "another device secret is another user");
});

e2eTest("react: offline writes survive a reload and are delivered once on reconnect", async () => {
  const stack = await startStack();
  // Reloading while offline serves the page through context.route; Chromium
  // then treats the page as non-local, and its Local Network Access checks
  // would block the socket to 127.0.0.1. Real deployments are not affected.
  const a = await launchBrowser("a", { extraArgs: ["--disable-features=LocalNetworkAccessChecks"] });
  await openApp(a.page, apps.react, stack);
  await addTodo(a.page, "before");
  await eventually(async () => (await serverSeq(stack)) > 0, { message: "first write on the server" });
  const seq0 = await serverSeq(stack);

  await a.context.setOffline(true);
  for (const title of ["offline 1", "offline 2", "offline 3"]) await addTodo(a.page, title);
  await expectTodos(a.page, ["before", "offline 1", "offline 2", "offline 3"]);

  // Reload while offline: the page comes from disk, the rows from IndexedDB.
  const dist = join(EXAMPLES, "react/dist");
  await a.context.route(`${apps.react}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    const file = join(dist, path);
    return route.fulfill({ path: path !== "/" && existsSync(file) ? file : join(dist, "index.html") });
  });
  await a.page.reload();
  await waitReady(a.page);
  await expectTodos(a.page, ["before", "offline 1", "offline 2", "offline 3"]);
  assert.equal(await serverSeq(stack), seq0, "nothing reached the server while offline");
  await screenshot(a.page, "react-offline");

  await a.context.unroute(`${apps.react}/**`);
  await a.context.setOffline(false);
  // Another browser with the same secret starts empty and reads everything from the server.
  const b = await browserWithSecret("b", await secretOf(a.page));
  await openApp(b.page, apps.react, stack);
  await expectTodos(b.page, ["before", "offline 1", "offline 2", "offline 3"], { timeout: 40_000 });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await serverSeq(stack), seq0 + 3, "each offline write applied exactly once");
  assert.deepEqual((await todoTitles(b.page)).length, 4);
  assert.deepEqual((await todoTitles(a.page)).length, 4);
});

e2eTest("react: a JWT expiring mid-session with writes in flight: one onJWTExpired call, nothing lost", async () => {
  // 4 s JWTs, and an issuer that takes 5 s to refresh: whenever the core
  // asks for a new token, the old one expires while the call is in flight,
  // with writes going on.
  const stack = await startStack({ ttl: 4, refreshDelayMs: 5000 });
  const a = await launchBrowser("a");
  await openApp(a.page, apps.react, stack);
  await signIn(a.page, "erin");

  const log = () => a.page.locator('[data-testid="log-entry"]').evaluateAll((els) => els.map((e) => ({
    kind: e.dataset.kind, status: e.dataset.status, at: Number(e.dataset.at), endedAt: e.dataset.endedAt ? Number(e.dataset.endedAt) : undefined,
  })));
  const firstRefreshDone = async () => (await log()).find((e) => e.kind === "refresh" && e.endedAt);
  const titles = [];
  const deadline = Date.now() + 20_000;
  for (let i = 0; !(await firstRefreshDone()) && Date.now() < deadline; i++) {
    titles.push(`w${i}`);
    await addTodo(a.page, `w${i}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const first = await firstRefreshDone();
  assert.ok(first, "onJWTExpired was called and finished");
  assert.equal(first.status, "ok");
  await new Promise((r) => setTimeout(r, 800));
  const entries = await log();
  assert.ok(entries.some((e) => e.kind === "auth-error" && e.status === "expired"), "the server reported the expiry (shown in the log)");
  const calls = entries.filter((e) => e.kind === "refresh" && e.at < first.endedAt);
  assert.equal(calls.length, 1, `one onJWTExpired call while the token expired under ${titles.length} writes (log: ${JSON.stringify(entries)})`);
  await eventually(async () => (await text(a.page, "auth-error")) === "none", { message: "auth error cleared" });
  await expectTodos(a.page, titles);
  await screenshot(a.page, "react-jwt-refresh");

  // Every write reached the server: a second browser signed in as erin reads them all.
  const b = await launchBrowser("b");
  await openApp(b.page, apps.react, stack);
  await signIn(b.page, "erin");
  await expectTodos(b.page, titles);
  assert.ok(titles.length >= 10, `${titles.length} writes`);
});

// The client renews a JWT ahead of expiry by at most half its lifetime: a
// fresh 10 s token must not be "due" on arrival (that was a refresh loop).
e2eTest("react: a fresh short-lived JWT is not refreshed again at once", async () => {
  const stack = await startStack({ ttl: 10 });
  const a = await launchBrowser("a");
  await openApp(a.page, apps.react, stack);
  await signIn(a.page, "judy");
  await new Promise((r) => setTimeout(r, 4000));
  const calls = await a.page.locator('[data-testid="log-entry"][data-kind="refresh"]').count();
  assert.ok(calls <= 1, `${calls} onJWTExpired calls in the first 4 s of a 10 s JWT`);
});

e2eTest("react: sign out and sign in as another user recreate the Db with the new session", async () => {
  const stack = await startStack();
  const a = await launchBrowser("a");
  await openApp(a.page, apps.react, stack);
  const localId = await text(a.page, "user-id");

  await signIn(a.page, "frank");
  const frank = await text(a.page, "user-id");
  assert.notEqual(frank, localId);
  await addTodo(a.page, "frank's todo");
  await expectTodos(a.page, ["frank's todo"]);
  const frankInstance = await text(a.page, "db-instance");

  await a.page.getByTestId("sign-out").click();
  await eventually(async () => (await text(a.page, "auth-mode")) === "local-first", { message: "back to local-first" });
  assert.equal(await text(a.page, "user-id"), localId, "signing out returns to this device's local-first identity");
  await expectTodos(a.page, []);

  await signIn(a.page, "grace");
  const grace = await text(a.page, "user-id");
  assert.notEqual(grace, frank);
  assert.notEqual(await text(a.page, "db-instance"), frankInstance, "a fresh Db instance");
  await expectTodos(a.page, []);
  await screenshot(a.page, "react-signed-in-grace");

  await a.page.getByTestId("sign-out").click();
  await eventually(async () => (await text(a.page, "auth-mode")) === "local-first", { message: "signed out" });
  await signIn(a.page, "frank");
  assert.equal(await text(a.page, "user-id"), frank, "the issuer's sub is stable per username");
  await expectTodos(a.page, ["frank's todo"]);
});

e2eTest("react: signing up from local-first keeps the user id and the rows", async () => {
  const stack = await startStack();
  const a = await launchBrowser("a");
  await openApp(a.page, apps.react, stack);
  const userId = await text(a.page, "user-id");
  await addTodo(a.page, "from before sign-up");
  await addTodo(a.page, "also before", { isPublic: true });
  await expectTodos(a.page, ["from before sign-up", "also before"]);

  await a.page.getByTestId("username").fill("heidi");
  await a.page.getByTestId("sign-up").click();
  await eventually(async () => (await text(a.page, "auth-mode")) === "external", { message: "external after sign-up" });
  assert.equal(await text(a.page, "user-id"), userId, "same user_id");
  assert.equal(await text(a.page, "username-claim"), "heidi");
  await expectTodos(a.page, ["from before sign-up", "also before"]);
  await addTodo(a.page, "after sign-up");
  await expectTodos(a.page, ["from before sign-up", "also before", "after sign-up"]);
  await screenshot(a.page, "react-signed-up");

  // heidi on another device, with no secret at all, is the same user with the same rows.
  const b = await launchBrowser("b");
  await openApp(b.page, apps.react, stack);
  await signIn(b.page, "heidi");
  assert.equal(await text(b.page, "user-id"), userId);
  await expectTodos(b.page, ["from before sign-up", "also before", "after sign-up"]);
  const authors = await b.page.locator('[data-testid="todo"]').evaluateAll((els) => els.map((e) => e.getAttribute("data-created-by")));
  assert.deepEqual([...new Set(authors)], [userId]);
});

const backendBuilt = existsSync(join(ROOT, "bindings/js/dist/backend/index.js"));

e2eTest("react: the backend route acts as the user (forRequest) and attributes to them (withAttribution)", { skip: !backendBuilt && "jazz-tools/backend is not built" }, async () => {
  const stack = await startStack();
  const a = await launchBrowser("a");
  await openApp(a.page, apps.react, stack);
  await signIn(a.page, "ivan");
  const ivan = await text(a.page, "user-id");
  await a.page.getByTestId("announce-text").fill("hello from the backend");
  await a.page.getByTestId("announce").click();
  // withAttribution: written with backend permissions (clients may not write announcements), authored by ivan.
  const announcement = a.page.locator('[data-testid="announcement"][data-text="hello from the backend"]');
  await announcement.waitFor();
  assert.equal(await announcement.getAttribute("data-created-by"), ivan);
  // forRequest: written as ivan, under ivan's policies, authored by ivan.
  await expectTodos(a.page, ["announced: hello from the backend"]);
  assert.equal(await a.page.locator('[data-testid="todo"]').first().getAttribute("data-created-by"), ivan);
  assert.equal(await a.page.getByTestId("error").count(), 0);
  await screenshot(a.page, "react-backend");

  // A client cannot write an announcement itself: the policy has no insert rule.
  const res = await fetch(`${stack.issuerUrl}/api/announce`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"text":"anonymous"}' });
  assert.equal(res.status, 401, "the backend route refuses a request without credentials");
});
