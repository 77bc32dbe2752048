package engine_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
)

// applySteps is what a consumer keeping a result does with an update's
// Steps (see engine.Step).
func applySteps(rows []engine.Row, steps []engine.Step) []engine.Row {
	for _, s := range steps {
		for _, at := range s.Del {
			rows = append(rows[:at], rows[at+1:]...)
		}
		for _, p := range s.Ins {
			rows = append(rows, nil)
			copy(rows[p.At+1:], rows[p.At:])
			rows[p.At] = p.Row
		}
		for _, p := range s.Set {
			rows[p.At] = p.Row
		}
	}
	return rows
}

// TestSubscribe_StepsRebuildTheResult applies a random history in commits of
// random size (single rows and the bulk path) and checks, after every
// commit, that each subscription's result rebuilt from its updates' Steps
// alone equals its result, row for row, and that unchanged rows were never
// sent again.
func TestSubscribe_StepsRebuildTheResult(t *testing.T) {
	queries := []string{
		`{"table":"todos"}`,
		`{"table":"todos","orderBy":[{"col":"title"},{"col":"rank","desc":true}]}`,
		`{"table":"todos","orderBy":[{"col":"rank"}],"limit":7,"offset":3}`,
		`{"table":"todos","orderBy":[{"col":"rank","desc":true}],"limit":20}`,
		`{"table":"todos","where":{"eq":[{"col":"owner_id"},{"value":"o1"}]},"orderBy":[{"col":"title"}],"limit":5}`,
		`{"table":"todos","where":{"eq":[{"col":"done"},{"value":true}]},"orderBy":[{"col":"rank"}]}`,
		`{"table":"todos","offset":4}`,
	}
	s := seed(t)
	t.Logf("seed %d (replay with JAZZ_SEED)", s)
	rng := rand.New(rand.NewPCG(s, 11))
	changes := genChanges(rng, 1500)
	db, err := engine.Open(ctx, engine.Options{Bundle: mustBundle(t), Clock: clock.NewFake(t0), Node: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type kept struct {
		sub  *engine.Subscription
		rows []engine.Row
		sets int
		last engine.Update
	}
	subs := make([]*kept, len(queries))
	for i, js := range queries {
		k := &kept{}
		subs[i] = k
		k.sub, err = db.Subscribe(engine.Actor{Backend: true}, q(t, js), func(u engine.Update) {
			k.last = u
			if u.First {
				k.rows = append([]engine.Row(nil), u.Added...)
				return
			}
			if len(u.Steps) == 0 {
				t.Errorf("query %d: an update without steps: %+v", i, u)
			}
			for _, st := range u.Steps {
				if len(st.Set) > 0 {
					k.sets++
				}
			}
			k.rows = applySteps(k.rows, u.Steps)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for start := 0; start < len(changes); {
		n := 1 + rng.IntN(3)
		if rng.IntN(6) == 0 {
			n = 30 + rng.IntN(80) // over bulkThreshold
		}
		end := min(len(changes), start+n)
		if _, err := db.Apply(ctx, changes[start:end]); err != nil {
			t.Fatal(err)
		}
		start = end
		for i, k := range subs {
			want := k.sub.Rows()
			if !reflect.DeepEqual(ids(k.rows), ids(want)) {
				t.Fatalf("query %d after change %d: steps give\n%v\nresult is\n%v", i, end, ids(k.rows), ids(want))
			}
			if n := k.last.Len(); n != len(want) {
				t.Fatalf("query %d after change %d: Len() = %d, the result has %d rows", i, end, n, len(want))
			}
			if len(want) > 0 && !reflect.DeepEqual(k.rows, want) {
				t.Fatalf("query %d after change %d: rows differ in content", i, end)
			}
		}
	}
	if subs[0].sets == 0 {
		t.Error("no update was an in-place step (Set): the history should have some")
	}
}

func ids(rows []engine.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprint(r.ID())
	}
	return out
}
