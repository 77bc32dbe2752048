import { afterEach, describe, expect, it } from "vitest";
import { installHost, type JazzHost } from "../src/host.js";

const g = globalThis as { __jazzHost?: JazzHost };

/** Splits pack's output the way wasm/internal/jsutil.Unpack does. */
function unpack(buf: Uint8Array): number[][] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: number[][] = [];
  for (let at = 0; at < buf.byteLength; ) {
    const n = view.getUint32(at, true);
    out.push([...buf.subarray(at + 4, at + 4 + n)]);
    at += 4 + n;
  }
  return out;
}

describe("host.pack (the Go core's bulk copy of IndexedDB results)", () => {
  afterEach(() => delete g.__jazzHost);

  it("concatenates Uint8Arrays and ArrayBuffers as [u32 LE length][bytes] records", () => {
    installHost();
    const big = new Uint8Array(300).fill(7);
    const packed = g.__jazzHost!.pack([new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3]).buffer, big.subarray(1, 299)]);
    expect(packed).toBeInstanceOf(Uint8Array);
    expect([...packed.subarray(0, 6)]).toEqual([2, 0, 0, 0, 1, 2]);
    expect(unpack(packed)).toEqual([[1, 2], [], [3], new Array(298).fill(7)]);
    expect(g.__jazzHost!.pack([]).byteLength).toBe(0);
  });

  it("refuses anything that is not bytes, as the per-item path does", () => {
    installHost();
    expect(() => g.__jazzHost!.pack([new Uint8Array(1), "x"])).toThrow(TypeError);
    expect(() => g.__jazzHost!.pack([null])).toThrow(TypeError);
    expect(() => g.__jazzHost!.pack([new Uint16Array(2)])).toThrow(TypeError);
  });

  it("keeps a host that is already installed", () => {
    const mine: JazzHost = { pack: () => new Uint8Array(0) };
    g.__jazzHost = mine;
    installHost();
    expect(g.__jazzHost).toBe(mine);
  });
});
