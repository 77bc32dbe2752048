// Relations and includes through the package with the real (wasm) core:
// the semantics, and a seeded random history checking that a live result
// with includes always equals the query run again from scratch.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createDb, schema as s, type Db, type Row } from "../src/index.js";
import { hasWasm, loadRealCore, testSecret } from "./support/cores.js";

const app = s.defineApp({
  projects: s.table({ name: s.string() }),
  todos: s.table({
    title: s.string(),
    rank: s.int(),
    projectId: s.ref("projects").optional(),
    parent_id: s.ref("todos").optional(),
  }),
});

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe.skipIf(!hasWasm)("includes (wasm core)", () => {
  const open: Db[] = [];
  beforeAll(async () => void ((globalThis as { __jazzCore?: unknown }).__jazzCore = await loadRealCore()));
  afterEach(async () => void (await Promise.all(open.splice(0).map((d) => d.close()))));
  const make = async (n: number) => {
    const db = await createDb({ appId: "test-app", storage: "memory", secret: testSecret(n) });
    open.push(db);
    return db;
  };

  it("resolves forward and reverse relations with Jazz's inner join", async () => {
    const db = await make(40);
    const p = await db.insert(app.projects, { name: "home" });
    const a = await db.insert(app.todos, { title: "a", rank: 1, projectId: p.id });
    await db.insert(app.todos, { title: "b", rank: 2, projectId: "01900000-0000-7000-8000-00000000dead" }); // not here
    await db.insert(app.todos, { title: "c", rank: 3 });
    await db.insert(app.todos, { title: "d", rank: 4, parent_id: a.id });

    const rows = await db.all(app.todos.include({ project: true }).orderBy("rank"));
    expect(rows.map((r) => [r.title, r.project?.name ?? null])).toEqual([["a", "home"], ["c", null], ["d", null]]);
    expect(rows[0]!.projectId).toBe(p.id);

    const required = await db.all(app.todos.include({ project: true }).requireIncludes().orderBy("rank"));
    expect(required.map((r) => r.title)).toEqual(["a"]);

    const nested = await db.all(app.todos.where({ title: "d" }).include({ parent: app.todos.include({ project: app.projects.select("name") }) }));
    expect(nested[0]!.parent?.project).toEqual({ id: p.id, name: "home" });

    const projects = await db.all(app.projects.include({ todosViaProject: app.todos.where({ rank: { lt: 5 } }).orderBy("rank", "desc").select("title") }));
    expect(projects[0]!.todosViaProject).toEqual([{ id: a.id, title: "a" }]);

    const perms = await db.all(app.todos.select("title", "$canRead", "$canEdit").where({ title: "a" }));
    expect(Object.keys(perms[0]!).sort()).toEqual(["$canEdit", "$canRead", "id", "title"]);

    expect(() => app.todos.include({ nope: true } as never)).toThrow(/no relation "nope"/);
    expect(() => app.todos.include({ project: app.todos } as never)).toThrow(/query of projects/);
  });

  it("keeps a live result with includes equal to the query run again (seeded)", async () => {
    const seed = Number(process.env.JAZZ_SEED ?? Date.now() % 1e9);
    console.log(`includes live seed ${seed} (replay with JAZZ_SEED)`);
    let x = seed >>> 0 || 1;
    const rnd = (n: number) => {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      return x % n;
    };
    const db = await make(41);
    const queries = [
      app.todos.include({ project: true }).orderBy("rank"),
      app.todos.include({ parent: app.todos.include({ project: true }) }).requireIncludes().orderBy("title", "desc").limit(4),
      app.projects.include({ todosViaProject: app.todos.where({ rank: { gt: 0 } }).orderBy("rank").limit(2) }),
    ] as const;
    const live: unknown[][] = queries.map(() => []);
    const stops = queries.map((q, i) => db.subscribe(q, (rows) => void (live[i] = rows)));
    const projects: string[] = [];
    const todos: string[] = [];
    const pick = (xs: string[]) => (xs.length === 0 || rnd(5) === 0 ? null : xs[rnd(xs.length)]!);
    for (let step = 0; step < 120; step++) {
      const r = rnd(10);
      if (r < 2 || projects.length === 0) {
        projects.push((await db.insert(app.projects, { name: `p${rnd(3)}` })).id);
      } else if (r < 6 || todos.length < 3) {
        todos.push((await db.insert(app.todos, { title: `t${rnd(4)}`, rank: rnd(4), projectId: pick(projects), parent_id: pick(todos) })).id);
      } else if (r < 9) {
        const id = todos[rnd(todos.length)]!;
        await db.update(app.todos, id, rnd(2) ? { projectId: pick(projects) } : { rank: rnd(4), title: `t${rnd(4)}` });
      } else {
        const list = rnd(2) ? projects : todos;
        const [id] = list.splice(rnd(list.length), 1);
        await db.delete(list === projects ? app.projects : app.todos, id!);
      }
      for (const [i, q] of queries.entries()) {
        const want = await db.all(q as never);
        await until(() => JSON.stringify(live[i]) === JSON.stringify(want));
      }
    }
    expect((live[0] as Row<typeof queries[0]>[]).some((r) => r.project !== null)).toBe(true);
    stops.forEach((stop) => stop());
  });
});
