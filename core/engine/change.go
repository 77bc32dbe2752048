package engine

import (
	"fmt"

	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/id"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// Kind is what a change does to its row.
type Kind string

const (
	KindInsert Kind = "insert"
	KindUpdate Kind = "update"
	KindDelete Kind = "delete"
)

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
	case c.Kind != KindInsert && c.Kind != KindUpdate && c.Kind != KindDelete:
		return bad(fmt.Sprintf("unknown kind %q", c.Kind))
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
	}
	return out
}
