import { describe, expect, it } from "vitest";
import { schema as s } from "../src/index.js";
import { fullApp } from "./support/apps.js";

const { todos } = fullApp;
const where = (q: { toJSON(): { where?: unknown } }) => q.toJSON().where;

describe("query where", () => {
  it("compiles equality objects", () => {
    expect(where(todos.where({ owner_id: "u1" }))).toEqual({ eq: [{ col: "owner_id" }, { value: "u1" }] });
  });

  it.each([
    ["eq", { rank: { eq: 3 } }, { eq: [{ col: "rank" }, { value: 3 }] }],
    ["ne", { rank: { ne: 3 } }, { ne: [{ col: "rank" }, { value: 3 }] }],
    ["lt", { rank: { lt: 3 } }, { lt: [{ col: "rank" }, { value: 3 }] }],
    ["lte", { rank: { lte: 3 } }, { lte: [{ col: "rank" }, { value: 3 }] }],
    ["gt", { rank: { gt: 3 } }, { gt: [{ col: "rank" }, { value: 3 }] }],
    ["gte", { rank: { gte: 3 } }, { gte: [{ col: "rank" }, { value: 3 }] }],
    ["in", { title: { in: ["a", "b"] } }, { in: [{ col: "title" }, { value: ["a", "b"] }] }],
    ["contains", { title: { contains: "milk" } }, { contains: [{ col: "title" }, { value: "milk" }] }],
    ["isNull true", { rank: { isNull: true } }, { isNull: { col: "rank" } }],
    ["isNull false", { rank: { isNull: false } }, { not: { isNull: { col: "rank" } } }],
    ["null value", { rank: null }, { isNull: { col: "rank" } }],
    ["magic column", { $createdBy: "u1" }, { eq: [{ col: "$createdBy" }, { value: "u1" }] }],
    ["id", { id: "r1" }, { eq: [{ col: "id" }, { value: "r1" }] }],
    ["Date as ms", { due: { gt: new Date(1000) } }, { gt: [{ col: "due" }, { value: 1000 }] }],
    ["several operators", { rank: { lte: 9, gt: 3 } }, { and: [{ gt: [{ col: "rank" }, { value: 3 }] }, { lte: [{ col: "rank" }, { value: 9 }] }] }],
    ["a json literal", { meta: { tags: ["x"] } }, { eq: [{ col: "meta" }, { value: { tags: ["x"] } }] }],
    ["undefined skipped", { rank: undefined, done: true }, { eq: [{ col: "done" }, { value: true }] }],
  ] as const)("compiles %s", (_name, filter, expected) => {
    expect(where(todos.where(filter as never))).toEqual(expected);
  });

  it("ANDs several columns and successive where() calls", () => {
    expect(where(todos.where({ done: false, owner_id: "u" }).where({ rank: { gt: 1 } }))).toEqual({
      and: [
        { eq: [{ col: "done" }, { value: false }] },
        { eq: [{ col: "owner_id" }, { value: "u" }] },
        { gt: [{ col: "rank" }, { value: 1 }] },
      ],
    });
  });

  it("omits where for an empty filter", () => {
    expect(todos.where({}).toJSON()).toEqual({ table: "todos" });
  });

  it("refuses unknown columns, bad operator arguments and session values", () => {
    expect(() => todos.where({ nope: 1 } as never)).toThrow('todos.where(): unknown column "nope"');
    expect(() => todos.where({ title: { in: "x" } } as never)).toThrow(/"in" takes an array/);
    expect(() => todos.where({ rank: { isNull: 1 } } as never)).toThrow(/isNull takes true or false/);
    let session!: { user_id: unknown };
    s.definePermissions(fullApp, (dsl) => void (session = dsl.session));
    expect(() => todos.where({ owner_id: session.user_id } as never)).toThrow(/a query cannot read the session/);
  });
});

describe("query order and window", () => {
  it("compiles orderBy, limit and offset", () => {
    expect(todos.orderBy("title", "desc").orderBy("rank").limit(10).offset(20).toJSON()).toEqual({
      table: "todos",
      orderBy: [{ col: "title", desc: true }, { col: "rank" }],
      limit: 10,
      offset: 20,
    });
  });

  it("sorts by magic columns", () => {
    expect(todos.orderBy("$createdAt", "desc").toJSON().orderBy).toEqual([{ col: "$createdAt", desc: true }]);
  });

  it("omits offset 0 and refuses bad counts and columns", () => {
    expect(todos.offset(0).toJSON()).toEqual({ table: "todos" });
    expect(() => todos.limit(0)).toThrow(RangeError);
    expect(() => todos.limit(1.5)).toThrow(RangeError);
    expect(() => todos.offset(-1)).toThrow(RangeError);
    expect(() => todos.orderBy("nope" as never)).toThrow(/unknown column "nope"/);
  });

  it("is immutable: every call returns a new query and leaves the receiver alone", () => {
    const base = todos.where({ done: false });
    const before = JSON.stringify(base);
    const derived = [base.where({ rank: 1 }), base.orderBy("title"), base.limit(1), base.offset(1)];
    for (const d of derived) expect(d).not.toBe(base);
    expect(JSON.stringify(base)).toBe(before);
    expect(todos.toJSON()).toEqual({ table: "todos" });
  });

  it("serializes with JSON.stringify as core/query's JSON", () => {
    expect(JSON.parse(JSON.stringify(todos.where({ done: true }).limit(2)))).toEqual({
      table: "todos",
      where: { eq: [{ col: "done" }, { value: true }] },
      limit: 2,
    });
  });
});

describe("queryKey", () => {
  it("is equal for equal queries built separately, whatever the key order", () => {
    const a = todos.where({ owner_id: "u", done: false }).orderBy("title").limit(5);
    const b = todos.where({ done: false, owner_id: "u" }).orderBy("title").limit(5);
    expect(a).not.toBe(b);
    expect(a.queryKey).toBe(b.queryKey);
  });

  it("differs when anything differs", () => {
    const keys = [
      todos.queryKey,
      todos.where({ done: true }).queryKey,
      todos.where({ done: false }).queryKey,
      todos.orderBy("title").queryKey,
      todos.orderBy("title", "desc").queryKey,
      todos.limit(1).queryKey,
      todos.offset(1).queryKey,
      fullApp.lists.queryKey,
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });
});
