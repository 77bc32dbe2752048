// The Go decoder (core/bundle, used by the server and the wasm client) must
// accept what the DSL produces, and read it as the Go side's own fixture.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { schema as s } from "../src/index.js";
import { fullApp, fullPermissions, todoApp, todoPermissions } from "./support/apps.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const hasGo = spawnSync("go", ["version"]).status === 0;
if (!hasGo) console.warn("SKIPPED: Go decoder checks (`go` is not on PATH)");

/** core/bundle.Decode then Encode (via `go run` of test/gocheck): the canonical form, or an Error with the decoder's reason. */
function goDecode(json: string): string {
  const r = spawnSync("go", ["run", "./bindings/js/test/gocheck"], { cwd: repoRoot, input: json, encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr || `gocheck exited ${r.status}`);
  return r.stdout.trim();
}

describe.skipIf(!hasGo)("Go bundle decoder", () => {
  // The first run compiles core/bundle; later ones hit Go's build cache.
  beforeAll(() => void goDecode('{"version":1,"schema":{"tables":[]}}'), 180_000);

  it("accepts the seed todo bundle", () => {
    const json = JSON.stringify(s.compileBundle(todoApp, todoPermissions));
    expect(JSON.parse(goDecode(json))).toEqual(JSON.parse(json));
  });

  it("accepts a bundle using every column type and policy form", () => {
    expect(() => goDecode(JSON.stringify(s.compileBundle(fullApp, fullPermissions)))).not.toThrow();
  });

  it("accepts a bundle with every where operator", () => {
    const perms = s.definePermissions(fullApp, ({ policy, session, anyOf, not }) => {
      policy.todos.allowRead.where(
        anyOf(
          { rank: { eq: 1, ne: 2, lt: 3, lte: 4, gt: 0, gte: 0 } },
          { title: { in: ["a"], contains: "b" } },
          { due: { isNull: true }, weight: null, meta: { tags: ["x"] } },
          { list: { in: session.claims.lists }, $createdBy: session.user_id, id: "x" },
          not(session.claims.roles.contains("banned")),
        ),
      );
    });
    expect(() => goDecode(JSON.stringify(s.compileBundle(fullApp, perms)))).not.toThrow();
  });

  it("refuses what the DSL never produces (the check can fail)", () => {
    expect(() => goDecode('{"version":2,"schema":{"tables":[]}}')).toThrow(/version 2/);
  });

  const fixture = join(repoRoot, "core/bundle/testdata/todo-app.json");
  it.skipIf(!existsSync(fixture))("reads the DSL's bundle as core/bundle's own fixture", () => {
    const ours = JSON.parse(goDecode(JSON.stringify(s.compileBundle(fullApp, fullPermissions))));
    const theirs = JSON.parse(goDecode(readFileSync(fixture, "utf8")));
    // The fixture writes lists.delete as `"admin" in claims.roles`; the DSL
    // writes that test as claims.roles contains "admin" (checked above for todos).
    delete theirs.policies.lists.delete;
    expect(ours).toEqual(theirs);
  });
});
