package engine_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/id"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// seed returns JAZZ_SEED when set (to replay a failure), else a fresh one.
func seed(t *testing.T) uint64 {
	if s := os.Getenv("JAZZ_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("JAZZ_SEED: %v", err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// genChanges makes a random history written by several nodes: inserts,
// partial updates (including concurrent ones to the same cell) and deletes.
func genChanges(rng *rand.Rand, n int) []*engine.Change {
	fake := clock.NewFake(t0)
	nodes := []*hlc.Clock{hlc.New(fake, "a"), hlc.New(fake, "b"), hlc.New(fake, "c")}
	ids := id.NewGenerator(fake, rand.NewChaCha8([32]byte{byte(rng.Uint64())}))
	var rows []string
	var out []*engine.Change
	titles := []string{"milk", "eggs", "tea", "jam"}
	for len(out) < n {
		if rng.IntN(3) == 0 {
			fake.Advance(time.Duration(rng.IntN(3)) * time.Millisecond)
		}
		node := nodes[rng.IntN(len(nodes))]
		c := &engine.Change{ID: ids.New(), Table: "todos", TS: node.Now(), By: node.Now().Node}
		switch k := rng.IntN(10); {
		case len(rows) == 0 || k < 3:
			c.Kind = engine.KindInsert
			c.Row = ids.New()
			rows = append(rows, c.Row)
			c.Values = map[string]any{"title": titles[rng.IntN(4)], "done": false, "owner_id": "o" + strconv.Itoa(rng.IntN(3)), "rank": nil, "list": nil, "meta": nil}
		case k < 9:
			c.Kind = engine.KindUpdate
			c.Row = rows[rng.IntN(len(rows))]
			c.Values = map[string]any{}
			if rng.IntN(2) == 0 {
				c.Values["title"] = titles[rng.IntN(4)]
			}
			if rng.IntN(2) == 0 {
				c.Values["done"] = rng.IntN(2) == 0
			}
			c.Values["rank"] = int64(rng.IntN(100))
		default:
			c.Kind = engine.KindDelete
			c.Row = rows[rng.IntN(len(rows))]
		}
		out = append(out, c)
	}
	return out
}

// snapshot is everything observable about a replica's rows, deleted ones
// (their tombstones) included.
func snapshot(t *testing.T, db *engine.DB, changes []*engine.Change) string {
	t.Helper()
	seen := map[string]bool{}
	var states []engine.RowState
	for _, c := range changes {
		if seen[c.Row] {
			continue
		}
		seen[c.Row] = true
		st, _ := db.State("todos", c.Row)
		st.Seq = 0
		states = append(states, st)
	}
	rows, err := db.All(engine.Actor{Backend: true}, q(t, `{"table":"todos","orderBy":[{"col":"id"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"states": states, "rows": rows})
	return string(b)
}

func TestConverge_AnyOrderWithDuplicatesGivesIdenticalRows(t *testing.T) {
	for round := 0; round < 12; round++ {
		s := seed(t) + uint64(round)
		t.Run(fmt.Sprint("seed=", s), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(s, 0))
			changes := genChanges(rng, 200)
			var want string
			// Replicas differ in delivery order, batching, duplication
			// and whether they restart from their store midway: the
			// metamorphic variants must all agree.
			for r := 0; r < 4; r++ {
				store := keepOpen{storage.NewMemory()}
				db, err := engine.Open(ctx, engine.Options{Bundle: mustBundle(t), Store: store, Clock: clock.NewFake(t0), Node: "r" + strconv.Itoa(r)})
				if err != nil {
					t.Fatal(err)
				}
				deliver := append([]*engine.Change(nil), changes...)
				for i := 0; i < 40; i++ {
					deliver = append(deliver, changes[rng.IntN(len(changes))])
				}
				rng.Shuffle(len(deliver), func(i, j int) { deliver[i], deliver[j] = deliver[j], deliver[i] })
				for len(deliver) > 0 {
					n := 1 + rng.IntN(min(len(deliver), 1+r*20))
					if _, err := db.Apply(ctx, deliver[:n]); err != nil {
						t.Fatal(err)
					}
					deliver = deliver[n:]
					if r == 3 && rng.IntN(20) == 0 {
						db.Close()
						if db, err = engine.Open(ctx, engine.Options{Bundle: mustBundle(t), Store: store, Clock: clock.NewFake(t0)}); err != nil {
							t.Fatal(err)
						}
					}
				}
				got := snapshot(t, db, changes)
				db.Close()
				if r == 0 {
					want = got
				} else if got != want {
					t.Fatalf("replica %d diverged (replay with JAZZ_SEED=%d)\n got %s\nwant %s", r, s, got, want)
				}
			}
		})
	}
}

// keepOpen lets an engine be closed and reopened over the same data, like a
// process restart over the same file.
type keepOpen struct{ storage.Store }

func (keepOpen) Close() error { return nil }
