//go:build js && wasm

package idbstore

import (
	"context"
	"syscall/js"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/storage"
)

// earlyOpen makes what the page passes as early (bindings/js
// src/early-open.ts): {name, ready, take} for a connection to openName,
// named name. It counts the takes; the test closes what was not taken.
func earlyOpen(t *testing.T, name, openName string) js.Value {
	t.Helper()
	mk := js.Global().Get("Function").New("name", "openName", `
const req = indexedDB.open(openName);
let db = null;
const o = { name, takes: 0 };
o.ready = new Promise((resolve) => {
  req.onsuccess = () => { db = req.result; resolve(); };
  req.onerror = () => resolve();
});
o.take = () => { o.takes++; const d = db; db = null; return d; };
o.discard = () => { if (db) db.close(); db = null; };
return o;`)
	o := mk.Invoke(name, openName)
	t.Cleanup(func() { o.Call("discard") })
	return o
}

func openEarly(t *testing.T, name string, early js.Value) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenEarly(ctx, name, DefaultBuckets, early)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func takes(o js.Value) int { return o.Get("takes").Int() }

// The connection the page opened for this database is the one used: no
// second open, and the data written before is there.
func TestOpenEarly_TakesTheConnectionForItsName(t *testing.T) {
	needIDB(t)
	ctx := context.Background()
	name := freshName(t)
	s := open(t, name, DefaultBuckets...)
	if err := s.Apply(ctx, []storage.Op{storage.Put("rows", []byte("k"), []byte("v"))}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	early := earlyOpen(t, name, name)
	s2 := openEarly(t, name, early)
	if takes(early) != 1 {
		t.Fatalf("take called %d times, want 1", takes(early))
	}
	if v, ok, err := s2.Get(ctx, "rows", []byte("k")); err != nil || !ok || string(v) != "v" {
		t.Fatalf("Get through the taken connection = %q %v %v", v, ok, err)
	}
	if err := s2.Apply(ctx, []storage.Op{storage.Put("rows", []byte("k2"), []byte("v2"))}); err != nil {
		t.Fatal(err)
	}
}

// A guess at another database is not touched: the Store opens its own.
func TestOpenEarly_LeavesAnotherDatabaseAlone(t *testing.T) {
	needIDB(t)
	ctx := context.Background()
	other := freshName(t)
	open(t, other, DefaultBuckets...).Close()
	early := earlyOpen(t, other, other)
	name := freshName(t)
	s := openEarly(t, name, early)
	if takes(early) != 0 {
		t.Fatalf("took a connection to %s for %s", other, name)
	}
	if err := s.Apply(ctx, []storage.Op{storage.Put("meta", []byte("k"), []byte("v"))}); err != nil {
		t.Fatal(err)
	}
	// The page's object claiming the right name for a connection to
	// another database is not believed either.
	liar := earlyOpen(t, name, other)
	s2 := openEarly(t, name, liar)
	if v, ok, err := s2.Get(ctx, "meta", []byte("k")); err != nil || !ok || string(v) != "v" {
		t.Fatalf("Get after a mismatched early connection = %q %v %v", v, ok, err)
	}
}

// A taken connection to a database without the buckets (made by someone
// else, or by an older version) is upgraded the way Open upgrades.
func TestOpenEarly_UpgradesATakenConnectionMissingBuckets(t *testing.T) {
	needIDB(t)
	ctx := context.Background()
	name := freshName(t)
	early := earlyOpen(t, name, name) // creates the database with no stores
	s := openEarly(t, name, early)
	if takes(early) != 1 {
		t.Fatalf("take called %d times, want 1", takes(early))
	}
	for _, b := range DefaultBuckets {
		if err := s.Apply(ctx, []storage.Op{storage.Put(b, []byte("k"), []byte(b))}); err != nil {
			t.Fatalf("bucket %s: %v", b, err)
		}
	}
}

// Nothing to take, a failed open, or something that is not an early open
// at all: the Store opens the database itself.
func TestOpenEarly_FallsBackToItsOwnOpen(t *testing.T) {
	needIDB(t)
	ctx := context.Background()
	name := freshName(t)
	nothing := js.Global().Get("Function").New("name", `return { name, ready: Promise.resolve(), take() { return null; } };`).Invoke(name)
	failed := js.Global().Get("Function").New("name", `const ready = Promise.reject(new Error("open failed"));
ready.catch(() => {}); // handled: Go awaits it later
return { name, ready, take() { throw new Error("must not be called"); } };`).Invoke(name)
	throwingName := js.Global().Get("Function").New(`return { get name() { throw new Error("hostile"); } };`).Invoke()
	throwingTake := js.Global().Get("Function").New("name", `return { name, ready: Promise.resolve(), take() { throw new Error("hostile"); } };`).Invoke(name)
	notADb := js.Global().Get("Function").New("name", `return { name, ready: Promise.resolve(), take() { return { name, version: 1 }; } };`).Invoke(name)
	proxy := js.Global().Get("Function").New(`return new Proxy({}, { get() { throw new Error("hostile"); }, getPrototypeOf() { throw new Error("hostile"); } });`).Invoke()
	for i, early := range []js.Value{nothing, failed, throwingName, throwingTake, notADb, proxy, js.ValueOf(42), js.Null(), js.Undefined()} {
		s := openEarly(t, name, early)
		if err := s.Apply(ctx, []storage.Op{storage.Put("rows", []byte{byte('a' + i)}, []byte("v"))}); err != nil {
			t.Fatalf("early #%d: %v", i, err)
		}
		s.Close()
	}
}
