// The React example: auth modes, owner-scoped todos, the public list,
// projects shared with teammates, sign in / out / up with the dev issuer,
// JWT refreshes and the backend route.
import { Component, useEffect, useState, useSyncExternalStore, type ReactNode } from "react";
import type { Db, Row } from "jazz-tools";
import { JazzProvider, useAll, useAuthState, useDb, useLocalFirstAuth } from "jazz-tools/react";
import {
  announce, APP_ID, app, authChoice, browseAnonymously, dbConfig, describeEntry, describeError, fetchFreshJwt,
  instanceNumber, providerKey, refreshes, shortId, signIn, signOut, signUp, switchToLocalFirst, watchAuthErrors,
  type AuthChoice,
} from "@examples/shared";

export function Root() {
  const choice = useSyncExternalStore(authChoice.subscribe, authChoice.getSnapshot);
  const { secret, isLoading } = useLocalFirstAuth(APP_ID);
  if (choice.mode === "local-first" && (isLoading || !secret)) return <p>Loading…</p>;
  return (
    <main>
      <h1>Jazz todos — React</h1>
      <CrashBoundary key={providerKey(choice)}>
        {/* A new key (sign in, sign out, sign up, mode switch) gives a fresh Db. */}
        <JazzProvider
          key={providerKey(choice)}
          config={dbConfig(choice, secret)}
          onJWTExpired={fetchFreshJwt}
          fallback={<p data-testid="loading">Starting the database…</p>}
        >
          <TodoApp choice={choice} />
        </JazzProvider>
      </CrashBoundary>
    </main>
  );
}

class CrashBoundary extends Component<{ children: ReactNode }, { error: unknown }> {
  override state = { error: null as unknown };
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  override render() {
    return this.state.error ? <p className="error" data-testid="fatal">{describeError(this.state.error)}</p> : this.props.children;
  }
}

function TodoApp({ choice }: { choice: AuthChoice }) {
  const db = useDb();
  const { authMode, userId, claims, error: authError } = useAuthState();
  const [error, setError] = useState<string | null>(null);
  useEffect(() => db.onError((e) => setError(describeError(e))), [db]);
  useEffect(() => watchAuthErrors(db), [db]);
  const report = (p: Promise<unknown>) => void p.then(() => setError(null), (e: unknown) => setError(describeError(e)));

  return (
    <>
      <section className="auth">
        <dl>
          <dt>auth mode</dt>
          <dd data-testid="auth-mode">{authMode}</dd>
          <dt>user id</dt>
          <dd data-testid="user-id">{userId ?? "—"}</dd>
          {typeof claims.username === "string" && (<><dt>username</dt><dd data-testid="username-claim">{claims.username}</dd></>)}
          <dt>auth error</dt>
          <dd data-testid="auth-error">{authError ?? "none"}</dd>
          <dt>Db instance</dt>
          <dd data-testid="db-instance">#{instanceNumber(db)} ({db.storageMode})</dd>
        </dl>
        <AuthControls db={db} choice={choice} report={report} />
      </section>
      {error && <p className="error" data-testid="error">{error}</p>}
      <AddTodo db={db} userId={userId} report={report} />
      <h2>My todos</h2>
      <section>
        <TodoList db={db} userId={userId} report={report} />
      </section>
      <h2>Public todos (readable by anyone, anonymous visitors included)</h2>
      <section>
        <PublicList />
      </section>
      <Projects db={db} userId={userId} report={report} />
      <Announcements choice={choice} report={report} />
      <RefreshLog />
    </>
  );
}

function AuthControls({ db, choice, report }: { db: Db; choice: AuthChoice; report: (p: Promise<unknown>) => void }) {
  const [username, setUsername] = useState("");
  return (
    <>
      <div className="row">
        {choice.mode !== "local-first" && <button data-testid="use-local-first" onClick={switchToLocalFirst}>Use local-first</button>}
        {choice.mode !== "anonymous" && <button data-testid="browse-anonymously" onClick={browseAnonymously}>Browse anonymously</button>}
        {choice.mode === "external" && <button data-testid="sign-out" onClick={() => report(signOut())}>Sign out</button>}
      </div>
      <div className="row">
        <input type="text" data-testid="username" placeholder="username" value={username} onChange={(e) => setUsername(e.target.value)} />
        <button data-testid="sign-in" onClick={() => report(signIn(username))}>Sign in with the dev issuer</button>
        {choice.mode === "local-first" && (
          <button data-testid="sign-up" onClick={() => report(signUp(db, username))}>Sign up (keep this identity)</button>
        )}
      </div>
    </>
  );
}

