import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { schema as s } from "../src/index.js";
import { fullApp, todoApp, todoPermissions } from "./support/apps.js";

describe("schema", () => {
  it("compiles the seed todo app to the golden bundle", () => {
    const golden = readFileSync(new URL("./golden/todo-bundle.json", import.meta.url), "utf8");
    expect(JSON.stringify(s.compileBundle(todoApp, todoPermissions), null, 2) + "\n").toBe(golden);
  });

  it("writes every column type and modifier as core/schema reads them", () => {
    expect(fullApp.$schema.tables[1]).toEqual({
      name: "todos",
      columns: [
        { name: "title", type: "string" },
        { name: "done", type: "boolean" },
        { name: "rank", type: "int", optional: true },
        { name: "weight", type: "float", optional: true },
        { name: "due", type: "timestamp", optional: true },
        { name: "meta", type: "json", optional: true },
        { name: "body", type: "string", optional: true, noIndex: true },
        { name: "owner_id", type: "string" },
        { name: "list", type: "ref", ref: "lists" },
      ],
    });
  });

  it("writes enum, array, bytes and defaults as core/schema reads them", () => {
    const app = s.defineApp({
      t: s.table({
        status: s.enum("draft", "live").default("draft"),
        tags: s.array(s.string()).default([]),
        moods: s.array(s.enum("ok", "meh")).optional(),
        body: s.bytes().default(new Uint8Array([1, 2])),
        due: s.timestamp().default(new Date(5)),
      }),
    });
    expect(app.$schema.tables[0]!.columns).toEqual([
      { name: "status", type: "enum", enum: ["draft", "live"], default: "draft" },
      { name: "tags", type: "array", items: "string", default: [] },
      { name: "moods", type: "array", items: "enum", enum: ["ok", "meh"], optional: true },
      { name: "body", type: "bytes", default: "AQI=" },
      { name: "due", type: "timestamp", default: 5 },
    ]);
  });

  it("refuses malformed enum, array and default declarations", () => {
    expect(() => s.enum("a", "a")).toThrow(/distinct/);
    expect(() => s.array(s.json())).toThrow(/elements are/);
    expect(() => s.array(s.string().optional() as never)).toThrow(/not optional/);
    expect(() => s.string().default(null as never)).toThrow(/a default is a value/);
  });

  it("compiles a bundle without permissions to empty policies (all denied)", () => {
    expect(s.compileBundle(todoApp)).toEqual({ version: 1, schema: todoApp.$schema, policies: {} });
  });

  it("returns a bundle detached from the app", () => {
    const b = s.compileBundle(todoApp, todoPermissions);
    b.schema.tables[0]!.name = "changed";
    expect(todoApp.$schema.tables[0]!.name).toBe("todos");
  });

  it("refuses permissions defined for another app", () => {
    expect(() => s.compileBundle(fullApp, todoPermissions as never)).toThrow(/different app/);
  });

  it("gives each table a TableRef carrying its name and app", () => {
    expect(todoApp.todos.name).toBe("todos");
    expect(todoApp.todos.app).toBe(todoApp);
    expect(todoApp.todos.table).toBe(todoApp.todos);
    expect(todoApp.todos.hasColumn("$createdBy")).toBe(true);
    expect(todoApp.todos.hasColumn("nope")).toBe(false);
  });

  it.each([
    ["a bad table name", () => s.defineApp({ "bad-name": s.table({ a: s.string() }) }), /table name "bad-name"/],
    ["an id column", () => s.defineApp({ t: s.table({ id: s.string() }) }), /id and the \$ columns are built in/],
    ["a $ column", () => s.defineApp({ t: s.table({ $x: s.string() }) }), /t\.\$x/],
    ["a ref to an unknown table", () => s.defineApp({ t: s.table({ r: s.ref("nope") }) }), /unknown table "nope"/],
    ["a non-table", () => s.defineApp({ t: { columns: {} } as never }), /schema\.table/],
    ["a non-column", () => s.defineApp({ t: s.table({ c: "string" as never }) }), /column builder/],
  ])("refuses %s at definition time", (_name, define, message) => {
    expect(define).toThrow(message);
  });

  it("keeps builders immutable", () => {
    const base = s.string();
    base.optional();
    base.noIndex();
    const app = s.defineApp({ t: s.table({ c: base }) });
    expect(app.$schema.tables[0]!.columns[0]).toEqual({ name: "c", type: "string" });
  });
});
