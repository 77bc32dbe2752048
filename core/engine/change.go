package engine

import (
	"fmt"

	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/id"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// Kind is what a change does to its row.
type Kind string

const (
	KindInsert Kind = "insert"
	KindUpdate Kind = "update"
	KindDelete Kind = "delete"
	// KindRestore brings a deleted row back with new values (a full row,
	// defaults applied, as an insert has): it clears the tombstone.
	// Policies check it as an insert of the row it brings back.
	KindRestore Kind = "restore"
	// KindUpsert is what callers ask for, never a change's kind: the
	// change is an insert or an update, whichever fits the row as the
	// replica applying it has it (Change.Upsert).
	KindUpsert Kind = "upsert"
)

// operation is the policy operation that governs k.
func (k Kind) operation() policy.Operation {
	switch k {
	case KindRestore, KindUpsert:
		return policy.Insert
	}
	return policy.Operation(k)
}

// Change is the unit of replication: one write to one row. ID makes
// application idempotent; TS orders it against every other change.
type Change struct {
	ID     string         `json:"id"`
	Table  string         `json:"table"`
	Row    string         `json:"row"`
	Kind   Kind           `json:"kind"`
	TS     hlc.Timestamp  `json:"ts"`
	By     string         `json:"by"`
	Values map[string]any `json:"values,omitempty"`
	// Upsert marks a change written as an upsert: every replica that
	// authorizes it (the writer, then the server) makes it an update when
	// the row exists there and an insert when it does not, so two offline
	// upserts of one id both land instead of the second failing as a
	// duplicate insert.
	Upsert bool `json:"upsert,omitempty"`
	// Batch is the id of the batch the change belongs to ("" for one
	// written alone). It is not part of the change's JSON: a batch's
	// outbox entry and its push carry the id once, for all its changes.
	Batch string `json:"-"`
}

// deletedCell is the tombstone; it is internal and never shown as a column.
const deletedCell = "$deleted"

// check verifies the shape of a change from outside (ids, kind, values
// present only where they belong). Schema and policy checks come later.
func (c *Change) check() error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrBadChange, why) }
	switch {
	case !id.Valid(c.ID):
		return bad("change id is not a UUID")
	case !id.Valid(c.Row):
		return bad("row id is not a UUID")
	case c.TS.IsZero() || c.TS.Node == "":
		return bad("missing timestamp")
	case c.Kind == KindDelete && len(c.Values) > 0:
		return bad("a delete carries no values")
	case c.Kind != KindInsert && c.Kind != KindUpdate && c.Kind != KindDelete && c.Kind != KindRestore:
		return bad(fmt.Sprintf("unknown kind %q", c.Kind))
	case c.Upsert && c.Kind != KindInsert && c.Kind != KindUpdate:
		return bad("only an insert or an update can be an upsert")
	}
	return nil
}

// cells returns the cells c writes.
func (c *Change) cells() map[string]cell {
	out := make(map[string]cell, len(c.Values)+4)
	for k, v := range c.Values {
		out[k] = cell{V: v, T: c.TS}
	}
	switch c.Kind {
	case KindInsert:
		out[schema.ColCreatedBy] = cell{V: c.By, T: c.TS}
		out[schema.ColCreatedAt] = cell{V: c.TS.Wall, T: c.TS}
		fallthrough
	case KindUpdate:
		out[schema.ColUpdatedBy] = cell{V: c.By, T: c.TS}
		out[schema.ColUpdatedAt] = cell{V: c.TS.Wall, T: c.TS}
	case KindDelete:
		out[deletedCell] = cell{V: true, T: c.TS}
	case KindRestore:
		// A tombstone set to false, newer than the delete, wins over it.
		out[deletedCell] = cell{V: false, T: c.TS}
		out[schema.ColUpdatedBy] = cell{V: c.By, T: c.TS}
		out[schema.ColUpdatedAt] = cell{V: c.TS.Wall, T: c.TS}
	}
	return out
}

// tombstoned reports whether the tombstone cell (ok: present) marks its
// row deleted: a restore leaves it false.
func tombstoned(c cell, ok bool) bool { return ok && c.V != false }
