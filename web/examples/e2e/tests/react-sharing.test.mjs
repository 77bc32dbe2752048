// Projects shared with teammates in the React example: permissions through
// relations (a shares table found with exists, todos inheriting access from
// their project with allowedTo), enforced by a real sync server and followed
// live by two browsers, Alice's and Bob's, each its own local-first user.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { cleanupAll, e2eTest, eventually, launchBrowser, openApp, screenshot, startApps, startStack, text } from "../lib/harness.mjs";

let apps;
before(async () => (apps = await startApps(["react"])));
after(async () => {
  await cleanupAll();
  await apps?.close();
});

const project = (page, name) => page.locator(`[data-testid="project"][data-name="${name}"]`);

/** The projects the page shows, as sorted [name, sorted todo titles] pairs. */
async function projectsOf(page) {
  const shown = await page.locator('[data-testid="project"]').evaluateAll((els) =>
    els.map((e) => [e.dataset.name, [...e.querySelectorAll('[data-testid="project-todo"]')].map((t) => t.dataset.title)]),
  );
  return JSON.stringify(shown.map(([n, ts]) => [n, ts.sort()]).sort());
}

/** Waits until the page shows exactly these projects ({ name: [todo titles] }). */
async function expectProjects(page, want, opts = {}) {
  const json = JSON.stringify(Object.entries(want).map(([n, ts]) => [n, [...ts].sort()]).sort());
  let last;
  await eventually(async () => (last = await projectsOf(page)) === json, { message: `projects ${json}`, ...opts }).catch((e) => {
    e.message += `; shown: ${last}`;
    throw e;
  });
}

async function createProject(page, name) {
  await page.getByTestId("new-project").fill(name);
  await page.getByTestId("create-project").click();
  await project(page, name).waitFor();
}

async function addProjectTodo(page, name, title) {
  await project(page, name).getByTestId("project-todo-title").fill(title);
  await project(page, name).getByTestId("add-project-todo").click();
}

async function share(page, name, userId) {
  await project(page, name).getByTestId("share-user-id").fill(userId);
  await project(page, name).getByTestId("share").click();
  await project(page, name).locator(`[data-testid="project-share"][data-user-id="${userId}"]`).waitFor();
}

async function revoke(page, name, userId) {
  const row = project(page, name).locator(`[data-testid="project-share"][data-user-id="${userId}"]`);
  await row.getByTestId("revoke").click();
  await row.waitFor({ state: "detached" });
}

/** The server's change sequence number (GET /health). */
async function serverSeq(stack) {
  const res = await fetch(`${stack.serverUrl}/health`);
  return (await res.json()).seq;
}

e2eTest("react: a project shared with a teammate shows live, hides live on revoke, and refuses the teammate's writes", async () => {
  const stack = await startStack();
  const alice = await launchBrowser("alice");
  const bob = await launchBrowser("bob");
  await openApp(alice.page, apps.react, stack);
  await openApp(bob.page, apps.react, stack);
  const aliceId = await text(alice.page, "user-id");
  const bobId = await text(bob.page, "user-id");
  assert.notEqual(aliceId, bobId);

  await createProject(bob.page, "Bob's own");
  await createProject(alice.page, "Private");
  await createProject(alice.page, "Launch");
  await addProjectTodo(alice.page, "Launch", "book venue");
  await addProjectTodo(alice.page, "Private", "secret plan");
  await expectProjects(alice.page, { Private: ["secret plan"], Launch: ["book venue"] });

  // Alice shares Launch with Bob (typing his id): it appears in Bob's view
  // with its todo, and Private, written before the share, never does.
  await share(alice.page, "Launch", bobId);
  await expectProjects(bob.page, { "Bob's own": [], Launch: ["book venue"] });
  assert.equal(await project(bob.page, "Launch").getByTestId("share-user-id").count(), 0, "only the owner gets the share form");
  assert.match(await project(bob.page, "Launch").locator(".meta").first().textContent(), new RegExp(`shared with you by ${aliceId.slice(0, 8)}`));

  // Bob writes to it, through allowedTo.read("project"); Alice sees it live.
  await addProjectTodo(bob.page, "Launch", "order food");
  await expectProjects(alice.page, { Private: ["secret plan"], Launch: ["book venue", "order food"] });
  await screenshot(bob.page, "react-sharing-shared-bob");

  // Alice revokes: the project and its todos leave Bob's view live.
  await revoke(alice.page, "Launch", bobId);
  await expectProjects(bob.page, { "Bob's own": [] });
  await screenshot(bob.page, "react-sharing-revoked-bob");

  // Shared again, Bob goes offline and adds a todo (his device still holds
  // the share); Alice revokes meanwhile. Back online, the server refuses
  // Bob's write: he gets PermissionDeniedError, the project leaves his view,
  // and Alice never sees the todo.
  await share(alice.page, "Launch", bobId);
  await expectProjects(bob.page, { "Bob's own": [], Launch: ["book venue", "order food"] });
  await bob.context.setOffline(true);
  await addProjectTodo(bob.page, "Launch", "too late");
  await expectProjects(bob.page, { "Bob's own": [], Launch: ["book venue", "order food", "too late"] });
  const seq = await serverSeq(stack);
  await revoke(alice.page, "Launch", bobId);
  await eventually(async () => (await serverSeq(stack)) > seq, { message: "the revoke on the server" });
  await bob.context.setOffline(false);
  await bob.page.getByTestId("error").waitFor({ timeout: 40_000 });
  assert.match(await text(bob.page, "error"), /^PermissionDeniedError: /);
  await expectProjects(bob.page, { "Bob's own": [] });
  await screenshot(bob.page, "react-sharing-refused-bob");
  await expectProjects(alice.page, { Private: ["secret plan"], Launch: ["book venue", "order food"] });
  assert.equal(await serverSeq(stack), seq + 1, "the refused write left nothing on the server");
  assert.deepEqual([...alice.problems, ...bob.problems].filter((p) => !/WebSocket|ERR_INTERNET_DISCONNECTED/.test(p)), []);
});
