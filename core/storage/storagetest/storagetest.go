// Package storagetest holds the conformance suite every storage.Store must
// pass, so the memory, bbolt and IndexedDB stores behave alike.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jazzgo/jazz-tools/core/storage"
)

// Run checks the storage.Store contract against stores made by open.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()
	t.Run("PutGetDelete", func(t *testing.T) {
		s := open(t)
		if err := s.Apply(ctx, []storage.Op{storage.Put("a", []byte("k"), []byte("v"))}); err != nil {
			t.Fatal(err)
		}
		v, ok, err := s.Get(ctx, "a", []byte("k"))
		if err != nil || !ok || string(v) != "v" {
			t.Fatalf("Get = %q %v %v", v, ok, err)
		}
		if _, ok, _ := s.Get(ctx, "b", []byte("k")); ok {
			t.Fatal("buckets are not separate")
		}
		if err := s.Apply(ctx, []storage.Op{storage.Del("a", []byte("k"))}); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.Get(ctx, "a", []byte("k")); ok {
			t.Fatal("delete did not take effect")
		}
	})
	t.Run("ScanOrderAndPrefix", func(t *testing.T) {
		s := open(t)
		var ops []storage.Op
		for _, k := range []string{"p/3", "p/1", "q/1", "p/2"} {
			ops = append(ops, storage.Put("b", []byte(k), []byte(k)))
		}
		if err := s.Apply(ctx, ops); err != nil {
			t.Fatal(err)
		}
		var got []string
		err := s.Scan(ctx, "b", []byte("p/"), func(k, v []byte) error {
			if !bytes.Equal(k, v) {
				return fmt.Errorf("value %q under %q", v, k)
			}
			got = append(got, string(k))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != "[p/1 p/2 p/3]" {
			t.Fatalf("scan = %v", got)
		}
		stop := errors.New("stop")
		n := 0
		if err := s.Scan(ctx, "b", nil, func(k, v []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Fatalf("scan stop: %v after %d", err, n)
		}
		if err := s.Scan(ctx, "missing", nil, func(k, v []byte) error { return errors.New("called") }); err != nil {
			t.Fatalf("scan of missing bucket: %v", err)
		}
	})
	t.Run("ValuesAreCopied", func(t *testing.T) {
		s := open(t)
		buf := []byte("one")
		if err := s.Apply(ctx, []storage.Op{storage.Put("c", []byte("k"), buf)}); err != nil {
			t.Fatal(err)
		}
		copy(buf, "two")
		v, _, _ := s.Get(ctx, "c", []byte("k"))
		if string(v) != "one" {
			t.Fatalf("store kept caller's buffer: %q", v)
		}
		v[0] = 'X'
		v2, _, _ := s.Get(ctx, "c", []byte("k"))
		if string(v2) != "one" {
			t.Fatalf("store returned its own buffer: %q", v2)
		}
	})
	t.Run("EmptyBucketRefused", func(t *testing.T) {
		s := open(t)
		if err := s.Apply(ctx, []storage.Op{storage.Put("", []byte("k"), nil)}); !errors.Is(err, storage.ErrBadBucket) {
			t.Fatalf("err = %v, want ErrBadBucket", err)
		}
	})
	t.Run("EmptyKeyRefused", func(t *testing.T) {
		s := open(t)
		if err := s.Apply(ctx, []storage.Op{storage.Put("a", nil, []byte("v"))}); !errors.Is(err, storage.ErrEmptyKey) {
			t.Fatalf("err = %v, want ErrEmptyKey", err)
		}
	})
	t.Run("ClosedStoreRefuses", func(t *testing.T) {
		s := open(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(ctx, []storage.Op{storage.Put("a", []byte("k"), nil)}); !errors.Is(err, storage.ErrClosed) {
			t.Fatalf("Apply after Close = %v", err)
		}
		if _, _, err := s.Get(ctx, "a", []byte("k")); !errors.Is(err, storage.ErrClosed) {
			t.Fatalf("Get after Close = %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
	})
}
