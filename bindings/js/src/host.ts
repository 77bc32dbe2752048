// Helpers the Go core calls for work that is much cheaper on the JavaScript
// side of the boundary. Each call across syscall/js costs about a microsecond,
// so reading 10k IndexedDB values one by one costs more than the read itself;
// pack turns an array of byte arrays into one, which Go copies in one call
// (wasm/internal/jsutil.BytesArray). The core falls back to per-item copies
// when the host is missing (Go's own wasm test runners), so this is an
// optimization, never a requirement.

export interface JazzHost {
  /**
   * Concatenates items as [u32 little-endian length][bytes] records. Items
   * must be Uint8Arrays or ArrayBuffers (what IndexedDB hands back for the
   * core's keys and values, and all the per-item path accepts); anything
   * else makes it throw, and the Go side reports the scan as failed.
   */
  pack(items: ArrayLike<unknown>): Uint8Array;
}

function bytesOf(x: unknown): Uint8Array {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  throw new TypeError(`jazz-tools: expected a Uint8Array or an ArrayBuffer, got ${x === null ? "null" : typeof x}`);
}

function pack(items: ArrayLike<unknown>): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (let i = 0; i < items.length; i++) {
    const p = bytesOf(items[i]);
    parts.push(p);
    size += 4 + p.byteLength;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.byteLength, true);
    out.set(p, at + 4);
    at += 4 + p.byteLength;
  }
  return out;
}

/** Publishes the host helpers as globalThis.__jazzHost (before the core starts). */
export function installHost(): void {
  const g = globalThis as { __jazzHost?: JazzHost };
  g.__jazzHost ??= { pack };
}
