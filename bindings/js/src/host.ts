// Helpers the Go core calls for work that is much cheaper on the JavaScript
// side of the boundary. Each call across syscall/js costs about a microsecond,
// so reading 10k IndexedDB values one by one costs more than the read itself;
// pack turns an array of byte arrays into one, which Go copies in one call.
// The core falls back to per-item copies when the host is missing (Go's own
// wasm test runners), so this is an optimization, never a requirement.

export interface JazzHost {
  /**
   * Concatenates items as [u32 little-endian length][bytes] records. Items
   * that are ArrayBuffers or typed arrays are accepted; anything else makes
   * it throw (the Go side reports the bucket as corrupt).
   */
  pack(items: ArrayLike<unknown>): Uint8Array;
}

function bytesOf(x: unknown): Uint8Array {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  throw new TypeError(`jazz-tools: expected bytes, got ${typeof x}`);
}

function pack(items: ArrayLike<unknown>): Uint8Array {
  const parts: Uint8Array[] = new Array(items.length);
  let size = 0;
  for (let i = 0; i < items.length; i++) {
    parts[i] = bytesOf(items[i]);
    size += 4 + parts[i].byteLength;
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
