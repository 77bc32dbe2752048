// @vitest-environment happy-dom
import { flushSync, mount, unmount } from "svelte";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { ClosedError, type Db, type DbConfig } from "../src/index.js";
import { createJazzClient, type JazzClient } from "../src/svelte/index.js";
import { todoApp } from "./support/apps.js";
import { describeCores, testSecret } from "./support/cores.js";
import { fakeJwt } from "./support/fake-core.js";
import SessionsSvelte from "./seeds/SessionsSvelte.svelte";
import AuthProbe from "./svelte/AuthProbe.svelte";
import Harness from "./svelte/Harness.svelte";
import Orphan from "./svelte/Orphan.svelte";
import QueryProbe from "./svelte/QueryProbe.svelte";
import { reactive } from "./svelte/state.svelte.js";

let el: HTMLElement;
let app: Record<string, unknown> | undefined;
function render(client: JazzClient, child: unknown, childProps: Record<string, unknown> = {}) {
  el = document.createElement("div");
  document.body.append(el);
  app = mount(Harness, { target: el, props: { client, child: child as never, childProps } });
  flushSync();
}
const text = () => el.textContent?.replace(/\s+/g, " ").trim() ?? "";
const waitText = (t: string | RegExp) => vi.waitFor(() => expect((flushSync(), text())).toMatch(t));
const config = (extra: Partial<DbConfig> = {}): DbConfig => ({ appId: "svelte-test", storage: "memory", secret: testSecret(1), ...extra });
const probeDb = () => (globalThis as { probeDb?: Db }).probeDb!;

afterEach(() => {
  if (app) unmount(app);
  app = undefined;
  document.body.innerHTML = "";
});

describeCores("Svelte adapter", ({ install }) => {
  beforeEach(async () => void (await install()));

  it("renders the fallback, then children with the Db", async () => {
    const client = createJazzClient(config());
    render(client, AuthProbe);
    expect(text()).toBe("loading");
    await waitText(/local-first/);
    expect(el.querySelector("span")!.dataset.db).toBe("memory");
  });

  it("runs the seed Sessions component: lists and adds the user's todos live", async () => {
    render(createJazzClient(config({ secret: testSecret(2) })), SessionsSvelte);
    await waitText("add");
    el.querySelector("button")!.click();
    await waitText("new todo add");
  });

  it("getSession and getAuthState follow auth changes", async () => {
    render(createJazzClient(config({ secret: undefined, jwtToken: fakeJwt("user-7", { role: "a" }) })), AuthProbe);
    await waitText("user-7 external user-7 a ok");
    probeDb().updateAuthToken(fakeJwt("user-7", { role: "b" }));
    await waitText("user-7 external user-7 b ok");
  });

  it("QuerySubscription accepts undefined, follows a getter, and resubscribes only on a new queryKey", async () => {
    const title = reactive({ current: undefined as string | undefined, tick: 0 });
    render(createJazzClient(config({ secret: testSecret(3) })), QueryProbe, { title });
    await waitText("none");
    const subscribe = vi.spyOn(probeDb(), "subscribe");
    title.current = "a";
    await waitText("empty");
    await probeDb().insert(todoApp.todos, { title: "a", done: false, owner_id: "o" });
    await waitText(/^a$/);
    title.tick++;
    flushSync();
    expect(subscribe).toHaveBeenCalledOnce();
    title.current = "b";
    await waitText("empty");
    expect(subscribe).toHaveBeenCalledTimes(2);
  });

  it("closes the client's Db when the provider unmounts", async () => {
    const client = createJazzClient(config({ secret: testSecret(4) }));
    render(client, AuthProbe);
    const db = await client.ready;
    await waitText(/local-first/);
    unmount(app!);
    app = undefined;
    await expect(db.all(todoApp.todos)).rejects.toBeInstanceOf(ClosedError);
  });
});

it("getDb outside a JazzSvelteProvider names the provider to add", () => {
  el = document.createElement("div");
  expect(() => mount(Orphan, { target: el })).toThrow(/need a <JazzSvelteProvider \{client\}> above this component/);
});
