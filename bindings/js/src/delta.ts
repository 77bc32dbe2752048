// A live query's changes as the core sends them (core/live Delta): what
// changed and where, never the whole result again. The package keeps each
// subscription's result and applies every delta to it, so a change costs
// the size of the change, and rows that did not change keep their objects
// (memoized components skip them).

/** One commit's change by position: see core/engine Step. */
interface Step {
  /** Positions to delete, descending (in the result before the step). */
  del?: number[];
  /** [position, row] to insert, ascending (in the result after the step). */
  ins?: [number, number][];
  /** [position, row] to replace in place. */
  set?: [number, number][];
}

export interface Delta<R> {
  /** The rows the rest refers to by index. */
  rows: R[];
  /** The result is replaced by rows in `order` before the steps apply. */
  reset: boolean;
  order?: number[];
  steps: Step[];
  added: number[];
  updated: number[];
  removed: string[];
}

/** Above this many rows moved by one step, a step is applied in one pass over the result rather than by splicing. */
const SPLICE_MAX = 16;

/**
 * The result after d, given the one before. prev is not changed unless
 * owned is set, when the caller gives it up and it may be changed in place
 * (one copy of a large result less per change).
 */
export function applyDelta<R>(prev: R[], d: Delta<R>, owned = false): R[] {
  let rows = d.reset ? (d.order ?? []).map((i) => d.rows[i]!) : owned ? prev : prev.slice();
  for (const s of d.steps) rows = applyStep(rows, s, d.rows);
  return rows;
}

function applyStep<R>(rows: R[], s: Step, objs: R[]): R[] {
  const del = s.del ?? [];
  const ins = s.ins ?? [];
  if (del.length + ins.length <= SPLICE_MAX) {
    for (const at of del) rows.splice(at, 1);
    for (const [at, ref] of ins) rows.splice(at, 0, objs[ref]!);
  } else {
    const out = new Array<R>(rows.length - del.length + ins.length);
    let d = del.length - 1; // del is descending: its end is the lowest position
    let i = 0; // next row of the old result
    let j = 0; // next insert
    for (let o = 0; o < out.length; o++) {
      if (j < ins.length && ins[j]![0] === o) {
        out[o] = objs[ins[j++]![1]]!;
        continue;
      }
      while (d >= 0 && del[d] === i) {
        i++;
        d--;
      }
      out[o] = rows[i++]!;
    }
    rows = out;
  }
  for (const [at, ref] of s.set ?? []) rows[at] = objs[ref]!;
  return rows;
}