function AddTodo({ db, userId, report }: { db: Db; userId: string | null; report: (p: Promise<unknown>) => void }) {
  const [title, setTitle] = useState("");
  const [isPublic, setPublic] = useState(false);
  const add = () => {
    if (!title.trim() || !userId) return;
    report(db.insert(app.todos, { title: title.trim(), done: false, owner_id: userId, public: isPublic }));
    setTitle("");
  };
  return (
    <form className="row" onSubmit={(e) => (e.preventDefault(), add())}>
      <input type="text" data-testid="new-title" placeholder="What needs doing?" value={title} onChange={(e) => setTitle(e.target.value)} />
      <label>
        <input type="checkbox" data-testid="new-public" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} /> public
      </label>
      <button className="primary" data-testid="add" type="submit">Add</button>
    </form>
  );
}

function TodoList({ db, userId, report }: { db: Db; userId: string | null; report: (p: Promise<unknown>) => void }) {
  const todos = useAll(userId ? app.todos.where({ owner_id: userId }).orderBy("$createdAt") : undefined);
  if (!todos) return <p className="empty">loading…</p>;
  if (todos.length === 0) return <p className="empty" data-testid="no-todos">No todos yet.</p>;
  return (
    <ul data-testid="todos">
      {todos.map((t) => (
        <li key={t.id} className={`todo${t.done ? " done" : ""}`} data-testid="todo" data-title={t.title} data-done={String(t.done)} data-created-by={t.$createdBy}>
          <input type="checkbox" data-testid="toggle" checked={t.done} onChange={() => report(db.update(app.todos, t.id, { done: !t.done }))} />
          <span className="title">{t.title} {t.public && <span className="badge">public</span>}</span>
          <span className="meta" title={t.$createdBy}>by {shortId(t.$createdBy)}</span>
          <span className="meta">{new Date(t.$updatedAt).toLocaleTimeString()}</span>
          <button data-testid="delete" onClick={() => report(db.delete(app.todos, t.id))}>✕</button>
        </li>
      ))}
    </ul>
  );
}

function PublicList() {
  const todos = useAll(app.todos.where({ public: true }).orderBy("$createdAt"));
  if (!todos) return <p className="empty">loading…</p>;
  if (todos.length === 0) return <p className="empty">Nothing public yet.</p>;
  return (
    <ul data-testid="public-todos">
      {todos.map((t) => (
        <li key={t.id} className={`todo${t.done ? " done" : ""}`} data-testid="public-todo" data-title={t.title} data-created-by={t.$createdBy}>
          <span>{t.done ? "☑" : "☐"}</span>
          <span className="title">{t.title}</span>
          <span className="meta" title={t.$createdBy}>by {shortId(t.$createdBy)}</span>
          <span className="meta">{new Date(t.$updatedAt).toLocaleTimeString()}</span>
          <span />
        </li>
      ))}
    </ul>
  );
}

// Every project the session may read: its own and those shared with it (the
// policy decides; no filter needed), each with its todos and its shares.
const projectsQuery = app.projects
  .include({
    projectTodosViaProject: app.projectTodos.orderBy("$createdAt"),
    projectSharesViaProject: app.projectShares.orderBy("$createdAt"),
  })
  .orderBy("$createdAt");

function Projects({ db, userId, report }: { db: Db; userId: string | null; report: (p: Promise<unknown>) => void }) {
  const projects = useAll(userId ? projectsQuery : undefined);
  const [name, setName] = useState("");
  const create = () => {
    if (!name.trim() || !userId) return;
    report(db.insert(app.projects, { name: name.trim(), owner_id: userId }));
    setName("");
  };
  return (
    <>
      <h2>Projects (yours, and those shared with you)</h2>
      <section>
        <form className="row" onSubmit={(e) => (e.preventDefault(), create())}>
          <input type="text" data-testid="new-project" placeholder="New project" value={name} onChange={(e) => setName(e.target.value)} />
          <button data-testid="create-project" type="submit">Create</button>
        </form>
        {projects?.length === 0 && <p className="empty" data-testid="no-projects">No projects yet.</p>}
        <ul data-testid="projects">
          {(projects ?? []).map((p) => <Project key={p.id} db={db} project={p} userId={userId} report={report} />)}
        </ul>
      </section>
    </>
  );
}

