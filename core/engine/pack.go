package engine

// Packed rows. In a browser every stored value read is a step of IndexedDB's
// own (a lookup, a copy, a deserialization), so reading a table stored one
// row per value costs about 9 ms per thousand rows before the engine decodes
// a byte, while the same bytes in a few large values read in under a
// millisecond per thousand. With Options.PackRows the engine keeps each
// table's confirmed rows in a few large values (the packs bucket) and
// writes go, as always, one row per value to the rows bucket (the tail).
// When the tail has grown past a share of the table (compactDue), the
// engine rewrites the table's packs from memory and deletes its tail in one
// batch, so a table is read as a handful of packs plus a short tail. Each
// row in memory keeps its stored form (row.stored), so a compaction copies
// bytes: 10k rows take about 2.5 ms natively, where encoding them took 25.
//
// Loading merges the two cell by cell (last writer wins), never letting
// one replace the other. A stored base only ever grows by such merges, so
// the merge of any older and any newer state is the newest. That makes
// reading safe while another tab that owns the store compacts it: the
// tail is read first, in its own transaction, then the packs. Whatever the
// tail held then is in the packs written afterwards, or still in the tail.
//
// A pack is packFormatV1 followed by entries, each a uvarint length and
// the row's id, then a uvarint length and the row's stored form (rowcodec.go).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jazzgo/jazz-tools/core/storage"
)

const (
	bucketPacks  = "packs" // table\x00 + uint32 big endian -> pack
	packFormatV1 = 0x50    // 'P'
	// packTarget is the size at which a pack is closed and the next one
	// begun: large enough that a table is a few values, small enough that
	// no value is a burden to copy in one piece.
	packTarget = 256 << 10
	// compactMin is the smallest tail worth compacting; below it, reading
	// the tail costs about as much as reading the packs would.
	compactMin = 512
	// compactShare: a tail of more than 1/compactShare of the table's rows
	// is compacted. Each compaction writes the whole table, so the share
	// bounds that cost per write (amortized, compactShare rows rewritten
	// per row written) and the tail a load reads.
	compactShare = 8
)

func packKey(table string, n uint32) []byte {
	k := make([]byte, 0, len(table)+5)
	k = append(k, table...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, n)
}

// packEntries calls fn with each row id and stored row of a pack.
func packEntries(p []byte, fn func(id, v []byte) error) error {
	if len(p) == 0 || p[0] != packFormatV1 {
		return errors.New("unknown pack format")
	}
	p = p[1:]
	next := func() ([]byte, error) {
		n, w := binary.Uvarint(p)
		if w <= 0 || n > uint64(len(p)-w) {
			return nil, errors.New("truncated pack entry")
		}
		// Capped: rows keep these slices (row.stored), and an append to
		// one must not write over the next entry.
		b := p[w : w+int(n) : w+int(n)]
		p = p[w+int(n):]
		return b, nil
	}
	for len(p) > 0 {
		id, err := next()
		if err != nil {
			return err
		}
		v, err := next()
		if err != nil {
			return err
		}
		if err := fn(id, v); err != nil {
			return err
		}
	}
	return nil
}

// compactDue reports whether t's tail should be folded into its packs.
func (t *table) compactDue() bool {
	return len(t.tail) >= compactMin && len(t.tail)*compactShare > len(t.rows)
}

// compactLocked rewrites t's packs from its rows in memory and deletes its
// tail, in one batch queued behind every earlier one, so the store never
// holds a state the rows in memory did not pass through. The caller holds
// db.mu. On failure nothing in memory changes: the tail stays the tail.
// No writer waits for the batch (it is not lastCommit): it changes no row.
func (db *DB) compactLocked(ctx context.Context, t *table) error {
	var (
		ops  []storage.Op
		pack = []byte{packFormatV1}
		n    uint32
	)
	flush := func() {
		ops = append(ops, storage.Put(bucketPacks, packKey(t.def.Name, n), pack))
		n++
		pack = make([]byte, 1, packTarget+packTarget/8)
		pack[0] = packFormatV1
	}
	for id, r := range t.rows {
		if !r.encoded() && len(r.base) == 0 {
			continue // only pending: nothing confirmed to store
		}
		v := r.stored
		if v == nil {
			var err error
			if v, err = encodeStored(r.base, r.seq); err != nil {
				return fmt.Errorf("engine: packing row %s/%s: %w", t.def.Name, id, err)
			}
		}
		pack = binary.AppendUvarint(pack, uint64(len(id)))
		pack = append(pack, id...)
		pack = binary.AppendUvarint(pack, uint64(len(v)))
		pack = append(pack, v...)
		if len(pack) >= packTarget {
			flush()
		}
	}
	if len(pack) > 1 {
		flush()
	}
	for i := n; i < t.packs; i++ {
		ops = append(ops, storage.Del(bucketPacks, packKey(t.def.Name, i)))
	}
	for id := range t.tail {
		ops = append(ops, storage.Del(bucketRows, rowKey(t.def.Name, id)))
	}
	if _, err := db.persist(ctx, ops); err != nil {
		return fmt.Errorf("engine: compacting %s: %w", t.def.Name, err)
	}
	t.packs, t.tail = n, map[string]struct{}{}
	return nil
}
