import { launchBrowser, startStack, startApps, openApp, addTodo, todoTitles, cleanupAll, appUrl, waitReady, SECRET_KEY, EXAMPLES } from "./lib/harness.mjs";
import { join } from "node:path"; import { existsSync } from "node:fs";
const RELOAD = process.argv[2] === "reload";
try {
const stack = await startStack();
const apps = await startApps(["react"]);
const a = await launchBrowser("a");
a.page.on("console", m => console.log("console:", m.type(), m.text().slice(0, 200)));
await openApp(a.page, apps.react, stack);
await addTodo(a.page, "online1");
await a.page.waitForTimeout(500);
await a.context.setOffline(true);
console.log("offline");
await addTodo(a.page, "off1");
await a.page.waitForTimeout(300);
if (RELOAD) {
const dist = join(EXAMPLES, "react/dist");
await a.context.route(apps.react + "/**", (route) => {
  const p = new URL(route.request().url()).pathname;
  const f = join(dist, p === "/" ? "index.html" : p);
  route.fulfill({ path: existsSync(f) ? f : join(dist, "index.html") });
});
await a.page.reload({timeout: 10000}); await waitReady(a.page);
}
await a.page.waitForTimeout(2000);
await a.context.setOffline(false);
console.log("online");
const t = Date.now();
const secret = await a.page.evaluate((k) => localStorage.getItem(k), SECRET_KEY);
const b = await launchBrowser("b");
await b.page.goto(apps.react);
await b.page.evaluate(([k, s]) => localStorage.setItem(k, s), [SECRET_KEY, secret]);
await openApp(b.page, apps.react, stack);
while (!(await todoTitles(b.page)).includes("off1") && Date.now() - t < 40000) await new Promise(r => setTimeout(r, 100));
console.log("delivered after", Date.now() - t, await todoTitles(b.page));
console.log(stack.serverLog().split("\n").filter(l=>/connection/.test(l)).join("\n"));
} finally { await cleanupAll(); }
