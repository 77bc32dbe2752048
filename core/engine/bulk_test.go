package engine_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
)

// TestSubscribe_BatchAndSingleChangesAgree applies the same history to two
// DBs, one change per commit and in large batches (the bulk path), and
// checks that every live query ends with the same rows, and that replaying
// each subscription's deltas reproduces its result.
func TestSubscribe_BatchAndSingleChangesAgree(t *testing.T) {
	queries := []string{
		`{"table":"todos"}`,
		`{"table":"todos","orderBy":[{"col":"title"},{"col":"rank","desc":true}]}`,
		`{"table":"todos","orderBy":[{"col":"rank"}],"limit":7,"offset":3}`,
		`{"table":"todos","where":{"eq":[{"col":"owner_id"},{"value":"o1"}]},"orderBy":[{"col":"title"}],"limit":5}`,
		`{"table":"todos","where":{"eq":[{"col":"done"},{"value":true}]}}`,
	}
	s := seed(t)
	t.Logf("seed %d (replay with JAZZ_SEED)", s)
	rng := rand.New(rand.NewPCG(s, 7))
	changes := genChanges(rng, 600)
	results := make([][]string, 2)
	for variant := 0; variant < 2; variant++ {
		db, err := engine.Open(ctx, engine.Options{Bundle: mustBundle(t), Clock: clock.NewFake(t0), Node: "x"})
		if err != nil {
			t.Fatal(err)
		}
		var subs []*engine.Subscription
		replayed := make([]map[string]bool, len(queries))
		for i, js := range queries {
			i := i
			replayed[i] = map[string]bool{}
			sub, err := db.Subscribe(engine.Actor{Backend: true}, q(t, js), func(u engine.Update) {
				for _, r := range u.Added {
					replayed[i][r.ID()] = true
				}
				for _, id := range u.Removed {
					delete(replayed[i], id)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, sub)
		}
		if variant == 0 {
			for _, c := range changes {
				if _, err := db.Apply(ctx, []*engine.Change{c}); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			for start := 0; start < len(changes); start += 150 {
				if _, err := db.Apply(ctx, changes[start:min(len(changes), start+150)]); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, sub := range subs {
			rows := sub.Rows()
			ids := make([]string, len(rows))
			for k, r := range rows {
				ids[k] = r.ID()
				if !replayed[i][r.ID()] {
					t.Fatalf("variant %d query %d: row %s in result but never added by a delta", variant, i, r.ID())
				}
			}
			if len(replayed[i]) != len(ids) {
				t.Fatalf("variant %d query %d: deltas leave %d rows, result has %d", variant, i, len(replayed[i]), len(ids))
			}
			b, _ := json.Marshal(ids)
			results[variant] = append(results[variant], fmt.Sprintf("%s", b))
		}
		db.Close()
	}
	for i := range queries {
		if results[0][i] != results[1][i] {
			t.Fatalf("query %s differs between single and batched application\n single %s\n batch  %s", queries[i], results[0][i], results[1][i])
		}
	}
}
