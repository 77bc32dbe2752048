import { describe, expect, it } from "vitest";
import { schema as s, type PermissionsDSL } from "../src/index.js";
import { fullApp } from "./support/apps.js";

type DSL = PermissionsDSL<typeof fullApp>;
const policiesOf = (define: (dsl: DSL) => void) => s.definePermissions(fullApp, define).policies;
const uid = { session: "user_id" };
const ownerIsUser = { eq: [{ col: "owner_id" }, uid] };

describe("permissions", () => {
  it("compiles every operation", () => {
    const p = policiesOf(({ policy, session }) => {
      policy.todos.allowRead.where({ owner_id: session.user_id });
      policy.todos.allowInsert.where({ owner_id: session.user_id });
      policy.todos.allowUpdate.whereOld({ owner_id: session.user_id }).whereNew({ done: false });
      policy.todos.allowDelete.where({ owner_id: session.user_id });
    });
    expect(p).toEqual({
      todos: {
        read: ownerIsUser,
        insert: ownerIsUser,
        updateOld: ownerIsUser,
        updateNew: { eq: [{ col: "done" }, { value: false }] },
        delete: ownerIsUser,
      },
    });
  });

  it("leaves tables and operations without rules out (denied)", () => {
    expect(policiesOf(({ policy }) => policy.audit.allowRead.always())).toEqual({ audit: { read: true } });
  });

  it("compiles always and never", () => {
    const p = policiesOf(({ policy }) => {
      policy.audit.allowRead.always();
      policy.audit.allowInsert.never();
      policy.audit.allowUpdate.always();
      policy.audit.allowDelete.never();
    });
    expect(p.audit).toEqual({ read: true, insert: false, updateOld: true, updateNew: true, delete: false });
  });

  it("ORs several rules for one operation, with true absorbing and false dropped", () => {
    const p = policiesOf(({ policy, session }) => {
      policy.todos.allowRead.where({ owner_id: session.user_id });
      policy.todos.allowRead.where({ done: true });
      policy.lists.allowRead.never();
      policy.lists.allowRead.where({ owner_id: session.user_id });
      policy.audit.allowRead.where({ msg: "x" });
      policy.audit.allowRead.always();
    });
    expect(p.todos!.read).toEqual({ or: [ownerIsUser, { eq: [{ col: "done" }, { value: true }] }] });
    expect(p.lists!.read).toEqual(ownerIsUser);
    expect(p.audit!.read).toBe(true);
  });

  it("tests the session: authMode, user_id, claims by property, index and path", () => {
    const p = policiesOf(({ policy, session, anyOf }) => {
      policy.todos.allowRead.where(
        anyOf(
          session.where({ authMode: "anonymous" }),
          session.where({ user_id: { ne: "banned" }, "claims.plan": "pro" }),
          { owner_id: session.claims.sub },
          { owner_id: session.claims["org"].owner },
          { owner_id: session.claim("a.b") },
        ),
      );
    });
    expect(p.todos!.read).toEqual({
      or: [
        { eq: [{ session: "authMode" }, { value: "anonymous" }] },
        { and: [{ eq: [{ session: "claims.plan" }, { value: "pro" }] }, { ne: [{ session: "user_id" }, { value: "banned" }] }] },
        { eq: [{ col: "owner_id" }, { session: "claims.sub" }] },
        { eq: [{ col: "owner_id" }, { session: "claims.org.owner" }] },
        { eq: [{ col: "owner_id" }, { session: "claims.a.b" }] },
      ],
    });
  });

  it("compiles array membership both ways", () => {
    const p = policiesOf(({ policy, session }) => {
      policy.lists.allowRead.where({ org: { in: session.claims.teams } });
      policy.lists.allowDelete.where(session.claims.roles.contains("admin"));
      policy.lists.allowInsert.where(session.claims.role.in(["editor", "admin"]));
    });
    expect(p.lists).toEqual({
      read: { in: [{ col: "org" }, { session: "claims.teams" }] },
      delete: { contains: [{ session: "claims.roles" }, { value: "admin" }] },
      insert: { in: [{ session: "claims.role" }, { value: ["editor", "admin"] }] },
    });
  });

  it("compiles the session value tests eq, ne and isNull", () => {
    const p = policiesOf(({ policy, session, anyOf }) => {
      policy.audit.allowRead.where(anyOf(session.claims.role.eq("a"), session.claims.role.ne("b"), session.claims.role.isNull()));
    });
    expect(p.audit!.read).toEqual({
      or: [
        { eq: [{ session: "claims.role" }, { value: "a" }] },
        { ne: [{ session: "claims.role" }, { value: "b" }] },
        { isNull: { session: "claims.role" } },
      ],
    });
  });

  it("combines with allOf, anyOf and not, as lists or arrays, with where-objects inside", () => {
    const p = policiesOf(({ policy, session, allOf, anyOf, not }) => {
      policy.todos.allowRead.where(allOf([{ owner_id: session.user_id }, not({ done: true }), anyOf([{ rank: { gt: 1 } }, { rank: null }])]));
      policy.todos.allowInsert.where(allOf());
      policy.todos.allowDelete.where(anyOf());
      policy.lists.allowRead.where(not(session.where({ authMode: "anonymous" })));
    });
    expect(p.todos).toEqual({
      read: {
        and: [
          ownerIsUser,
          { not: { eq: [{ col: "done" }, { value: true }] } },
          { or: [{ gt: [{ col: "rank" }, { value: 1 }] }, { isNull: { col: "rank" } }] },
        ],
      },
      insert: true,
      delete: false,
    });
    expect(p.lists!.read).toEqual({ not: { eq: [{ session: "authMode" }, { value: "anonymous" }] } });
  });

  it("compiles update rules: where (both rows), whereNew first, and combinable rule sets", () => {
    const p = policiesOf(({ policy, session }) => {
      policy.todos.allowUpdate.where({ owner_id: session.user_id });
      policy.lists.allowUpdate.whereNew({ owner_id: session.user_id }).whereOld({ org: "o" });
      policy.audit.allowUpdate.whereOld({ msg: "a" }).whereNew({ msg: "b" });
      policy.audit.allowUpdate.where(session.claims.roles.contains("admin"));
    });
    expect(p.todos).toEqual({ updateOld: ownerIsUser, updateNew: ownerIsUser });
    expect(p.lists).toEqual({ updateOld: { eq: [{ col: "org" }, { value: "o" }] }, updateNew: ownerIsUser });
    const admin = { contains: [{ session: "claims.roles" }, { value: "admin" }] };
    expect(p.audit).toEqual({
      updateOld: { or: [{ eq: [{ col: "msg" }, { value: "a" }] }, admin] },
      updateNew: { or: [{ eq: [{ col: "msg" }, { value: "b" }] }, admin] },
    });
  });

  it("refuses update rule sets the format cannot express exactly", () => {
    expect(() =>
      policiesOf(({ policy }) => {
        policy.todos.allowUpdate.whereOld({ done: false }).whereNew({ done: true });
        policy.todos.allowUpdate.whereOld({ done: true }).whereNew({ rank: 1 });
      }),
    ).toThrow(/policy\.todos\.allowUpdate: these whereOld\/whereNew pairs cannot be combined exactly/);
  });

  it("accepts update rule sets sharing their old condition", () => {
    const p = policiesOf(({ policy, session }) => {
      policy.todos.allowUpdate.whereOld({ owner_id: session.user_id }).whereNew({ done: true });
      policy.todos.allowUpdate.whereOld({ owner_id: session.user_id }).whereNew({ rank: 1 });
    });
    expect(p.todos!.updateOld).toEqual({ or: [ownerIsUser, ownerIsUser] });
  });

  it("refuses unknown columns and session fields when defined", () => {
    expect(() => policiesOf(({ policy }) => policy.todos.allowRead.where({ nope: 1 } as never))).toThrow(
      'policy.todos.allowRead: unknown column "nope"',
    );
    expect(() => policiesOf(({ policy, session }) => policy.todos.allowRead.where(session.where({ role: "x" } as never)))).toThrow(
      /unknown session field "role"/,
    );
  });
});
