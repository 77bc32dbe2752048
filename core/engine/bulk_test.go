package engine_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
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

// TestSubscribe_WindowDeltasAreExact checks every windowed subscription's
// delta after each commit, for commits of 1 to 40 changes (both sides of
// the bulk threshold), against its window before and after: Added is what
// entered, in window order; Removed what left; Updated the changed rows that
// stayed. Only rows near an edge of the window are looked at to compute it,
// so windows at the start, the middle and the end of the order are checked.
func TestSubscribe_WindowDeltasAreExact(t *testing.T) {
	queries := []string{
		`{"table":"todos","orderBy":[{"col":"rank"}],"limit":1}`,
		`{"table":"todos","orderBy":[{"col":"rank"}],"limit":7,"offset":3}`,
		`{"table":"todos","orderBy":[{"col":"title"},{"col":"rank","desc":true}],"limit":20}`,
		`{"table":"todos","orderBy":[{"col":"rank","desc":true}],"offset":10}`,
		`{"table":"todos","where":{"eq":[{"col":"owner_id"},{"value":"o1"}]},"orderBy":[{"col":"title"}],"limit":5,"offset":1}`,
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
	ids := func(rows []engine.Row) []string {
		out := make([]string, len(rows))
		for i, r := range rows {
			out[i] = r.ID()
		}
		return out
	}
	type sub struct {
		s      *engine.Subscription
		window []string
		got    []engine.Update
	}
	subs := make([]*sub, len(queries))
	for i, js := range queries {
		sb := &sub{}
		first := true
		sb.s, err = db.Subscribe(engine.Actor{Backend: true}, q(t, js), func(u engine.Update) {
			if first {
				first = false
				return
			}
			sb.got = append(sb.got, u)
		})
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = sb
	}
	for start := 0; start < len(changes); {
		n := 1 + rng.IntN(40)
		batch := changes[start:min(len(changes), start+n)]
		start += n
		changed := map[string]bool{}
		for _, c := range batch {
			changed[c.Row] = true
		}
		for _, sb := range subs {
			sb.window, sb.got = ids(sb.s.Rows()), nil
		}
		if _, err := db.Apply(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for i, sb := range subs {
			after := ids(sb.s.Rows())
			in := func(w []string, id string) bool { return slices.Contains(w, id) }
			var added, removed, updated []string
			for _, id := range after {
				switch {
				case !in(sb.window, id):
					added = append(added, id)
				case changed[id]:
					updated = append(updated, id)
				}
			}
			for _, id := range sb.window {
				if !in(after, id) {
					removed = append(removed, id)
				}
			}
			var gotAdded, gotRemoved, gotUpdated []string
			for _, u := range sb.got {
				gotAdded = append(gotAdded, ids(u.Added)...)
				gotUpdated = append(gotUpdated, ids(u.Updated)...)
				gotRemoved = append(gotRemoved, u.Removed...)
			}
			slices.Sort(removed)
			slices.Sort(gotRemoved)
			if !slices.Equal(added, gotAdded) || !slices.Equal(removed, gotRemoved) || !slices.Equal(updated, gotUpdated) {
				t.Fatalf("query %s, commit of %d at %d:\n added   %v, want %v\n removed %v, want %v\n updated %v, want %v",
					queries[i], len(batch), start, gotAdded, added, gotRemoved, removed, gotUpdated, updated)
			}
		}
	}
}

// TestWatch_UnwindowedDeltasAreExact: a watch of an unwindowed query keeps
// no result and judges each commit from the changed rows' cells before and
// after it. After every commit of 1 to 40 changes, its delta must be what
// the query's results before and after the commit differ by: Added what
// entered, Removed what left, Updated the changed rows that stayed.
func TestWatch_UnwindowedDeltasAreExact(t *testing.T) {
	queries := []string{
		`{"table":"todos"}`,
		`{"table":"todos","where":{"eq":[{"col":"owner_id"},{"value":"o1"}]}}`,
		`{"table":"todos","where":{"eq":[{"col":"done"},{"value":true}]},"orderBy":[{"col":"title"}]}`,
	}
	s := seed(t)
	t.Logf("seed %d (replay with JAZZ_SEED)", s)
	rng := rand.New(rand.NewPCG(s, 13))
	changes := genChanges(rng, 1500)
	db, err := engine.Open(ctx, engine.Options{Bundle: mustBundle(t), Clock: clock.NewFake(t0), Node: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	backend := engine.Actor{Backend: true}
	result := func(js string) map[string]bool {
		rows, err := db.All(backend, q(t, js))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, r := range rows {
			out[r.ID()] = true
		}
		return out
	}
	got := make([]*engine.Update, len(queries))
	for i, js := range queries {
		sub, err := db.Watch(backend, q(t, js), func(u engine.Update) {
			got[i].Added = append(got[i].Added, u.Added...)
			got[i].Updated = append(got[i].Updated, u.Updated...)
			got[i].Removed = append(got[i].Removed, u.Removed...)
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Cancel()
	}
	sorted := func(rows []engine.Row, ids []string) []string {
		for _, r := range rows {
			ids = append(ids, r.ID())
		}
		slices.Sort(ids)
		return ids
	}
	for start := 0; start < len(changes); {
		n := 1 + rng.IntN(40)
		batch := changes[start:min(len(changes), start+n)]
		start += n
		changed := map[string]bool{}
		for _, c := range batch {
			changed[c.Row] = true
		}
		before := make([]map[string]bool, len(queries))
		for i, js := range queries {
			before[i], got[i] = result(js), &engine.Update{}
		}
		if _, err := db.Apply(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for i, js := range queries {
			after := result(js)
			var added, removed, updated []string
			for id := range after {
				switch {
				case !before[i][id]:
					added = append(added, id)
				case changed[id]:
					updated = append(updated, id)
				}
			}
			for id := range before[i] {
				if !after[id] {
					removed = append(removed, id)
				}
			}
			slices.Sort(added)
			slices.Sort(removed)
			slices.Sort(updated)
			u := got[i]
			if ga, gr, gu := sorted(u.Added, nil), sorted(nil, u.Removed), sorted(u.Updated, nil); !slices.Equal(ga, added) || !slices.Equal(gr, removed) || !slices.Equal(gu, updated) {
				t.Fatalf("query %s, commit of %d at %d:\n added   %v, want %v\n removed %v, want %v\n updated %v, want %v",
					js, len(batch), start, ga, added, gr, removed, gu, updated)
			}
		}
	}
}
