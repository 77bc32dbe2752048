package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/query"
)

// fullSortWindow is the reference: every row keyed, sorted with the
// general comparison rule (compareGeneral, without compareValues' fast
// paths), then windowed.
func fullSortWindow(rows []*row, order []query.Order, offset, limit int) []*row {
	rows = slices.Clone(rows)
	sort.Slice(rows, func(i, j int) bool {
		a, b := keyOf(rows[i], order), keyOf(rows[j], order)
		for k := range a {
			c := compareGeneral(a[k], b[k])
			if k < len(order) && order[k].Desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
	return window(rows, offset, limit)
}

// randomRows makes rows whose columns take few distinct values (many ties),
// including nulls, absent cells and columns mixing kinds.
func randomRows(rng *rand.Rand, n int) []*row {
	rows := make([]*row, n)
	for i := range rows {
		cells := map[string]cell{}
		set := func(col string, v any) { cells[col] = cell{V: v} }
		set("rank", int64(rng.IntN(5)))
		set("title", []string{"a", "b", "c", "ä"}[rng.IntN(4)])
		set("done", rng.IntN(2) == 0)
		set("score", float64(rng.IntN(4))/2)
		switch rng.IntN(5) {
		case 0:
			set("mixed", nil)
		case 1:
			set("mixed", int64(rng.IntN(3)))
		case 2:
			set("mixed", 1.5)
		case 3:
			set("mixed", "x")
		} // 4: absent
		r := &row{id: fmt.Sprintf("%08x", rng.Uint32()) + fmt.Sprint(i), base: cells}
		r.view = r.base
		rows[i] = r
	}
	return rows
}

func TestOrderedWindow_TopKMatchesAFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cols := []string{"rank", "title", "done", "score", "mixed", "missing"}
	for trial := 0; trial < 400; trial++ {
		n := rng.IntN(120)
		rows := randomRows(rng, n)
		var order []query.Order
		for i, m := 0, rng.IntN(4); i < m; i++ {
			order = append(order, query.Order{Col: cols[rng.IntN(len(cols))], Desc: rng.IntN(2) == 0})
		}
		offset, limit := rng.IntN(n+3), rng.IntN(n+3)
		if rng.IntN(4) == 0 {
			offset = 0
		}
		want := fullSortWindow(rows, order, offset, limit)
		got := orderedWindow(slices.Clone(rows), order, offset, limit)
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("trial %d: n=%d order=%+v offset=%d limit=%d:\n got %v\nwant %v", trial, n, order, offset, limit, ids(got), ids(want))
		}
	}
}

func TestCompareValues_FastPathsAgreeWithTheGeneralRule(t *testing.T) {
	// The rule's own fixed points: nulls sort first, and equal values tie.
	if compareGeneral(nil, nil) != 0 || compareGeneral(nil, int64(0)) != -1 || compareGeneral("a", nil) != 1 || compareGeneral(int64(1), 1.0) != 0 {
		t.Fatal("compareGeneral: nulls first, equal numbers tie")
	}
	vals := []any{nil, int64(-1), int64(0), int64(2), 0.0, -0.5, 2.0, "", "a", "b", false, true, []any{1}, int(2)}
	for _, x := range vals {
		for _, y := range vals {
			want := compareGeneral(x, y)
			if got := compareValues(x, y); got != want {
				t.Errorf("compareValues(%#v, %#v) = %d, want %d", x, y, got, want)
			}
		}
	}
}

func ids(rows []*row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.id
	}
	return out
}

// The equality indexes find a row by any value equal to its own (expr.Equal):
// numbers of every Go type, and -0 and 0, share a key; distinct values do not.
func TestIndexKey_EqualValuesShareAKey(t *testing.T) {
	key := func(v any) string {
		k, ok := indexKey(v)
		if !ok {
			t.Fatalf("no key for %#v", v)
		}
		return k
	}
	groups := [][]any{
		{int64(5), 5, 5.0, json.Number("5"), json.Number("5.0"), json.Number("5e0")},
		{0.0, math.Copysign(0, -1), int64(0)},
		{int64(1) << 60, float64(int64(1) << 60)},
		{1.5, json.Number("1.5")},
		{1e300, json.Number("1e300")},
		{int64(-7), -7.0},
		{"5"}, {true}, {false}, {nil}, {math.Inf(1)},
	}
	seen := map[string]int{}
	for gi, g := range groups {
		for _, v := range g {
			if !expr.Equal(v, g[0]) {
				t.Fatalf("bad fixture: %#v != %#v", v, g[0])
			}
			k := key(v)
			if prev, ok := seen[k]; ok && prev != gi {
				t.Errorf("%#v shares key %q with group %d", v, k, prev)
			}
			seen[k] = gi
			if k != key(g[0]) {
				t.Errorf("%#v: key %q, but %#v has %q", v, k, g[0], key(g[0]))
			}
		}
	}
	if _, ok := indexKey([]any{1}); ok {
		t.Error("an array has an index key")
	}
}
