package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/storage/storagetest"
)

// openTemp opens a fresh store in the test's temp dir and closes it at the end.
func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "jazz.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// checkFile runs bbolt's own consistency check over the whole file.
func checkFile(t *testing.T, s *Store) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bbolt consistency check: %v", err)
	}
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return openTemp(t) })
}

func TestReopenPersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jazz.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ops := []storage.Op{
		storage.Put("objects", []byte("o/1"), []byte("one")),
		storage.Put("objects", []byte("o/2"), []byte("two")),
		storage.Put("objects", []byte("o/3"), nil), // empty value must still exist
		storage.Put("meta", []byte("version"), []byte("7")),
	}
	if err := s.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, []storage.Op{storage.Del("objects", []byte("o/2"))}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	checkFile(t, s)
	var got []string
	err = s.Scan(ctx, "objects", []byte("o/"), func(k, v []byte) error {
		got = append(got, fmt.Sprintf("%s=%s", k, v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[o/1=one o/3=]"; fmt.Sprint(got) != want {
		t.Fatalf("after reopen scan = %v, want %v", got, want)
	}
	if v, ok, err := s.Get(ctx, "objects", []byte("o/3")); err != nil || !ok || len(v) != 0 {
		t.Fatalf("empty value after reopen: %q %v %v", v, ok, err)
	}
	if v, ok, err := s.Get(ctx, "meta", []byte("version")); err != nil || !ok || string(v) != "7" {
		t.Fatalf("meta/version after reopen: %q %v %v", v, ok, err)
	}
}

// TestApplyAllOrNothing makes bbolt itself refuse the last op of a batch and
// checks that the earlier ops, and the bucket they created, were rolled back.
func TestApplyAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	tooBig := bytes.Repeat([]byte("k"), bolt.MaxKeySize+1)
	err := s.Apply(ctx, []storage.Op{
		storage.Put("fresh", []byte("a"), []byte("1")),
		storage.Put("fresh", []byte("b"), []byte("2")),
		storage.Put("fresh", tooBig, []byte("3")),
	})
	if !errors.Is(err, berrors.ErrKeyTooLarge) {
		t.Fatalf("err = %v, want wrapped ErrKeyTooLarge", err)
	}
	if !strings.Contains(err.Error(), "op 2") || !strings.Contains(err.Error(), `"fresh"`) {
		t.Fatalf("error lacks op context: %v", err)
	}
	if _, ok, _ := s.Get(ctx, "fresh", []byte("a")); ok {
		t.Fatal("op 0 of a failed batch took effect")
	}
	s.mu.RLock()
	_ = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("fresh")) != nil {
			t.Error("bucket created by a failed batch survived")
		}
		return nil
	})
	s.mu.RUnlock()

	// An empty key is refused up front, also leaving nothing behind.
	err = s.Apply(ctx, []storage.Op{storage.Put("fresh", []byte("a"), []byte("1")), storage.Put("fresh", nil, []byte("x"))})
	if !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("empty key: err = %v, want ErrEmptyKey", err)
	}
	if _, ok, _ := s.Get(ctx, "fresh", []byte("a")); ok {
		t.Fatal("batch with an empty key partly applied")
	}
	if _, ok, err := s.Get(ctx, "fresh", nil); ok || err != nil {
		t.Fatalf("Get of empty key = %v %v, want absent", ok, err)
	}
}

func TestBadBucketAndContext(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if _, _, err := s.Get(ctx, "", []byte("k")); !errors.Is(err, storage.ErrBadBucket) {
		t.Fatalf("Get empty bucket = %v", err)
	}
	if err := s.Scan(ctx, "", nil, func(k, v []byte) error { return nil }); !errors.Is(err, storage.ErrBadBucket) {
		t.Fatalf("Scan empty bucket = %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Apply(cctx, []storage.Op{storage.Put("a", []byte("k"), []byte("v"))}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with cancelled ctx = %v", err)
	}
	if _, ok, _ := s.Get(ctx, "a", []byte("k")); ok {
		t.Fatal("Apply with a cancelled context wrote")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Scan(ctx, "a", nil, func(k, v []byte) error { return nil }); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Scan after Close = %v", err)
	}
	if _, _, err := s.Get(ctx, "", nil); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Get(empty bucket) after Close = %v, want ErrClosed", err)
	}
}

