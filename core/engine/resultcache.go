package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"

	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// The result cache lets a reopened DB answer a live query before it has
// read the query's table: a browser tab's first result otherwise waits for
// every row of the table to be read and decoded.
//
// It is exact, never stale. Every commit bumps the DB's stamp, a counter
// kept in the meta bucket and written in the commit's own batch, so the
// stamp on disk always names the state on disk. A saved result carries the
// stamp of the state it was computed from. At the next Open, a result is
// served only while the DB has committed nothing since Open and the saved
// stamp equals the one read at Open: then it is exactly what the query
// computes over the stored rows. Since stamps only grow, an entry older
// than the stamp at Open can never be served again, and PruneResults
// removes it.
const (
	metaStamp    = "stamp"
	resultPrefix = "result\x00" // + key hash -> stamp (8 bytes) + rows JSON
	// MaxCachedResult bounds the JSON of a saved result: a query over a
	// whole large table is not worth rewriting on every change.
	MaxCachedResult = 256 << 10
)

// resultFormat is part of every key: change it when the JSON of a Row
// changes, so that a new version never serves a result in the old form.
const resultFormat = "rows/1\x00"

// ErrNoCachedResult is returned by CachedResult when nothing valid is saved.
var ErrNoCachedResult = errors.New("engine: no cached result")

// resultKey names q's saved result: the query's text (see CachedResult),
// the columns of its table (a result computed under other columns is not
// this one) and, when policies apply, who reads.
func (db *DB) resultKey(a Actor, q *query.Query, text []byte, def *schema.Table) ([]byte, error) {
	h := sha256.New()
	qj := text
	if qj == nil {
		var err error
		if qj, err = json.Marshal(q); err != nil {
			return nil, err
		}
	}
	cj, err := json.Marshal(def.Columns)
	if err != nil {
		return nil, err
	}
	h.Write([]byte(resultFormat))
	h.Write(qj)
	h.Write([]byte{0})
	h.Write(cj)
	if db.enforce(a) {
		aj, err := json.Marshal(a.Session)
		if err != nil {
			return nil, err
		}
		h.Write([]byte{0})
		h.Write(aj)
	}
	return h.Sum([]byte(resultPrefix)), nil
}

// Stamp is the stamp of the DB's current state (see the result cache).
func (db *DB) Stamp() uint64 { return db.stamp.Load() }

// CachedResult returns the rows JSON of q's result (over table def, as the
// caller knows it) saved by an earlier DB over the same store, if it is
// exactly the current result. It answers from what Open read, without the
// engine's lock, so it answers while a table is still loading.
//
// text is q as the caller received it (the JSON a browser page sent), the
// same text SaveResult got, or nil for q's own encoding. A page's first
// json.Marshal of a query costs more than the rest of the lookup, and two
// texts of one query only cost a miss.
func (db *DB) CachedResult(a Actor, q *query.Query, text []byte, def *schema.Table) (json.RawMessage, error) {
	if def == nil || def.Name != q.Table {
		return nil, ErrNoCachedResult
	}
	open := db.openStamp
	if !db.opts.CacheResults || db.stamp.Load() != open {
		return nil, ErrNoCachedResult // something changed since Open
	}
	key, err := db.resultKey(a, q, text, def)
	if err != nil {
		return nil, err
	}
	rows, ok := db.results[string(key)]
	if !ok || db.stamp.Load() != open {
		return nil, ErrNoCachedResult
	}
	return rows, nil
}

// keepResult keeps a saved result (k, v from the meta bucket, owned by the
// DB from now on) in memory if
// it is valid at Open, so that CachedResult answers from memory: a read
// from IndexedDB would wait behind the scan of the table it stands in for.
func (db *DB) keepResult(k, v []byte) {
	if len(v) < 8 || binary.BigEndian.Uint64(v) != db.openStamp {
		return // dead: PruneResults deletes it
	}
	rows := bytes.TrimSpace(v[8:])
	if len(rows) == 0 || rows[0] != '[' || !json.Valid(rows) {
		return
	}
	if db.results == nil {
		db.results = map[string]json.RawMessage{}
	}
	db.results[string(k)] = json.RawMessage(rows)
}

// SaveResult saves rows (the JSON of q's result at stamp, q given as text
// as for CachedResult) for CachedResult,
// unless the state has moved on since stamp, the DB is closed or rows is
// over MaxCachedResult. It reports whether it saved. On a store that writes
// behind, the entry is queued after the commit that made stamp, so the disk
// never holds it without that state.
func (db *DB) SaveResult(ctx context.Context, a Actor, q *query.Query, text []byte, stamp uint64, rows []byte) (bool, error) {
	if len(rows) > MaxCachedResult || !db.opts.CacheResults {
		return false, nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed || db.stamp.Load() != stamp {
		return false, nil
	}
	t := db.tables[q.Table]
	if t == nil {
		return false, nil
	}
	key, err := db.resultKey(a, q, text, t.def)
	if err != nil {
		return false, err
	}
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(rows)), stamp)
	_, err = db.persist(ctx, []storage.Op{storage.Put(bucketMeta, key, append(v, rows...))})
	return err == nil, err
}

// PruneResults deletes the saved results that can never be served again
// (older than the stamp at Open) and returns how many it deleted.
func (db *DB) PruneResults(ctx context.Context) (int, error) {
	var dead [][]byte
	err := db.store.Scan(ctx, bucketMeta, []byte(resultPrefix), func(k, v []byte) error {
		if len(v) < 8 || binary.BigEndian.Uint64(v) < db.openStamp {
			dead = append(dead, bytes.Clone(k))
		}
		return nil
	})
	if err != nil || len(dead) == 0 {
		return 0, err
	}
	ops := make([]storage.Op, len(dead))
	for i, k := range dead {
		ops[i] = storage.Del(bucketMeta, k)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return 0, ErrClosed
	}
	if _, err = db.persist(ctx, ops); err != nil {
		return 0, err
	}
	return len(dead), nil
}

// RowsAt returns the subscription's current result and the stamp of the
// state it was read from, for SaveResult.
func (u Update) RowsAt() ([]Row, uint64) {
	s := u.sub
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	return s.windowRowsLocked(), s.db.stamp.Load()
}

// Len is the number of rows in the subscription's current result, counted
// without building them: a caller deciding whether a result is small
// enough to save asks this first.
func (u Update) Len() int {
	s := u.sub
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	if s.bare {
		return len(s.windowRowsLocked())
	}
	if s.first != nil && !s.isSorted.Load() {
		return len(s.first)
	}
	s.sorted()
	return len(window(s.ids, s.q.Offset, s.q.Limit))
}
