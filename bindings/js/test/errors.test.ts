import { describe, expect, it } from "vitest";
import * as jazz from "../src/index.js";
import { AnonymousWriteDeniedError, fromCoreError, JazzError, PermissionDeniedError, ValidationError } from "../src/index.js";
import type { CoreErrorName } from "../src/core.js";
import { coreError } from "./support/fake-core.js";

const names: CoreErrorName[] = [
  "AnonymousWriteDeniedError", "PermissionDeniedError", "ValidationError", "NotFoundError", "ConflictError",
  "ConfigError", "AuthError", "ClosedError", "StorageError", "InternalError",
];

describe("fromCoreError", () => {
  it.each(names)("turns a core %s into that class", (name) => {
    const e = fromCoreError(coreError(name, "some_code", "boom"));
    const cls = (jazz as unknown as Record<string, new () => Error>)[name]!;
    expect(e).toBeInstanceOf(cls);
    expect(e).toBeInstanceOf(JazzError);
    expect(e.name).toBe(name);
    expect(e.message).toBe("boom");
    expect((e as JazzError).code).toBe("some_code");
  });

  it("keeps table, operation and column, and the original as cause", () => {
    const raw = coreError("AnonymousWriteDeniedError", "anonymous_write_denied", "no", { table: "todos", operation: "insert" });
    const e = fromCoreError(raw) as AnonymousWriteDeniedError;
    expect(e).toMatchObject({ table: "todos", operation: "insert", cause: raw });
    const v = fromCoreError(coreError("ValidationError", "validation", "bad", { table: "todos", column: "title" })) as ValidationError;
    expect(v).toMatchObject({ table: "todos", column: "title" });
  });

  it("converts the plain objects onError reports", () => {
    const e = fromCoreError({ name: "PermissionDeniedError", code: "denied", message: "nope", table: "t", operation: "update" });
    expect(e).toBeInstanceOf(PermissionDeniedError);
    expect(e).toMatchObject({ table: "t", operation: "update", code: "denied" });
  });

  it("passes JazzErrors and foreign Errors through, and wraps the rest", () => {
    const j = new JazzError("x", { code: "c" });
    expect(fromCoreError(j)).toBe(j);
    const t = new TypeError("app bug");
    expect(fromCoreError(t)).toBe(t);
    expect(fromCoreError(Object.assign(new Error("x"), { name: "toString" }))).toBeInstanceOf(Error);
    const w = fromCoreError("a string");
    expect(w).toBeInstanceOf(JazzError);
    expect(w.message).toBe("a string");
  });

  it("names survive on the prototype for minified builds", () => {
    expect(new AnonymousWriteDeniedError("m").name).toBe("AnonymousWriteDeniedError");
    expect(new JazzError("m").code).toBe("internal");
  });
});