function Project({ db, project, userId, report }: { db: Db; project: Row<typeof projectsQuery>; userId: string | null; report: (p: Promise<unknown>) => void }) {
  const [title, setTitle] = useState("");
  const [shareWith, setShareWith] = useState("");
  const mine = project.owner_id === userId;
  const add = () => {
    if (!title.trim()) return;
    report(db.insert(app.projectTodos, { title: title.trim(), done: false, projectId: project.id }));
    setTitle("");
  };
  const share = () => {
    if (!shareWith.trim()) return;
    report(db.insert(app.projectShares, { projectId: project.id, user_id: shareWith.trim() }));
    setShareWith("");
  };
  return (
    <li className="project" data-testid="project" data-name={project.name} data-id={project.id}>
      <div className="row">
        <strong>{project.name}</strong>
        <span className="meta" title={project.owner_id}>{mine ? "yours" : `shared with you by ${shortId(project.owner_id)}`}</span>
      </div>
      <ul>
        {project.projectTodosViaProject.map((t) => (
          <li key={t.id} className={`todo${t.done ? " done" : ""}`} data-testid="project-todo" data-title={t.title} data-done={String(t.done)}>
            <input type="checkbox" data-testid="project-toggle" checked={t.done} onChange={() => report(db.update(app.projectTodos, t.id, { done: !t.done }))} />
            <span className="title">{t.title}</span>
            <span className="meta" title={t.$createdBy}>by {shortId(t.$createdBy)}</span>
            <span />
            <button data-testid="project-delete" onClick={() => report(db.delete(app.projectTodos, t.id))}>✕</button>
          </li>
        ))}
      </ul>
      <form className="row" onSubmit={(e) => (e.preventDefault(), add())}>
        <input type="text" data-testid="project-todo-title" placeholder="Add to this project" value={title} onChange={(e) => setTitle(e.target.value)} />
        <button data-testid="add-project-todo" type="submit">Add</button>
      </form>
      {mine && (
        <>
          <ul>
            {project.projectSharesViaProject.map((s) => (
              <li key={s.id} className="row" data-testid="project-share" data-user-id={s.user_id}>
                <span className="meta">shared with {s.user_id}</span>
                <button data-testid="revoke" onClick={() => report(db.delete(app.projectShares, s.id))}>Revoke</button>
              </li>
            ))}
          </ul>
          <form className="row" onSubmit={(e) => (e.preventDefault(), share())}>
            <input type="text" data-testid="share-user-id" placeholder="teammate's user id" value={shareWith} onChange={(e) => setShareWith(e.target.value)} />
            <button data-testid="share" type="submit">Share</button>
          </form>
        </>
      )}
    </li>
  );
}

function Announcements({ choice, report }: { choice: AuthChoice; report: (p: Promise<unknown>) => void }) {
  const rows = useAll(app.announcements.orderBy("$createdAt"));
  const [text, setText] = useState("");
  return (
    <>
      <h2>Announcements (written by the backend route, attributed to you)</h2>
      <section>
        {choice.mode === "external" && (
          <form className="row" onSubmit={(e) => (e.preventDefault(), report(announce(text)), setText(""))}>
            <input type="text" data-testid="announce-text" placeholder="announcement" value={text} onChange={(e) => setText(e.target.value)} />
            <button data-testid="announce" type="submit">Post via backend</button>
          </form>
        )}
        <ul data-testid="announcements">
          {(rows ?? []).map((a) => (
            <li key={a.id} data-testid="announcement" data-text={a.text} data-created-by={a.$createdBy}>
              {a.text} <span className="meta" title={a.$createdBy}>by {shortId(a.$createdBy)}</span>
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}

function RefreshLog() {
  const log = useSyncExternalStore(refreshes.subscribe, refreshes.getSnapshot);
  return (
    <>
      <h2>JWT refreshes (onJWTExpired) and auth errors</h2>
      <section>
        {log.length === 0 ? (
          <p className="empty">none yet</p>
        ) : (
          <ul className="log" data-testid="auth-log">
            {log.map((e, i) => (
              <li key={i} data-testid="log-entry" data-kind={e.kind} data-status={e.status} data-at={e.at} data-ended-at={e.endedAt}>
                {describeEntry(e)}
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
