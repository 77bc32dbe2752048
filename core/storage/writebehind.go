package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Deferrer is a Store that can take a batch without waiting for it to reach
// the disk. The engine uses it to show a local write to subscribers as soon
// as it is in memory, and to wait for durability only where someone needs
// it (the caller of the write), never while holding its lock.
type Deferrer interface {
	Store
	// Enqueue orders ops after every batch enqueued before and returns at
	// once. Later reads see them. The error is for ops that can never be
	// written (an empty bucket or key) or a closed store.
	Enqueue(ops []Op) (*Commit, error)
}

// Commit is one enqueued batch; Done closes once it is settled.
type Commit struct {
	done chan struct{}
	err  error
}

// Done is closed when the batch is durable or has failed.
func (c *Commit) Done() <-chan struct{} { return c.done }

// Err is why the batch could not be written (nil when it was); valid once
// Done is closed.
func (c *Commit) Err() error { return c.err }

// Wait blocks until the batch is settled (returning Err) or ctx ends.
func (c *Commit) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WriteBehind wraps a store whose commits are slow compared with the work
// around them (IndexedDB: about a millisecond per transaction). Batches are
// kept in memory, in order, and written by one background goroutine that
// folds everything queued meanwhile into a single Apply (group commit), so a
// burst of writes costs one transaction rather than one each.
//
// What is on disk is therefore always a prefix of the batches, in order: the
// state a crash at that point would have left, which every reader of the
// store already recovers from (the engine resends queued writes, the sync
// client resumes from its last saved cursor). Reads see enqueued batches at
// once.
//
// If the store fails (after a few retries, since IndexedDB aborts a
// transaction when another tab upgrades the database), WriteBehind stops
// writing to it and keeps every later batch in memory only: the app keeps
// working, and onFail is told once so the owner can say the data no longer
// survives a reload. Apply then returns that error, but, unlike the Store
// contract, its ops stay readable: the store has become a memory store.
type WriteBehind struct {
	s      Store
	onFail func(error)
	retry  []time.Duration

	mu      sync.Mutex
	queue   []*pendingBatch
	overlay map[string]map[string]*overlayEntry // bucket -> key -> newest unflushed write
	seq     uint64                              // of the last enqueued batch
	flushed uint64                              // every batch up to this one is on disk
	stale   []overlayRef                        // flushed entries left while a Scan ran
	scans   int
	failed  error
	closed  bool
	wake    chan struct{}
	stopped chan struct{}
}

type pendingBatch struct {
	ops []Op
	seq uint64
	c   *Commit
}

type overlayEntry struct {
	value []byte
	del   bool
	seq   uint64
}

type overlayRef struct{ bucket, key string }

var (
	_ Store    = (*WriteBehind)(nil)
	_ Deferrer = (*WriteBehind)(nil)
)

// writeRetries are the pauses before each retry of a failed commit.
var writeRetries = []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond}

// NewWriteBehind starts writing behind s. onFail (may be nil) is called once,
// on the background goroutine, if s stops accepting writes.
func NewWriteBehind(s Store, onFail func(error)) *WriteBehind {
	w := &WriteBehind{
		s:       s,
		onFail:  onFail,
		retry:   writeRetries,
		overlay: map[string]map[string]*overlayEntry{},
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	go w.run()
	return w
}

// Enqueue implements Deferrer.
func (w *WriteBehind) Enqueue(ops []Op) (*Commit, error) {
	for _, op := range ops {
		if op.Bucket == "" {
			return nil, ErrBadBucket
		}
		if len(op.Key) == 0 {
			return nil, ErrEmptyKey
		}
	}
	own := make([]Op, len(ops))
	for i, op := range ops {
		own[i] = Op{Bucket: op.Bucket, Key: bytes.Clone(op.Key), Value: bytes.Clone(op.Value), Delete: op.Delete}
	}
	c := &Commit{done: make(chan struct{})}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, ErrClosed
	}
	w.seq++
	for _, op := range own {
		b := w.overlay[op.Bucket]
		if b == nil {
			b = map[string]*overlayEntry{}
			w.overlay[op.Bucket] = b
		}
		b[string(op.Key)] = &overlayEntry{value: op.Value, del: op.Delete, seq: w.seq}
	}
	w.queue = append(w.queue, &pendingBatch{ops: own, seq: w.seq, c: c})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return c, nil
}

// Apply enqueues ops and waits until they are durable (or the store failed).
func (w *WriteBehind) Apply(ctx context.Context, ops []Op) error {
	c, err := w.Enqueue(ops)
	if err != nil {
		return err
	}
	return c.Wait(ctx)
}

// Flush waits until every batch enqueued so far is settled.
func (w *WriteBehind) Flush(ctx context.Context) error {
	c, err := w.Enqueue(nil)
	if err != nil {
		return err
	}
	return c.Wait(ctx)
}

// Failed is the error that made the store stop writing, or nil.
func (w *WriteBehind) Failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

