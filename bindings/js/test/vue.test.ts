// @vitest-environment happy-dom
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { createApp, defineComponent, h, nextTick, ref, type Component } from "vue";
import { ClosedError, JazzError, type Db, type DbConfig } from "../src/index.js";
import { createJazzClient, JazzProvider, useAll, useAuthState, useDb, useSession, type JazzClient } from "../src/vue/index.js";
import { todoApp } from "./support/apps.js";
import { describeCores, testSecret } from "./support/cores.js";
import { fakeJwt } from "./support/fake-core.js";
import AuthJwt from "./seeds/AuthJwt.vue";
import SessionsVue from "./seeds/SessionsVue.vue";

let el: HTMLElement;
let unmount: (() => void) | undefined;
const errors: unknown[] = [];
function mount(root: Component) {
  el = document.createElement("div");
  document.body.append(el);
  const app = createApp(root);
  app.config.errorHandler = (e) => void errors.push(e);
  app.config.warnHandler = () => {};
  app.mount(el);
  unmount = () => app.unmount();
}
const text = () => el.textContent ?? "";
const waitText = (t: string | RegExp) => vi.waitFor(() => expect(text()).toMatch(t));
const config = (extra: Partial<DbConfig> = {}): DbConfig => ({ appId: "vue-test", storage: "memory", secret: testSecret(1), ...extra });
const provided = (client: JazzClient, child: Component) =>
  defineComponent(() => () => h(JazzProvider, { client }, { default: () => h(child), fallback: () => h("p", "loading") }));

afterEach(() => {
  unmount?.();
  unmount = undefined;
  errors.length = 0;
  document.body.innerHTML = "";
});

describeCores("Vue adapter", ({ install }) => {
  beforeEach(async () => void (await install()));

  it("renders the fallback slot, then the default slot with the Db", async () => {
    const client = createJazzClient(config());
    let db: Db | undefined;
    mount(provided(client, defineComponent(() => {
      db = useDb();
      return () => h("p", "ready");
    })));
    expect(text()).toBe("loading");
    await waitText("ready");
    expect(db).toBe(await client.ready);
  });

  it("runs the seed Sessions component: lists and adds the user's todos live", async () => {
    mount(provided(createJazzClient(config({ secret: testSecret(2) })), SessionsVue));
    await waitText("add");
    el.querySelector("button")!.click();
    await waitText("new todoadd");
  });

  it("useAll follows a getter and resubscribes only when the queryKey changes", async () => {
    const title = ref<string | undefined>(undefined);
    const tick = ref(0);
    let db!: Db;
    let subscribe!: { mock: { calls: unknown[] } };
    mount(provided(createJazzClient(config({ secret: testSecret(3) })), defineComponent(() => {
      db = useDb();
      subscribe = vi.spyOn(db, "subscribe");
      const rows = useAll(() => (void tick.value, title.value === undefined ? undefined : todoApp.todos.where({ title: title.value })));
      return () => h("p", rows.value === undefined ? "none" : rows.value.map((r) => r.title).join(",") || "empty");
    })));
    await waitText("none");
    title.value = "a";
    await waitText("empty");
    await db.insert(todoApp.todos, { title: "a", done: false, owner_id: "o" });
    await waitText("a");
    tick.value++; // a new, equal query object
    await nextTick();
    expect(subscribe).toHaveBeenCalledOnce();
    title.value = "b";
    await waitText("empty");
    expect(subscribe).toHaveBeenCalledTimes(2);
  });

  it("useSession and useAuthState refs", async () => {
    let db!: Db;
    mount(provided(createJazzClient(config({ secret: undefined, jwtToken: fakeJwt("user-7", { role: "a" }) })), defineComponent(() => {
      db = useDb();
      const session = useSession();
      const { authMode, userId, claims, error } = useAuthState();
      return () => h("p", [session?.user_id, authMode.value, userId.value, claims.value.role, error.value ?? "ok"].join(" "));
    })));
    await waitText("user-7 external user-7 a ok");
    db.updateAuthToken(fakeJwt("user-7", { role: "b" }));
    await waitText("user-7 external user-7 b ok");
  });

  it("closes the client's Db when the provider unmounts", async () => {
    const client = createJazzClient(config({ secret: testSecret(4) }));
    mount(provided(client, defineComponent(() => () => h("p", "ready"))));
    await waitText("ready");
    const db = await client.ready;
    unmount!();
    unmount = undefined;
    await expect(db.all(todoApp.todos)).rejects.toBeInstanceOf(ClosedError);
  });

  it("compiles and mounts the seed provider SFC; its placeholder token is refused", async () => {
    mount(AuthJwt);
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]).toBeInstanceOf(JazzError);
  });
});

it("useDb outside a JazzProvider names the provider to add", () => {
  mount(defineComponent(() => {
    useDb();
    return () => null;
  }));
  expect(String(errors[0])).toMatch(/need a <JazzProvider :client="client"> above this component/);
});
