// @vitest-environment happy-dom
// useSyncState (React, Vue) and getSyncState (Svelte) over the real core and
// a real server: each shows "online" once connected, and "offline" (or
// "connecting", between attempts) once the server stops, with the
// unacknowledged write it then holds.
import { flushSync as reactFlushSync } from "react-dom";
import { createRoot } from "react-dom/client";
import { flushSync as svelteFlushSync, mount as svelteMount, unmount as svelteUnmount } from "svelte";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createApp, defineComponent, h } from "vue";
import { schema as s, type Db, type DbConfig } from "../src/index.js";
import * as react from "../src/react/index.js";
import * as svelte from "../src/svelte/index.js";
import * as vue from "../src/vue/index.js";
import { todoApp, todoPermissions } from "./support/apps.js";
import { coreVariants } from "./support/cores.js";
import { identityProvider, realServerSkip, startRealServer, type RunningServer } from "./support/server.js";
import Harness from "./svelte/Harness.svelte";
import SyncProbe from "./svelte/SyncProbe.svelte";

if (realServerSkip) console.warn(`SKIPPED: sync state adapter tests against a real server: ${realServerSkip}`);

const APP_ID = "syncstate-adapters-test";
const WAIT = { timeout: 15_000, interval: 20 };
const norm = (t: string | null) => (t ?? "").replace(/\s+/g, " ").trim();

function ReactSync() {
  const st = react.useSyncState();
  return <p>{`sync=${st.connection} pending=${st.pendingWrites} error=${st.error?.code ?? "none"}`}</p>;
}

const VueSync = defineComponent(() => {
  const { connection, pendingWrites, error } = vue.useSyncState();
  return () => h("p", `sync=${connection.value} pending=${pendingWrites.value} error=${error.value?.code ?? "none"}`);
});

describe.skipIf(realServerSkip !== null)("sync state in the adapters", () => {
  const idp = identityProvider();
  let server: RunningServer;
  const cleanup: (() => void)[] = [];

  beforeAll(async () => {
    await coreVariants.find((c) => c.name === "wasm")!.install();
    server = await startRealServer(APP_ID, s.compileBundle(todoApp, todoPermissions), idp.publicKeyPem);
  }, 120_000);
  afterAll(async () => {
    for (const c of cleanup.splice(0)) c();
    await server?.stop();
  });

  it("React, Vue and Svelte show online, then offline with the write waiting when the server stops", async () => {
    const config = (fw: string): DbConfig => ({ appId: APP_ID, serverUrl: server.url, storage: "memory", jwtToken: idp.mint(`${fw}-sync`, 3600).token, onError: () => {} });
    const dbs: Db[] = [];
    const views: Record<string, () => string> = {};

    const rel = document.body.appendChild(document.createElement("div"));
    const root = createRoot(rel);
    reactFlushSync(() =>
      root.render(
        <react.JazzProvider config={config("react")} fallback={<p>loading</p>}>
          <ReactSync />
          <DbGrab onDb={(db) => dbs.push(db)} />
        </react.JazzProvider>,
      ),
    );
    cleanup.push(() => reactFlushSync(() => root.unmount()));
    views.react = () => norm(rel.textContent);

    const vel = document.body.appendChild(document.createElement("div"));
    const vueClient = vue.createJazzClient(config("vue"));
    const vapp = createApp(defineComponent(() => () => h(vue.JazzProvider, { client: vueClient }, { default: () => h(VueSync), fallback: () => h("p", "loading") })));
    vapp.mount(vel);
    cleanup.push(() => vapp.unmount());
    views.vue = () => norm(vel.textContent);

    const sel = document.body.appendChild(document.createElement("div"));
    const svelteClient = svelte.createJazzClient(config("svelte"));
    const sapp = svelteMount(Harness, { target: sel, props: { client: svelteClient, child: SyncProbe } });
    cleanup.push(() => void svelteUnmount(sapp));
    views.svelte = () => (svelteFlushSync(), norm(sel.textContent));

    for (const [fw, text] of Object.entries(views)) {
      await vi.waitFor(() => expect(text(), fw).toContain("sync=online pending=0 error=none"), WAIT);
    }
    const db = dbs[0]!;
    await server.stop();
    for (const [fw, text] of Object.entries(views)) {
      await vi.waitFor(() => expect(text(), fw).toMatch(/sync=(offline|connecting)/), WAIT);
    }
    const me = db.getAuthState().session!.user_id;
    await db.insert(todoApp.todos, { title: "waiting", done: false, owner_id: me });
    await vi.waitFor(() => expect(views.react!()).toMatch(/pending=1 error=unreachable/), WAIT);
  }, 60_000);
});

function DbGrab({ onDb }: { onDb: (db: Db) => void }) {
  onDb(react.useDb());
  return null;
}
