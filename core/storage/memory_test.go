package storage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/storage/storagetest"
)

func TestMemory_Conformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return storage.NewMemory() })
}

func TestFaulty_Conformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return storage.NewFaulty(storage.NewMemory()) })
}

func TestWriteBehind_Conformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return storage.NewWriteBehind(storage.NewMemory(), nil) })
}

func TestFaulty_FailedApplyWritesNothing(t *testing.T) {
	ctx := context.Background()
	f := storage.NewFaulty(storage.NewMemory())
	f.FailApplyAfter(1)
	if err := f.Apply(ctx, []storage.Op{storage.Put("a", []byte("1"), []byte("x"))}); err != nil {
		t.Fatal(err)
	}
	err := f.Apply(ctx, []storage.Op{storage.Put("a", []byte("2"), []byte("y"))})
	if !errors.Is(err, storage.ErrInjected) {
		t.Fatalf("err = %v, want ErrInjected", err)
	}
	if _, ok, _ := f.Get(ctx, "a", []byte("2")); ok {
		t.Fatal("failed Apply left data behind")
	}
	f.FailApplyAfter(-1)
	if err := f.Apply(ctx, []storage.Op{storage.Put("a", []byte("2"), []byte("y"))}); err != nil {
		t.Fatalf("healed store: %v", err)
	}
	f.FailReads(true)
	if _, _, err := f.Get(ctx, "a", []byte("2")); !errors.Is(err, storage.ErrInjected) {
		t.Fatalf("Get with failing reads = %v", err)
	}
}
