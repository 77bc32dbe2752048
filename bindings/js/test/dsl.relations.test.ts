// Permissions through relations (Jazz's allowedTo and exists), compiled
// from the forms of Jazz's own permission docs, and read back by the Go
// decoder the server and the core use.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { schema as s, type PermissionsDSL } from "../src/index.js";

const app = s.defineApp({
  projects: s.table({ name: s.string(), owner_id: s.string() }),
  todos: s.table({
    title: s.string(),
    done: s.boolean(),
    parentId: s.ref("todos").optional(),
    projectId: s.ref("projects").optional(),
    owner_id: s.string(),
  }),
  todoShares: s.table({ todoId: s.ref("todos"), user_id: s.string(), can_read: s.boolean() }),
});

const me = { session: "user_id" };

describe("allowedTo and exists", () => {
  it("compiles inherited access, by relation or ref column, with maxDepth", () => {
    const { policies } = s.definePermissions(app, ({ policy, anyOf, allOf, allowedTo }) => {
      policy.todos.allowRead.where(anyOf([{ done: false }, allowedTo.read("project")]));
      policy.todos.allowUpdate
        .whereOld(allOf([allowedTo.update("parent", { maxDepth: 5 }), { done: false }]))
        .whereNew(allowedTo.update("parentId", { maxDepth: 5 }));
      policy.todos.allowDelete.where(allowedTo.delete("project"));
      policy.todos.allowInsert.where(allowedTo.insert("project"));
    });
    expect(policies.todos).toEqual({
      read: { or: [{ eq: [{ col: "done" }, { value: false }] }, { allowedTo: { op: "read", via: "projectId" } }] },
      updateOld: { and: [{ allowedTo: { op: "update", via: "parentId", maxDepth: 5 } }, { eq: [{ col: "done" }, { value: false }] }] },
      updateNew: { allowedTo: { op: "update", via: "parentId", maxDepth: 5 } },
      delete: { allowedTo: { op: "delete", via: "projectId" } },
      insert: { allowedTo: { op: "insert", via: "projectId" } },
    });
  });

  it("compiles exists in the callback form, correlated with the judged row", () => {
    const { policies } = s.definePermissions(app, ({ policy, anyOf, allOf, session }) => {
      policy.todos.allowRead.where((todo) =>
        anyOf([
          { owner_id: session.user_id },
          policy.todoShares.exists.where({ todoId: todo.id, user_id: session.user_id, can_read: true }),
        ]),
      );
      policy.todos.allowUpdate.whereOld({ owner_id: session.user_id }).whereNew((updated) =>
        allOf([{ owner_id: session.user_id }, policy.todos.exists.where({ id: updated.id, parentId: updated.parentId })]),
      );
    });
    expect(policies.todos!.read).toEqual({
      or: [
        { eq: [{ col: "owner_id" }, me] },
        {
          exists: {
            table: "todoShares",
            where: { and: [{ eq: [{ col: "can_read" }, { value: true }] }, { eq: [{ col: "todoId" }, { outer: "id" }] }, { eq: [{ col: "user_id" }, me] }] },
          },
        },
      ],
    });
    expect(policies.todos!.updateNew).toEqual({
      and: [
        { eq: [{ col: "owner_id" }, me] },
        { exists: { table: "todos", where: { and: [{ eq: [{ col: "id" }, { outer: "id" }] }, { eq: [{ col: "parentId" }, { outer: "parentId" }] }] } } },
      ],
    });
  });

  it("refuses what cannot mean anything, naming it", () => {
    const compile = (define: (dsl: PermissionsDSL<typeof app>) => void) => () => s.definePermissions(app, define);
    expect(compile(({ policy, allowedTo }) => policy.todos.allowRead.where(allowedTo.read("owner")))).toThrow(
      /allowedTo.read\("owner"\): todos has no relation "owner" \(its relations: parent, project/,
    );
    expect(compile(({ policy, allowedTo }) => policy.todos.allowRead.where(allowedTo.read("todosViaParent")))).toThrow(/no relation "todosViaParent"/);
    expect(() => s.definePermissions(app, ({ allowedTo }) => allowedTo.read("parent", { maxDepth: 0 }))).toThrow(/maxDepth must be a whole number from 1 to 64/);
    // The types refuse these too; at run time they throw.
    const unknownRowColumn = compile(({ policy }) =>
      policy.todos.allowRead.where((todo) =>
        // @ts-expect-error todos has no column nope
        policy.todoShares.exists.where({ todoId: todo.nope }),
      ),
    );
    expect(unknownRowColumn).toThrow(/todos has no column "nope"/);
    const unknownColumn = compile(({ policy }) =>
      policy.todos.allowRead.where((todo) =>
        // @ts-expect-error todoShares has no column nope
        policy.todoShares.exists.where({ nope: todo.id }),
      ),
    );
    expect(unknownColumn).toThrow(/exists todoShares: unknown column "nope"/);
  });
});

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const hasGo = spawnSync("go", ["version"]).status === 0;

describe.skipIf(!hasGo)("the Go decoder reads relational policies", () => {
  it("accepts them and gives back the same JSON", () => {
    const perms = s.definePermissions(app, ({ policy, anyOf, session, allowedTo }) => {
      policy.todos.allowRead.where((todo) =>
        anyOf([allowedTo.read("parent", { maxDepth: 3 }), policy.todoShares.exists.where({ todoId: todo.id, user_id: session.user_id })]),
      );
      policy.todoShares.allowRead.where(allowedTo.read("todo"));
    });
    const json = JSON.stringify(s.compileBundle(app, perms));
    const r = spawnSync("go", ["run", "./bindings/js/test/gocheck"], { cwd: repoRoot, input: json, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(json));
  }, 180_000);
});