// TestScanCallbackMayApply checks that Scan holds no transaction or lock
// while calling fn: fn writes to the bucket being scanned, and to see a
// snapshot, the new keys must not show up in the running scan.
func TestScanCallbackMayApply(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if err := s.Apply(ctx, []storage.Op{
		storage.Put("b", []byte("k/1"), []byte("1")),
		storage.Put("b", []byte("k/2"), []byte("2")),
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var seen []string
	go func() {
		done <- s.Scan(ctx, "b", []byte("k/"), func(k, v []byte) error {
			seen = append(seen, string(k))
			k = append(k, 'x') // fn owns k; growing it must not clobber v
			if string(v) != string(k[2:3]) {
				return fmt.Errorf("value %q clobbered", v)
			}
			return s.Apply(ctx, []storage.Op{storage.Put("b", k, v)})
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Scan with Apply in its callback deadlocked")
	}
	if fmt.Sprint(seen) != "[k/1 k/2]" {
		t.Fatalf("scan saw %v, want a snapshot [k/1 k/2]", seen)
	}
	if _, ok, _ := s.Get(ctx, "b", []byte("k/1x")); !ok {
		t.Fatal("Apply inside Scan callback was lost")
	}
}

func TestConcurrentApplyGet(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const writers, batches = 6, 25
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range batches {
				k := fmt.Sprintf("w%d/%03d", w, i)
				ops := []storage.Op{
					storage.Put("data", []byte(k+"/a"), []byte(k)),
					storage.Put("data", []byte(k+"/b"), []byte(k)),
					storage.Put("last", []byte(fmt.Sprint(w)), []byte(k)),
				}
				if err := s.Apply(ctx, ops); err != nil {
					errs <- err
					return
				}
				// Read-your-writes straight after an acked Apply.
				if v, ok, err := s.Get(ctx, "data", []byte(k+"/b")); err != nil || !ok || string(v) != k {
					errs <- fmt.Errorf("read back %s: %q %v %v", k, v, ok, err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 3 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Every batch is atomic: /a and /b always come in pairs.
				n := 0
				err := s.Scan(ctx, "data", []byte("w"), func(k, v []byte) error {
					n++
					if !bytes.HasPrefix(k, v) {
						return fmt.Errorf("key %q holds %q", k, v)
					}
					return nil
				})
				if err == nil && n%2 != 0 {
					err = fmt.Errorf("scan saw %d keys: a batch was half applied", n)
				}
				if err != nil {
					errs <- err
					return
				}
				if _, _, err := s.Get(ctx, "last", []byte("0")); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	if err := s.Scan(ctx, "data", nil, func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != writers*batches*2 {
		t.Fatalf("%d keys, want %d", n, writers*batches*2)
	}
	checkFile(t, s)
}

// TestCloseWhileBusy closes the store under concurrent traffic: every call
// must either succeed or return ErrClosed, never anything else or a panic.
func TestCloseWhileBusy(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				err := s.Apply(ctx, []storage.Op{storage.Put("b", fmt.Appendf(nil, "%d/%d", g, i), []byte("v"))})
				if err == nil {
					_, _, err = s.Get(ctx, "b", []byte("0/0"))
				}
				if err == nil {
					err = s.Scan(ctx, "b", []byte("0/"), func(k, v []byte) error { return nil })
				}
				if errors.Is(err, storage.ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	time.Sleep(30 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call racing Close: %v", err)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jazz.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	const timeout = 200 * time.Millisecond
	start := time.Now()
	s2, err := Open(path, Options{Timeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !errors.Is(err, ErrLocked) || !errors.Is(err, berrors.ErrTimeout) {
		t.Fatalf("err = %v, want ErrLocked wrapping bbolt's timeout", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error does not name the path %s: %v", path, err)
	}
	if elapsed > timeout+time.Second { // bbolt may give up one 50ms retry early
		t.Fatalf("second Open took %v with a %v timeout", elapsed, timeout)
	}
	t.Logf("second open: %v after %v", err, elapsed.Round(time.Millisecond))

	// Once the first holder closes, the file opens again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err = Open(path, Options{Timeout: timeout})
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	s2.Close()
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{Timeout: -1}.withDefaults()
	if o.Timeout != DefaultTimeout || o.FileMode != DefaultFileMode {
		t.Fatalf("defaults = %+v", o)
	}
	o = Options{Timeout: time.Second, FileMode: 0o640}.withDefaults()
	if o.Timeout != time.Second || o.FileMode != 0o640 {
		t.Fatalf("explicit options overridden: %+v", o)
	}
}

func TestOpenErrorNamesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "jazz.db")
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open in a missing dir = %v, want an error naming %s", err, path)
	}
}

// BenchmarkApply shows what a durable commit costs: each Apply is one bbolt
// commit with its fsyncs, so ns/op is dominated by the disk, and ns/key
// shows how batching amortises it.
func BenchmarkApply(b *testing.B) {
	ctx := context.Background()
	val := bytes.Repeat([]byte("v"), 100)
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			s := openTemp(b)
			ops := make([]storage.Op, n)
			seq := 0
			for b.Loop() {
				for i := range ops {
					ops[i] = storage.Put("bench", fmt.Appendf(nil, "%012d", seq), val)
					seq++
				}
				if err := s.Apply(ctx, ops); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq), "ns/key")
		})
	}
}
