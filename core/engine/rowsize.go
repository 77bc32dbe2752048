package engine

import (
	"fmt"
	"maps"
	"math"

	"github.com/jazzgo/jazz-tools/core/limits"
)

// RowTooLargeError is a change refused because the row it leaves would be
// too large to send: as a RowState in a rows frame it would encode to Size
// bytes, over Limit (limits.MaxRowBytes). Accepted, such a row would cut
// off every subscriber of its table, none of whom could receive it.
type RowTooLargeError struct {
	Table string
	Row   string
	Size  int
	Limit int
}

func (e *RowTooLargeError) Error() string {
	return fmt.Sprintf("engine: %s/%s would encode to %d bytes, over the %d byte row limit (MaxRowBytes)", e.Table, e.Row, e.Size, e.Limit)
}

// checkRowSize refuses c when existing (nil for none) merged with c would
// encode over limits.MaxRowBytes. The merge is judged, not c alone: an
// update of one column can grow a row past the limit. The row is measured
// with the largest sequence number, as the server may send it at any. A
// delete is never refused: it adds only its tombstone cell, which the
// frame's slack (limits.FrameOverheadBytes) absorbs, and a row must
// always be deletable.
func (t *table) checkRowSize(c *Change, existing *row) error {
	if c.Kind == KindDelete {
		return nil
	}
	cells := map[string]cell{}
	if existing != nil {
		cells = maps.Clone(t.cellsOf(existing))
	}
	merge(cells, c.cells())
	b, err := RowState{Table: c.Table, ID: c.Row, Cells: cells, Seq: math.MaxUint64}.AppendJSON(nil)
	if err != nil {
		return fmt.Errorf("%w: %s/%s cannot be encoded: %v", ErrBadChange, c.Table, c.Row, err)
	}
	if len(b) > limits.MaxRowBytes {
		return &RowTooLargeError{Table: c.Table, Row: c.Row, Size: len(b), Limit: limits.MaxRowBytes}
	}
	return nil
}
