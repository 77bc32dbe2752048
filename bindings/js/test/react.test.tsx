// @vitest-environment happy-dom
import { Component, type ReactNode } from "react";
import { flushSync } from "react-dom";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { ClosedError, type Db, type DbConfig } from "../src/index.js";
import { JazzProvider, useAll, useAuthState, useDb, useLocalFirstAuth, useSession } from "../src/react/index.js";
import { todoApp } from "./support/apps.js";
import { describeCores, testSecret } from "./support/cores.js";
import { createFakeCore, fakeJwt, type FakeCore } from "./support/fake-core.js";
import { AuthStatus, SignInOrOut } from "./seeds/auth.react.js";
import { seedEnv } from "./seeds/env.js";
import { OwnedTodos } from "./seeds/sessions.react.js";

// Renders are flushed with flushSync and async results awaited with vi.waitFor, as in a browser.
const act = (fn: () => unknown) => flushSync(() => void fn());

class Boundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  override state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  override render() {
    const e = this.state.error;
    return e ? <p>{`${e.name}: ${e.message}`}</p> : this.props.children;
  }
}

let root: Root | null = null;
let el: HTMLElement;
function render(ui: ReactNode) {
  el = document.createElement("div");
  document.body.append(el);
  root = createRoot(el);
  act(() => root!.render(ui));
  return (next: ReactNode) => act(() => root!.render(next));
}
const text = () => el.textContent ?? "";
const waitText = (t: string | RegExp) => vi.waitFor(() => expect(text()).toMatch(t));
const config = (extra: Partial<DbConfig> = {}): DbConfig => ({ appId: "react-test", storage: "memory", secret: testSecret(1), ...extra });

afterEach(() => {
  act(() => root?.unmount());
  root = null;
  document.body.innerHTML = "";
  vi.restoreAllMocks();
});

function Capture({ onDb }: { onDb: (db: Db) => void }) {
  onDb(useDb());
  return <p>ready</p>;
}

describeCores("React adapter", ({ name, install }) => {
  let core: FakeCore;
  beforeEach(async () => void (core = (await install()) as FakeCore));

  it("renders the fallback, then children with the Db", async () => {
    let db: Db | undefined;
    render(
      <JazzProvider config={config()} fallback={<p>loading</p>}>
        <Capture onDb={(d) => (db = d)} />
      </JazzProvider>,
    );
    expect(text()).toBe("loading");
    await waitText("ready");
    expect(db!.getAuthState().authMode).toBe("local-first");
  });

  it("runs the seed Sessions component: lists and adds the user's todos live", async () => {
    render(
      <JazzProvider config={config({ secret: testSecret(2) })}>
        <OwnedTodos />
      </JazzProvider>,
    );
    await waitText("add");
    act(() => el.querySelector("button")!.click());
    await waitText("new todoadd");
  });

  it("useAll: undefined query is idle; a new but equal query object keeps its subscription", async () => {
    let db!: Db;
    let renders = 0;
    function List({ title }: { title: string | undefined }) {
      db = useDb();
      renders++;
      const rows = useAll(title === undefined ? undefined : todoApp.todos.where({ title }));
      return <p>{rows === undefined ? "none" : rows.map((r) => r.title).join(",") || "empty"}</p>;
    }
    const rerender = render(
      <JazzProvider config={config({ secret: testSecret(3) })}>
        <List title={undefined} />
      </JazzProvider>,
    );
    await waitText("none");
    const subscribe = vi.spyOn(db, "subscribe");
    rerender(
      <JazzProvider config={config({ secret: testSecret(3) })}>
        <List title="a" />
      </JazzProvider>,
    );
    await waitText("empty");
    await db.insert(todoApp.todos, { title: "a", done: false, owner_id: "o" });
    await waitText("a");
    const before = renders;
    for (let i = 0; i < 3; i++) {
      rerender(
        <JazzProvider config={config({ secret: testSecret(3) })}>
          <List title="a" />
        </JazzProvider>,
      );
    }
    expect(renders).toBeGreaterThan(before);
    expect(subscribe).toHaveBeenCalledOnce();
  });

  it("recreates the Db when the config changes, and closes the old one", async () => {
    const dbs: Db[] = [];
    const users: string[] = [];
    const ui = (secret: string) => (
      <JazzProvider config={config({ secret })}>
        <Capture onDb={(d) => dbs.at(-1) !== d && dbs.push(d) && users.push(d.getAuthState().session!.user_id)} />
      </JazzProvider>
    );
    const rerender = render(ui(testSecret(4)));
    await waitText("ready");
    rerender(ui(testSecret(4))); // equal config: same Db
    await new Promise((r) => setTimeout(r, 20));
    expect(dbs).toHaveLength(1);
    rerender(ui(testSecret(5)));
    await vi.waitFor(() => expect(dbs).toHaveLength(2));
    await expect(dbs[0]!.all(todoApp.todos)).rejects.toBeInstanceOf(ClosedError);
    expect(users[1]).not.toBe(users[0]);
  });

  it("useSession and useAuthState follow auth changes", async () => {
    let db!: Db;
    function Who() {
      db = useDb();
      return <p>{useSession()?.user_id}</p>;
    }
    render(
      <JazzProvider config={config({ secret: undefined, jwtToken: fakeJwt("user-7", { role: "a" }) })}>
        <Who />
        <AuthStatus />
      </JazzProvider>,
    );
    // Claims come back in the core's (sorted) key order, not the token's.
    await waitText(/^user-7external user-7 \{(?=.*"sub":"user-7")(?=.*"role":"a").*\} ok$/);
    act(() => db.updateAuthToken(fakeJwt("user-7", { role: "b" })));
    await waitText('"role":"b"');
  });

  it("throws a Db creation error to the nearest error boundary", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    render(
      <Boundary>
        <JazzProvider config={config({ jwtToken: fakeJwt("u") })}>
          <p>never</p>
        </JazzProvider>
      </Boundary>,
    );
    await waitText(/^ConfigError: /);
  });

  it.skipIf(name !== "fake")("calls the latest onJWTExpired prop, single-flight", async () => {
    const first = vi.fn(async () => fakeJwt("u", { n: 1 }));
    const second = vi.fn(async () => fakeJwt("u", { n: 2 }));
    const ui = (hook: () => Promise<string>) => (
      <JazzProvider config={config({ secret: undefined, jwtToken: fakeJwt("u") })} onJWTExpired={hook}>
        <AuthStatus />
      </JazzProvider>
    );
    const rerender = render(ui(first));
    await waitText("external");
    rerender(ui(second));
    await Promise.all([core.dbs.at(-1)!.expire(), core.dbs.at(-1)!.expire()]);
    expect(first).not.toHaveBeenCalled();
    expect(second).toHaveBeenCalledOnce();
    await waitText('"n":2');
  });
});

