// applyDelta against a naive model: random results and random steps (both
// the splice path and the one-pass path for large steps), seeded.
import { expect, it } from "vitest";
import { applyDelta, type Delta } from "../src/delta.js";

const seed = Number(process.env.JAZZ_SEED ?? Date.now() % 1e9);

function rng(s: number) {
  return (n: number) => ((s = (s * 1103515245 + 12345) % 2147483648), s % n);
}

it(`applies deltas like a naive model (seed ${seed}, replay with JAZZ_SEED)`, () => {
  const rnd = rng(seed);
  let next = 0;
  let result: string[] = [];
  for (let round = 0; round < 400; round++) {
    // A step as the core makes one: delete some positions, then insert
    // rows at their final positions.
    const k = rnd(4) === 0 ? 17 + rnd(60) : rnd(6);
    const del = [...new Set(Array.from({ length: Math.min(k, result.length) }, () => rnd(result.length)))].sort((a, b) => b - a);
    const kept = result.filter((_, i) => !del.includes(i));
    const m = rnd(k + 1);
    const all = Array.from({ length: kept.length + m }, (_, i) => i);
    for (let i = 0; i < m; i++) {
      const j = i + rnd(all.length - i);
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    const at = all.slice(0, m).sort((a, b) => a - b);
    const rows = at.map(() => `r${next++}`);
    const want: string[] = [];
    let ki = 0;
    let ai = 0;
    for (let o = 0; o < kept.length + at.length; o++) {
      want.push(ai < at.length && at[ai] === o ? rows[ai++]! : kept[ki++]!);
    }
    const set: [number, number][] = want.length > 0 && rnd(3) === 0 ? [[rnd(want.length), rows.length]] : [];
    if (set.length) {
      rows.push(`s${next++}`);
      want[set[0]![0]] = rows.at(-1)!;
    }
    const d: Delta<string> = {
      rows, reset: false, steps: [{ del, ins: at.map((p, i) => [p, i]), set }], added: [], updated: [], removed: [],
    };
    const before = result.slice();
    const got = applyDelta(result, d);
    expect(got, `round ${round}`).toEqual(want);
    expect(result, "the previous result is not changed").toEqual(before);
    result = got;
  }
});

it("a reset replaces the result, in order, before its steps", () => {
  const d: Delta<string> = { rows: ["a", "b", "c"], reset: true, order: [2, 0], steps: [{ ins: [[1, 1]] }], added: [], updated: [], removed: [] };
  expect(applyDelta(["x", "y"], d)).toEqual(["c", "b", "a"]);
});
