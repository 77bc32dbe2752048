package engine

// The applied log: the ids of the changes this DB merged (bucket applied),
// which make Submit and Apply accept a resent change without applying it
// twice. Each id is stored with when this DB applied it (Unix ms, 8 bytes
// big endian). With Options.AppliedFor the log keeps only the ids of that
// last stretch of time: Open skips and deletes older ones, and commits
// delete those that expire as they go by, oldest first. Without it a
// server's log, read whole into memory at every start, grew by one id per
// change it ever accepted.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sort"
	"time"

	"github.com/jazzgo/jazz-tools/core/storage"
)

// appliedEntry is one id of the log, in the order expiry reaches them.
type appliedEntry struct {
	id string
	at int64 // Unix ms
}

// appliedPrunePeriod is how often, at most, a commit looks for expired ids.
const appliedPrunePeriod = time.Minute

func appliedValue(at int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(at)) }

// appliedOp is the op that logs id as applied at now; markApplied records
// it in memory once the op has committed.
func appliedOp(id string, now int64) storage.Op {
	return storage.Put(bucketApplied, []byte(id), appliedValue(now))
}

func (db *DB) markApplied(id string, now int64) {
	db.applied[id] = struct{}{}
	if db.opts.AppliedFor > 0 {
		db.appliedOrder = append(db.appliedOrder, appliedEntry{id, now})
	}
}

// nowMs is the DB's clock in Unix ms.
func (db *DB) nowMs() int64 { return db.opts.Clock.Now().UnixMilli() }

// expireAppliedLocked adds to s the deletion of the ids that expired, at
// most once per appliedPrunePeriod, and forgets them. They are forgotten
// before s commits: a failed commit leaves them on disk, where the next
// Open deletes them, and Submit's view of them no longer matters.
func (db *DB) expireAppliedLocked(s *stage, now int64) {
	if db.opts.AppliedFor <= 0 || now-db.appliedPruned < appliedPrunePeriod.Milliseconds() {
		return
	}
	db.appliedPruned = now
	cutoff := now - db.opts.AppliedFor.Milliseconds()
	n := 0
	for n < len(db.appliedOrder) && db.appliedOrder[n].at < cutoff {
		id := db.appliedOrder[n].id
		delete(db.applied, id)
		s.ops = append(s.ops, storage.Del(bucketApplied, []byte(id)))
		n++
	}
	if n == 0 {
		return
	}
	// Copy the rest down once it is a minority of the array, so the ids
	// popped off the front are freed.
	if rest := len(db.appliedOrder) - n; rest < n {
		db.appliedOrder = append(db.appliedOrder[:0:0], db.appliedOrder[n:]...)
	} else {
		db.appliedOrder = db.appliedOrder[n:]
	}
}

// loadApplied reads the ids of the changes already merged. There is one
// per change applied (within Options.AppliedFor), read at every Open, so
// the ids are collected back to back and become one string (one
// allocation, not one per id), and the set is made at its final size. It
// returns the ops that delete expired ids and give ids stored without a
// time (by versions before the times) the time of this Open.
func (db *DB) loadApplied(ctx context.Context) ([]storage.Op, error) {
	var (
		ids  []byte
		end  []int
		ats  []int64
		ops  []storage.Op
		now  = db.nowMs()
		keep = db.opts.AppliedFor
	)
	err := db.store.Scan(ctx, bucketApplied, nil, func(k, v []byte) error {
		at := now
		switch {
		case len(v) == 8:
			at = int64(binary.BigEndian.Uint64(v))
		case len(v) == 0:
			if keep > 0 {
				ops = append(ops, storage.Put(bucketApplied, bytes.Clone(k), appliedValue(now)))
			}
		default:
			return errors.New("engine: an applied change id with a malformed time")
		}
		if keep > 0 && at < now-keep.Milliseconds() {
			ops = append(ops, storage.Del(bucketApplied, bytes.Clone(k)))
			return nil
		}
		ids = append(ids, k...)
		end = append(end, len(ids))
		ats = append(ats, at)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(db.applied) == 0 {
		db.applied = make(map[string]struct{}, len(end))
	}
	text, start := string(ids), 0
	for i, e := range end {
		id := text[start:e]
		db.applied[id] = struct{}{}
		if keep > 0 {
			db.appliedOrder = append(db.appliedOrder, appliedEntry{id, ats[i]})
		}
		start = e
	}
	// sort.Slice, not slices: the browser's build has its code already, and
	// a generic sort of appliedEntry would add its own to every page.
	order := db.appliedOrder
	sort.Slice(order, func(i, j int) bool { return order[i].at < order[j].at })
	db.appliedPruned = now
	return ops, nil
}