func (w *WriteBehind) run() {
	defer close(w.stopped)
	for {
		<-w.wake
		w.mu.Lock()
		batches := w.queue
		w.queue = nil
		closed := w.closed
		failed := w.failed
		w.mu.Unlock()
		if len(batches) > 0 {
			w.write(batches, failed)
		}
		if closed {
			w.mu.Lock()
			rest := len(w.queue)
			w.mu.Unlock()
			if rest == 0 {
				return
			}
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// write commits batches as one Apply and settles their Commits.
func (w *WriteBehind) write(batches []*pendingBatch, failed error) {
	err := failed
	if err == nil {
		var ops []Op
		for _, b := range batches {
			ops = append(ops, b.ops...)
		}
		err = w.applyRetrying(ops)
	}
	last := batches[len(batches)-1].seq
	first := false
	w.mu.Lock()
	if err == nil {
		w.flushed = last
		for _, b := range batches {
			for _, op := range b.ops {
				w.stale = append(w.stale, overlayRef{op.Bucket, string(op.Key)})
			}
		}
		if w.scans == 0 {
			w.dropStaleLocked()
		}
	} else if w.failed == nil {
		w.failed = fmt.Errorf("%w: %w", ErrWriteFailed, err)
		err = w.failed
		first = true
	}
	w.mu.Unlock()
	if first && w.onFail != nil {
		w.onFail(err)
	}
	for _, b := range batches {
		b.c.err = err
		close(b.c.done)
	}
}

func (w *WriteBehind) applyRetrying(ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	err := w.s.Apply(context.Background(), ops)
	for _, d := range w.retry {
		if err == nil || errors.Is(err, ErrClosed) {
			return err
		}
		time.Sleep(d)
		err = w.s.Apply(context.Background(), ops)
	}
	return err
}

// dropStaleLocked forgets overlay entries the disk now has, unless a newer
// write to the same key is still queued.
func (w *WriteBehind) dropStaleLocked() {
	for _, r := range w.stale {
		b := w.overlay[r.bucket]
		if e := b[r.key]; e != nil && e.seq <= w.flushed {
			delete(b, r.key)
			if len(b) == 0 {
				delete(w.overlay, r.bucket)
			}
		}
	}
	w.stale = w.stale[:0]
}

func (w *WriteBehind) Get(ctx context.Context, bucket string, key []byte) ([]byte, bool, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, false, ErrClosed
	}
	if e := w.overlay[bucket][string(key)]; e != nil {
		v, del := e.value, e.del
		w.mu.Unlock()
		if del {
			return nil, false, nil
		}
		return bytes.Clone(v), true, nil
	}
	w.mu.Unlock()
	return w.s.Get(ctx, bucket, key)
}

// Scan reads the store, then lays the queued writes over it. Flushed entries
// stay in the overlay while a scan runs, so a batch reaching the disk midway
// can never make the scan return an older value.
func (w *WriteBehind) Scan(ctx context.Context, bucket string, prefix []byte, fn func(k, v []byte) error) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.scans++
	w.mu.Unlock()
	var base []kv
	err := w.s.Scan(ctx, bucket, prefix, func(k, v []byte) error {
		base = append(base, kv{k: k, v: v})
		return nil
	})
	w.mu.Lock()
	var over []kv
	for k, e := range w.overlay[bucket] {
		if bytes.HasPrefix([]byte(k), prefix) {
			over = append(over, kv{k: []byte(k), v: bytes.Clone(e.value), del: e.del})
		}
	}
	w.scans--
	if w.scans == 0 {
		w.dropStaleLocked()
	}
	w.mu.Unlock()
	if err != nil {
		return err
	}
	sort.Sort(byK(over)) // not slices.SortFunc: each generic sort is ~20 KB of wasm
	i := 0
	emit := func(x kv) error {
		if x.del {
			return nil
		}
		return fn(x.k, x.v)
	}
	for _, b := range base {
		for i < len(over) && bytes.Compare(over[i].k, b.k) < 0 {
			if err := emit(over[i]); err != nil {
				return err
			}
			i++
		}
		if i < len(over) && bytes.Equal(over[i].k, b.k) {
			if err := emit(over[i]); err != nil {
				return err
			}
			i++
			continue
		}
		if err := fn(b.k, b.v); err != nil {
			return err
		}
	}
	for ; i < len(over); i++ {
		if err := emit(over[i]); err != nil {
			return err
		}
	}
	return nil
}

// Close writes what is queued, then closes the wrapped store.
func (w *WriteBehind) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.stopped
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.stopped
	return w.s.Close()
}

// kv is a key and value of a Scan, del marking one the overlay deletes.
type kv struct {
	k, v []byte
	del  bool
}

type byK []kv

func (x byK) Len() int           { return len(x) }
func (x byK) Less(i, j int) bool { return bytes.Compare(x[i].k, x[j].k) < 0 }
func (x byK) Swap(i, j int)      { x[i], x[j] = x[j], x[i] }
