//go:build js && wasm

package idbstore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"syscall/js"
	"testing"

	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/storage/storagetest"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

// packJS is what bindings/js/src/host.ts publishes as __jazzHost.pack (Go's
// test runners do not load the package), plus a call counter so a test can
// tell which path a Scan took.
const packJS = `
globalThis.__jazzTestPacks = (globalThis.__jazzTestPacks || 0) + 1;
const parts = [];
let size = 0;
for (let i = 0; i < items.length; i++) {
  let x = items[i];
  if (x instanceof ArrayBuffer) x = new Uint8Array(x);
  if (!(x instanceof Uint8Array)) throw new TypeError("expected bytes");
  parts.push(x);
  size += 4 + x.byteLength;
}
const out = new Uint8Array(size);
const view = new DataView(out.buffer);
let at = 0;
for (const p of parts) {
  view.setUint32(at, p.byteLength, true);
  out.set(p, at + 4);
  at += 4 + p.byteLength;
}
return out;`

// withHost installs a host whose pack runs body (with items in scope) for
// the rest of the test.
func withHost(t *testing.T, body string) {
	t.Helper()
	host := js.Global().Get("Object").New()
	host.Set("pack", js.Global().Get("Function").New("items", body))
	js.Global().Set("__jazzHost", host)
	t.Cleanup(func() { js.Global().Delete("__jazzHost") })
}

func withoutHost(t *testing.T) {
	t.Helper()
	prev := js.Global().Get("__jazzHost")
	js.Global().Delete("__jazzHost")
	t.Cleanup(func() {
		if !prev.IsUndefined() {
			js.Global().Set("__jazzHost", prev)
		}
	})
}

func packs() int {
	n := js.Global().Get("__jazzTestPacks")
	if n.IsUndefined() {
		return 0
	}
	return n.Int()
}

// scanFixture stores values of many sizes (empty included) and returns what
// a scan of the prefix must yield, as "key=value" in key order.
func scanFixture(t *testing.T, s *Store) (prefix []byte, want []string) {
	t.Helper()
	var ops []storage.Op
	for i := 0; i < 300; i++ {
		k := []byte(fmt.Sprintf("t\x00%04d", i))
		v := bytes.Repeat([]byte{byte(i)}, i%17*i%300)
		ops = append(ops, storage.Put("rows", k, v))
		want = append(want, fmt.Sprintf("%x=%x", k, v))
	}
	ops = append(ops, storage.Put("rows", []byte("u\x00other"), []byte("not in the prefix")))
	if err := s.Apply(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	return []byte("t\x00"), want
}

func scanAll(t *testing.T, s *Store, prefix []byte) []string {
	t.Helper()
	var got [][2][]byte
	if err := s.Scan(context.Background(), "rows", prefix, func(k, v []byte) error {
		got = append(got, [2][]byte{k, v})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(got))
	for i, kv := range got {
		// Slices that share the packed buffer are capped at their own
		// length: appending to one reallocates rather than overwrite the next.
		if cap(kv[1]) != len(kv[1]) {
			t.Fatalf("value %d: cap %d > len %d", i, cap(kv[1]), len(kv[1]))
		}
		_ = append(kv[1], 0xee)
		out[i] = fmt.Sprintf("%x=%x", kv[0], kv[1])
	}
	return out
}

func TestScan_CopiesInBulkWithTheHost(t *testing.T) {
	needIDB(t)
	withHost(t, packJS)
	s := open(t, freshName(t), DefaultBuckets...)
	prefix, want := scanFixture(t, s)
	before := packs()
	if got := scanAll(t, s, prefix); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scan with the host:\n got %v\nwant %v", got, want)
	}
	if n := packs() - before; n != 2 {
		t.Fatalf("pack called %d times for one scan, want 2 (keys, values)", n)
	}
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t, freshName(t), DefaultBuckets...) })
}

func TestScan_CopiesItemByItemWithoutTheHost(t *testing.T) {
	needIDB(t)
	withoutHost(t)
	s := open(t, freshName(t), DefaultBuckets...)
	prefix, want := scanFixture(t, s)
	before := packs()
	if got := scanAll(t, s, prefix); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scan without the host:\n got %v\nwant %v", got, want)
	}
	if packs() != before {
		t.Fatal("pack was called with no host installed")
	}
}

// A host that throws or packs something malformed makes the scan fail; it
// never panics nor hands out wrong values.
func TestScan_BadHostIsAnError(t *testing.T) {
	needIDB(t)
	for name, body := range map[string]string{
		"throws":         `throw new Error("no")`,
		"not bytes":      `return "packed"`,
		"short":          `return new Uint8Array([5, 0, 0, 0, 1])`,
		"too few":        `return new Uint8Array(0)`,
		"trailing bytes": strings.Replace(packJS, "return out;", "const more = new Uint8Array(out.length + 1); more.set(out); return more;", 1),
	} {
		t.Run(name, func(t *testing.T) {
			withHost(t, body)
			s := open(t, freshName(t), DefaultBuckets...)
			prefix, _ := scanFixture(t, s)
			err := s.Scan(context.Background(), "rows", prefix, func(k, v []byte) error { return nil })
			if err == nil {
				t.Fatal("scan succeeded")
			}
		})
	}
}

func TestUnpack(t *testing.T) {
	rec := func(b ...byte) []byte { return append([]byte{byte(len(b)), 0, 0, 0}, b...) }
	good := bytes.Join([][]byte{rec(1, 2), rec(), rec(3)}, nil)
	got, err := jsutil.Unpack(good, 3)
	if err != nil || fmt.Sprint(got) != "[[1 2] [] [3]]" {
		t.Fatalf("Unpack = %v, %v", got, err)
	}
	for name, c := range map[string]struct {
		buf []byte
		n   int
	}{
		"too many":       {good, 4},
		"too few":        {good, 2},
		"negative":       {good, -1},
		"huge count":     {good, 1 << 40},
		"huge length":    {[]byte{0xff, 0xff, 0xff, 0xff, 1}, 1},
		"cut in length":  {[]byte{1, 0}, 1},
		"overrun":        {rec(1, 2)[:5], 1},
		"trailing bytes": {append(bytes.Clone(good), 0), 3},
	} {
		if _, err := jsutil.Unpack(c.buf, c.n); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got, err := jsutil.Unpack(nil, 0); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v, %v", got, err)
	}
}
