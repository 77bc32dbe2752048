// Type-level specification of the DSL, checked by `npm run typecheck`
// (never executed). @ts-expect-error lines must stay errors.
import { schema as s, type Db, type Insert, type Patch, type Row } from "jazz-tools";
import { fullApp } from "../support/apps.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assert = <T extends true>(_: T) => {};

type Todo = Row<typeof fullApp.todos>;
assert<Equal<Todo, {
  id: string;
  $createdBy: string;
  $createdAt: number;
  $updatedBy: string;
  $updatedAt: number;
  title: string;
  done: boolean;
  rank: number | null;
  weight: number | null;
  due: number | null;
  meta: { tags: string[] } | null;
  body: string | null;
  owner_id: string;
  list: string;
}>>(true);

// A query's rows are its table's rows.
assert<Equal<Row<ReturnType<typeof fullApp.todos.where>>, Todo>>(true);

type NewTodo = Insert<typeof fullApp.todos>;
assert<Equal<NewTodo, {
  title: string;
  done: boolean;
  owner_id: string;
  list: string;
  rank?: number | null;
  weight?: number | null;
  due?: number | Date | null;
  meta?: { tags: string[] } | null;
  body?: string | null;
}>>(true);
assert<Equal<Patch<typeof fullApp.todos>, Partial<NewTodo>>>(true);

declare const db: Db;
export async function usage() {
  const rows: Todo[] = await db.all(fullApp.todos.where({ rank: { gt: 3 } }).orderBy("title", "desc").limit(5));
  const one: Todo | null = await db.one(fullApp.todos);
  const inserted: Todo = await db.insert(fullApp.todos, { title: "t", done: false, owner_id: "o", list: "l", due: new Date() });
  await db.update(fullApp.todos, inserted.id, { done: true });
  db.subscribe(fullApp.lists, (lists, change) => {
    const names: string[] = lists.map((l) => l.name);
    const removed: string[] = change.removed;
    void [names, removed];
  });

  fullApp.todos.where({ $createdBy: "u", $createdAt: { gte: new Date() }, id: { in: ["a"] } });
  fullApp.todos.where({ title: { contains: "x" }, rank: { isNull: true }, body: null });
  fullApp.todos.orderBy("$updatedAt");
  // @ts-expect-error unknown column
  fullApp.todos.where({ titel: "x" });
  // @ts-expect-error wrong value type
  fullApp.todos.where({ done: "yes" });
  // @ts-expect-error in takes an array
  fullApp.todos.where({ title: { in: "x" } });
  // @ts-expect-error null only for optional columns
  fullApp.todos.where({ title: null });
  // @ts-expect-error unknown sort column
  fullApp.todos.orderBy("nope");
  // @ts-expect-error required column missing
  await db.insert(fullApp.todos, { title: "t", done: false, owner_id: "o" });
  // @ts-expect-error magic columns are not writable
  await db.update(fullApp.todos, "id", { $createdBy: "x" });
  // @ts-expect-error updateAuthToken(null) is refused on a live Db
  db.updateAuthToken(null);
  void [rows, one];
}

s.definePermissions(fullApp, ({ policy, session, allOf, anyOf, not }) => {
  policy.todos.allowRead.where({ owner_id: session.user_id });
  policy.todos.allowRead.where({ list: { in: session.claims.lists } });
  policy.todos.allowRead.where(allOf([{ done: true }, anyOf({ rank: 1 }, not({ rank: 2 }))]));
  policy.lists.allowDelete.where(session.claims.roles.contains("admin"));
  policy.lists.allowDelete.where(session.where({ authMode: "anonymous", "claims.org.id": "o" }));
  policy.todos.allowUpdate.whereOld({ owner_id: session.user_id }).whereNew({ done: false });
  // @ts-expect-error unknown table
  policy.nope.allowRead.always();
  // @ts-expect-error unknown column
  policy.todos.allowRead.where({ nope: session.user_id });
  // @ts-expect-error not an auth mode
  session.where({ authMode: "admin" });
  // @ts-expect-error user_id has no sub-fields
  void session.user_id.org;
});

// Enum, array, bytes and defaults: a default makes a column optional on
// insert but never null on read.
const typed = s.defineApp({
  notes: s.table({
    status: s.enum("draft", "live").default("draft"),
    tags: s.array(s.string()).default([]),
    scores: s.array(s.int()).optional(),
    body: s.bytes().optional(),
    kind: s.enum("a", "b"),
  }),
});
type Note = Row<typeof typed.notes>;
assert<Equal<Note["status"], "draft" | "live">>(true);
assert<Equal<Note["tags"], string[]>>(true);
assert<Equal<Note["scores"], number[] | null>>(true);
assert<Equal<Note["body"], Uint8Array | null>>(true);
type NewNote = Insert<typeof typed.notes>;
assert<Equal<NewNote, { kind: "a" | "b"; status?: "draft" | "live"; tags?: string[]; scores?: number[] | null; body?: Uint8Array | null }>>(true);
// @ts-expect-error not one of the enum's values
const badNote: NewNote = { kind: "c" };
// @ts-expect-error a default fits its column
s.enum("a", "b").default("c");
declare const tdb: Db;
async function writeHandles() {
  const h = tdb.insert(typed.notes, { kind: "a" });
  const n: Note = await h;
  const w: Note = await h.wait({ tier: "edge" });
  const id: string = h.batchId;
  await tdb.upsert(typed.notes, { kind: "b" }, { id });
  await tdb.restore(typed.notes, id, { kind: "b" }).wait({ tier: "local" });
  await tdb.all(typed.notes.where({ tags: { contains: "x" }, status: "live" }));
  return [n, w, badNote];
}
void writeHandles;
// Relations: a ref column projectId gives the relation project, and its
// table the reverse relation todosViaProject.
const relApp = s.defineApp({
  projects: s.table({ name: s.string() }),
  todos: s.table({
    title: s.string(),
    projectId: s.ref("projects").optional(),
    owner_id: s.ref("projects"),
    parent_id: s.ref("todos").optional(),
  }),
});
type Project = Row<typeof relApp.projects>;
type Flat<T> = { [K in keyof T]: T[K] } & {};
type RelTodo = Row<typeof relApp.todos>;
const withProject = relApp.todos.include({ project: true, owner: true });
assert<Equal<Row<typeof withProject>, Flat<RelTodo & { project: Project | null; owner: Project }>>>(true);
const withTodos = relApp.projects.include({ todosViaProject: relApp.todos.where({ title: "x" }).select("title") });
assert<Equal<Row<typeof withTodos>, Flat<Project & { todosViaProject: { id: string; title: string }[] }>>>(true);
const nested = relApp.todos.select("title").include({ parent: relApp.todos.include({ project: relApp.projects.select("name") }) });
assert<Equal<Row<typeof nested>, { id: string; title: string; parent: Flat<RelTodo & { project: { id: string; name: string } | null }> | null }>>(true);
const perms = relApp.todos.select("title", "$canEdit");
assert<Equal<Row<typeof perms>, { id: string; title: string; $canEdit: boolean | null }>>(true);
assert<Equal<Row<ReturnType<typeof withProject.requireIncludes>>, Row<typeof withProject>>>(true);
// @ts-expect-error unknown relation
relApp.todos.include({ projects: true });
// @ts-expect-error a reverse relation of another table
relApp.todos.include({ todosViaProject: true });
// @ts-expect-error an include takes a query of the related table
relApp.todos.include({ project: relApp.todos });
// @ts-expect-error unknown column
relApp.todos.select("nope");
