package engine

import (
	"context"

	"github.com/jazzgo/jazz-tools/core/schema"
)

// Extend adds the tables of s that the DB does not have yet, loading any
// rows the store already holds for them. A table the DB already has must be
// declared identically: a client built against another version of the schema
// gets a clear error rather than rows of the wrong shape.
//
// Browser clients learn their schema from the app definition the first time
// it is used, which is why tables can arrive after Open.
func (db *DB) Extend(ctx context.Context, s *schema.Schema) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	merged, added, err := schema.Merge(db.schema, s)
	if err != nil || len(added) == 0 {
		return err
	}
	fresh := map[string]*table{}
	for _, t := range added {
		def, _ := merged.Table(t.Name)
		tb := newTable(def)
		if err := db.loadRows(ctx, tb); err != nil {
			return err
		}
		fresh[t.Name] = tb
	}
	// Queued offline writes for these tables were left in the outbox by
	// Open; without them they would never be sent.
	if err := db.loadOutbox(ctx, fresh); err != nil {
		for id, c := range db.pending {
			if fresh[c.Table] != nil {
				delete(db.pending, id)
				db.pendingOrder = nil
			}
		}
		return err
	}
	// Install only once every table loaded, so a failure changes nothing.
	for name, tb := range fresh {
		db.tables[name] = tb
	}
	db.schema = merged
	db.opts.Bundle.Schema = merged
	return nil
}

func newTable(def *schema.Table) *table {
	tb := &table{def: def, rows: map[string]*row{}, index: map[string]*colIndex{}, tail: map[string]struct{}{}}
	for _, c := range def.Indexed() {
		tb.index[c] = &colIndex{}
	}
	tb.subs.init()
	return tb
}
