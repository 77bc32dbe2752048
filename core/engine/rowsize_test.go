package engine_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/limits"
)

// A row is judged as it will be after the merge and as it goes out in a
// rows frame (limits.Marshal, so '<' counts one byte): it may reach
// limits.MaxRowBytes and no further, whether an insert or a later update
// takes it there, and a row at the limit can still be deleted.
func TestSubmit_RefusesAChangeThatLeavesItsRowOverMaxRowBytes(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	client := open(t, func(o *engine.Options) { o.Node = "client" })
	change := func(kind engine.Kind, row string, values map[string]any) *engine.Change {
		if row == "" {
			row = client.db.NewID()
		}
		return &engine.Change{ID: client.db.NewID(), Table: "todos", Row: row, Kind: kind, TS: client.db.Timestamp(), Values: values}
	}
	submit := func(c *engine.Change) error {
		t.Helper()
		res, err := f.db.Submit(ctx, as(alice), []*engine.Change{c})
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Err
	}
	titled := func(n int) map[string]any { return todo("alice", strings.Repeat("<", n)) }

	probe := change(engine.KindInsert, "", titled(0))
	if err := submit(probe); err != nil {
		t.Fatal(err)
	}
	st, _ := f.db.State("todos", probe.Row)
	st.Seq = math.MaxUint64
	b, _ := limits.Marshal(st)
	room := limits.MaxRowBytes - len(b) // title bytes that still fit

	atLimit := change(engine.KindInsert, "", titled(room))
	steps := []struct {
		name string
		c    *engine.Change
		over bool
	}{
		{"insert at the limit", atLimit, false},
		{"insert one byte over", change(engine.KindInsert, "", titled(room+1)), true},
		{"small update of a row at the limit", change(engine.KindUpdate, atLimit.Row, map[string]any{"meta": map[string]any{"k": "v"}}), true},
		{"update that shrinks the row", change(engine.KindUpdate, atLimit.Row, map[string]any{"title": "short"}), false},
		{"update that grows it back over", change(engine.KindUpdate, atLimit.Row, map[string]any{"meta": strings.Repeat("x", room)}), true},
		{"delete of a row at the limit", nil, false},
	}
	for _, s := range steps {
		if s.c == nil {
			// Back to the limit, then delete.
			if err := submit(change(engine.KindUpdate, atLimit.Row, map[string]any{"title": strings.Repeat("<", room)})); err != nil {
				t.Fatalf("back to the limit: %v", err)
			}
			s.c = change(engine.KindDelete, atLimit.Row, nil)
		}
		err := submit(s.c)
		var tooLarge *engine.RowTooLargeError
		switch {
		case s.over && !errors.As(err, &tooLarge):
			t.Errorf("%s: err = %v, want RowTooLargeError", s.name, err)
		case s.over && (tooLarge.Size <= limits.MaxRowBytes || tooLarge.Limit != limits.MaxRowBytes || tooLarge.Row != s.c.Row):
			t.Errorf("%s: %+v", s.name, tooLarge)
		case !s.over && err != nil:
			t.Errorf("%s: %v", s.name, err)
		}
	}
	if _, ok := f.db.State("todos", steps[1].c.Row); ok {
		t.Error("the refused insert left a row behind")
	}
}
