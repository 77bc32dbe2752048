package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"

	"github.com/jazzgo/jazz-tools/core/storage"
)

// Replicate installs what another process committed to the store this DB
// reads, as the ops it applied: rows (bucket rows, as stored), the ids of
// the changes it accepted (bucket applied) and the sequence number (meta
// "seq"). Several servers over one shared database each run a DB over it
// and call Replicate with what the others committed, so that every one
// sees every row and accepts a resend once whichever received it first.
//
// Nothing is written: the store holds the ops already. Rows keep the
// sequence numbers they were stored with, so every replica numbers every
// row alike and a client's cursor means the same on each; the caller
// passes ops in commit order. Subscriptions fire as for a local commit.
// The clock is raised past the rows' cells without the drift check of
// Observe: the writer's clock ordered them, and refusing its time would
// leave this replica unable to follow.
//
// Ops for other buckets, for tables this DB's schema does not have, and
// deletes (the applied log's expiry, which each replica runs itself) are
// skipped. A row older than what this DB holds changes nothing, so
// replicating the same ops twice is harmless.
func (db *DB) Replicate(ctx context.Context, ops []storage.Op) error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	err := db.replicateLocked(ctx, ops)
	db.unlockAndNotify()
	return err
}

func (db *DB) replicateLocked(ctx context.Context, ops []storage.Op) error {
	s := db.newStage()
	seq := db.seq
	var applied []string
	decoders := map[*table]*rowDecoder{}
	for _, op := range ops {
		if op.Delete {
			continue
		}
		switch op.Bucket {
		case bucketRows:
			name, rid, ok := bytes.Cut(op.Key, []byte{0})
			t := db.tables[string(name)]
			if !ok || t == nil {
				continue
			}
			d := decoders[t]
			if d == nil {
				d = newRowDecoder(t.def)
				decoders[t] = d
			}
			cells, rseq, err := d.decode(op.Value)
			if err != nil {
				s.dropNewRows()
				return d.corrupt(string(rid), err)
			}
			for _, c := range cells {
				db.hlc.Raise(c.T)
			}
			u := s.of(t, string(rid))
			base := maps.Clone(u.base)
			if merge(base, cells) {
				u.base = base
			}
			u.seq = max(u.seq, rseq)
			seq = max(seq, rseq)
		case bucketApplied:
			if _, done := db.applied[string(op.Key)]; !done {
				applied = append(applied, string(op.Key))
			}
		case bucketMeta:
			if string(op.Key) == "seq" && len(op.Value) == 8 {
				seq = max(seq, binary.BigEndian.Uint64(op.Value))
			}
		}
	}
	// The numbers are installed as they are: with db.seq moved first, the
	// stage has nothing of its own to persist (no row is marked persist).
	s.seq = seq
	db.seq = seq
	if err := s.commit(ctx); err != nil {
		return fmt.Errorf("engine: installing replicated rows: %w", err)
	}
	now := db.nowMs()
	for _, id := range applied {
		db.markApplied(id, now)
	}
	return nil
}