it("useDb outside a JazzProvider names the provider to add", () => {
  vi.spyOn(console, "error").mockImplementation(() => {});
  function Orphan() {
    useDb();
    return null;
  }
  render(
    <Boundary>
      <Orphan />
    </Boundary>,
  );
  expect(text()).toMatch(/^Error: jazz-tools\/react: useDb\(\) .* need a <JazzProvider config=\{\.\.\.\}> above this component$/);
});

it("useLocalFirstAuth: loading, then a stored secret, namespaced by app id", async () => {
  localStorage.clear();
  const seen: (string | null)[] = [];
  function Probe({ appId }: { appId?: string }) {
    const { secret, isLoading } = useLocalFirstAuth(appId);
    seen.push(isLoading ? "loading" : secret);
    return <p>{isLoading ? "loading" : secret}</p>;
  }
  render(<Probe />);
  await vi.waitFor(() => expect(text()).toMatch(/^[A-Za-z0-9_-]{43}$/));
  expect(seen[0]).toBe("loading");
  expect(localStorage.getItem("jazz-tools:local-first-secret:default")).toBe(text());
  const first = text();
  act(() => root!.render(<Probe appId="other" />));
  await vi.waitFor(() => expect(text()).toMatch(/^[A-Za-z0-9_-]{43}$/));
  expect(text()).not.toBe(first);
  act(() => root!.render(<Probe />));
  expect(text()).toBe(first); // stored: no loading state the second time
});

it("runs the seed sign-in switch: Loading… until the local-first secret exists, none with a stored JWT", async () => {
  localStorage.clear();
  (globalThis as { __jazzCore?: unknown }).__jazzCore = createFakeCore();
  render(<SignInOrOut />);
  expect(text()).toBe("Loading…");
  await vi.waitFor(() => expect(text()).toBe(""));
  expect(localStorage.getItem("jazz-tools:local-first-secret:default")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  act(() => root!.unmount());
  localStorage.clear();
  seedEnv.storedJwt = fakeJwt("u");
  try {
    render(<SignInOrOut />);
    expect(text()).toBe("");
  } finally {
    seedEnv.storedJwt = null;
  }
});
