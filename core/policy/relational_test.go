package policy_test

import (
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/session"
)

// mapWorld is a World over rows kept in maps, by table and id.
type mapWorld map[string]map[string]expr.MapRow

func (w mapWorld) Row(table, id string) expr.Row {
	if r, ok := w[table][id]; ok {
		return r
	}
	return nil
}

func (w mapWorld) Each(table, col string, v any, fn func(expr.Row) bool) {
	for _, r := range w[table] {
		if got, ok := r.Get(col); (col == "" || ok && expr.Equal(got, v)) && !fn(r) {
			return
		}
	}
}

// TestChecker_RemembersVerdictsOnlyWithinTheirDepth judges a chain of
// projects P <- C <- D <- E (parent links, maxDepth 2) with one checker in
// every order: D inherits from P two links up, E three, so E is denied
// even after D was found readable (a verdict reached with more depth left
// must not be reused where less is left).
func TestChecker_RemembersVerdictsOnlyWithinTheirDepth(t *testing.T) {
	b, err := bundle.Decode([]byte(`{"version": 1,
	  "schema": {"tables": [{"name": "projects", "columns": [
	    {"name": "owner_id", "type": "string"},
	    {"name": "parentId", "type": "ref", "ref": "projects", "optional": true}]}]},
	  "policies": {"projects": {"read": {"or": [
	    {"eq": [{"col": "owner_id"}, {"session": "user_id"}]},
	    {"allowedTo": {"op": "read", "via": "parentId", "maxDepth": 2}}]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	row := func(id, owner, parent string) expr.MapRow {
		r := expr.MapRow{"id": id, "owner_id": owner}
		if parent != "" {
			r["parentId"] = parent
		}
		return r
	}
	w := mapWorld{"projects": {"P": row("P", "me", ""), "C": row("C", "zed", "P"), "D": row("D", "zed", "C"), "E": row("E", "zed", "D")}}
	want := map[string]bool{"P": true, "C": true, "D": true, "E": false}
	me := &session.Session{UserID: "me", AuthMode: session.External}
	for _, order := range [][]string{{"P", "C", "D", "E"}, {"E", "D", "C", "P"}, {"D", "E"}, {"C", "E"}, {"E", "C"}} {
		chk := b.Policies.Checker(me, w)
		for _, id := range order {
			if got := chk.CanRead("projects", w["projects"][id]); got != want[id] {
				t.Errorf("order %v: CanRead(%s) = %v, want %v", order, id, got, want[id])
			}
		}
	}
}
