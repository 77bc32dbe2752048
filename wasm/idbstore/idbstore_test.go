//go:build js && wasm

package idbstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/storage/storagetest"
)

var seq atomic.Int64

// freshName returns a database name no other test uses.
func freshName(t *testing.T) string {
	return fmt.Sprintf("idbstore-test:%s:%d:%d", t.Name(), time.Now().UnixNano(), seq.Add(1))
}

func needIDB(t *testing.T) {
	t.Helper()
	if !Available() {
		t.Skip("no IndexedDB in this runtime (Node): the IndexedDB store is tested in headless Chromium (wasmbrowsertest)")
	}
}

func open(t *testing.T, name string, buckets ...string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, name, buckets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore_Conformance(t *testing.T) {
	needIDB(t)
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t, freshName(t), DefaultBuckets...) })
}

func TestStore_SurvivesReopen(t *testing.T) {
	needIDB(t)
	ctx := context.Background()
	name := freshName(t)
	s := open(t, name, DefaultBuckets...)
	if err := s.Apply(ctx, []storage.Op{storage.Put("rows", []byte("t\x00a"), []byte("1")), storage.Put("outbox", []byte("k"), nil)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, name, DefaultBuckets...)
	v, ok, err := s2.Get(ctx, "rows", []byte("t\x00a"))
	if err != nil || !ok || string(v) != "1" {
		t.Fatalf("after reopen Get = %q %v %v", v, ok, err)
	}
	if v, ok, _ := s2.Get(ctx, "outbox", []byte("k")); !ok || len(v) != 0 {
		t.Fatalf("empty value: %q %v", v, ok)
	}
}

// A second connection creating a bucket upgrades the database; the first
// steps aside and reconnects on its next call.
func TestStore_UpgradeFromAnotherConnection(t *testing.T) {
	needIDB(t)
	ctx := context.Background()
	name := freshName(t)
	a := open(t, name, DefaultBuckets...)
	b := open(t, name, DefaultBuckets...)
	if err := a.Apply(ctx, []storage.Op{storage.Put("rows", []byte("k"), []byte("a"))}); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(ctx, []storage.Op{storage.Put("extra", []byte("k"), []byte("b"))}); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := a.Get(ctx, "extra", []byte("k")); err != nil || !ok || string(v) != "b" {
		t.Fatalf("a sees the new bucket: %q %v %v", v, ok, err)
	}
	if err := a.Apply(ctx, []storage.Op{storage.Put("rows", []byte("k2"), []byte("a2"))}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := b.Scan(ctx, "rows", nil, func(k, v []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[k k2]" {
		t.Fatalf("b scan = %v", keys)
	}
}

// A failed batch leaves nothing behind.
func TestStore_ApplyIsAtomic(t *testing.T) {
	needIDB(t)
	ctx := context.Background()
	s := open(t, freshName(t), DefaultBuckets...)
	err := s.Apply(ctx, []storage.Op{storage.Put("rows", []byte("x"), []byte("1")), storage.Put("meta", nil, []byte("2"))})
	if err == nil {
		t.Fatal("batch with an empty key was accepted")
	}
	if _, ok, _ := s.Get(ctx, "rows", []byte("x")); ok {
		t.Fatal("part of a refused batch was written")
	}
}

func TestStore_BinaryKeysOrderAndPrefix(t *testing.T) {
	needIDB(t)
	ctx := context.Background()
	s := open(t, freshName(t), DefaultBuckets...)
	keys := [][]byte{{0xff}, {0xff, 0x00}, {0x01, 0xff}, {0x01}, {0x00}, {0x01, 0x00, 0x80}}
	var ops []storage.Op
	for _, k := range keys {
		ops = append(ops, storage.Put("rows", k, k))
	}
	if err := s.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	scan := func(prefix []byte) string {
		var out []string
		if err := s.Scan(ctx, "rows", prefix, func(k, v []byte) error { out = append(out, fmt.Sprintf("%x", k)); return nil }); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(out)
	}
	if got := scan(nil); got != "[00 01 010080 01ff ff ff00]" {
		t.Errorf("all = %s", got)
	}
	if got := scan([]byte{0x01}); got != "[01 010080 01ff]" {
		t.Errorf("prefix 01 = %s", got)
	}
	if got := scan([]byte{0xff}); got != "[ff ff00]" {
		t.Errorf("prefix ff = %s", got)
	}
}

func TestSuccessor(t *testing.T) {
	for _, c := range []struct{ in, want string }{{"", ""}, {"a", "b"}, {"a\xff", "b"}, {"\xff\xff", ""}, {"ab", "ac"}} {
		if got := string(successor([]byte(c.in))); got != c.want {
			t.Errorf("successor(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
