package live_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/live"
	"github.com/jazzgo/jazz-tools/core/query"
)

var (
	ctx = context.Background()
	t0  = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	sys = engine.Actor{Backend: true}
)

const schema = `{"version": 1, "schema": {"tables": [{"name": "todos", "columns": [
  {"name": "title", "type": "string"},
  {"name": "done", "type": "boolean"},
  {"name": "rank", "type": "int"}]}]}}`

func openDB(t testing.TB) *engine.DB {
	t.Helper()
	b, err := bundle.Decode([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(ctx, engine.Options{Bundle: b, Clock: clock.NewFake(t0), Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func seed(t *testing.T) uint64 {
	if s := os.Getenv("JAZZ_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// consumer keeps a result as a page does: it applies each Delta to the rows
// it holds (the same rule bindings/js applies).
type consumer struct {
	rows   []engine.Row
	deltas []live.Delta
	got    chan struct{}
}

func (c *consumer) apply(d live.Delta) {
	checkJSON(d)
	if d.Reset {
		c.rows = make([]engine.Row, len(d.Order))
		for i, j := range d.Order {
			c.rows[i] = d.Rows[j]
		}
	}
	for _, s := range d.Steps {
		for _, at := range s.Del {
			c.rows = append(c.rows[:at], c.rows[at+1:]...)
		}
		for _, p := range s.Ins {
			c.rows = append(c.rows, nil)
			copy(c.rows[p[0]+1:], c.rows[p[0]:])
			c.rows[p[0]] = d.Rows[p[1]]
		}
		for _, p := range s.Set {
			c.rows[p[0]] = d.Rows[p[1]]
		}
	}
	c.deltas = append(c.deltas, d)
	c.got <- struct{}{}
}

func idsOf(rows []engine.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID()
	}
	return out
}

// TestFeed_CoalescedDeltasRebuildTheResult runs random writes (inserts,
// updates that move rows, deletes, bursts of many) against live queries and
// lets the fake clock deliver at random moments. Nothing is delivered
// between two ticks; each tick delivers at most one delta; the rows a
// consumer rebuilds from the deltas always equal the query run from
// scratch, and each delta's added/updated/removed is exactly the
// difference it made.
func TestFeed_CoalescedDeltasRebuildTheResult(t *testing.T) {
	queries := []string{
		`{"table":"todos"}`,
		`{"table":"todos","orderBy":[{"col":"rank"}]}`,
		`{"table":"todos","orderBy":[{"col":"title","desc":true},{"col":"rank"}],"limit":9,"offset":2}`,
		`{"table":"todos","where":{"eq":[{"col":"done"},{"value":true}]},"orderBy":[{"col":"rank","desc":true}],"limit":6}`,
	}
	s := seed(t)
	t.Logf("seed %d (replay with JAZZ_SEED)", s)
	rng := rand.New(rand.NewPCG(s, 3))
	db := openDB(t)
	fake := clock.NewFake(t0)
	const tick = time.Millisecond
	type live1 struct {
		q    *query.Query
		feed *live.Feed
		c    *consumer
		sub  *engine.Subscription
	}
	var ls []*live1
	for _, js := range queries {
		qq, err := query.Decode([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		l := &live1{q: qq, c: &consumer{got: make(chan struct{}, 1000)}}
		l.feed = live.New(live.Options{Clock: fake, Delay: tick, Deliver: l.c.apply})
		l.feed.Attach(1)
		l.sub, err = db.Subscribe(sys, qq, func(u engine.Update) { l.feed.Push(1, u) })
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	var ids []string
	before := make([][]engine.Row, len(ls))
	titles := []string{"a", "b", "c", "d"}
	write := func() {
		switch k := rng.IntN(10); {
		case len(ids) == 0 || k < 4:
			r, err := db.Insert(ctx, sys, "todos", map[string]any{"title": titles[rng.IntN(4)], "done": rng.IntN(2) == 0, "rank": int64(rng.IntN(50))})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID())
		case k < 8:
			patch := map[string]any{"rank": int64(rng.IntN(50))}
			if rng.IntN(2) == 0 {
				patch["done"] = rng.IntN(2) == 0
			}
			if _, err := db.Update(ctx, sys, "todos", ids[rng.IntN(len(ids))], patch); err != nil {
				t.Fatal(err)
			}
		default:
			i := rng.IntN(len(ids))
			if err := db.Delete(ctx, sys, "todos", ids[i]); err != nil {
				t.Fatal(err)
			}
			ids = append(ids[:i], ids[i+1:]...)
		}
	}
	deliveries := 0
	for round := 0; round < 200; round++ {
		n := rng.IntN(4)
		if rng.IntN(8) == 0 {
			n = 20 + rng.IntN(60)
		}
		for i := 0; i < n; i++ {
			write()
		}
		for _, l := range ls {
			select {
			case <-l.c.got:
				t.Fatalf("round %d: a delta was delivered before the clock ticked", round)
			default:
			}
		}
		fake.Advance(tick)
		for i, l := range ls {
			want, err := db.All(sys, l.q)
			if err != nil {
				t.Fatal(err)
			}
			changed := !reflect.DeepEqual(idsOf(want), idsOf(before[i])) || !reflect.DeepEqual(want, before[i])
			// Flush returns once the tick's delivery, if any, is done
			// (deliveries are serialized), whoever made it.
			l.feed.Flush()
			got := len(l.c.got)
			for range got {
				<-l.c.got
			}
			deliveries += got
			if got > 1 {
				t.Fatalf("round %d query %d: %d deltas for one tick", round, i, got)
			}
			if got == 0 && (changed || round == 0) {
				t.Fatalf("round %d query %d: no delta after the tick", round, i)
			}
			if !reflect.DeepEqual(idsOf(l.c.rows), idsOf(want)) {
				t.Fatalf("round %d query %d: rebuilt\n%v\nquery\n%v", round, i, idsOf(l.c.rows), idsOf(want))
			}
			if len(want) > 0 && !reflect.DeepEqual(l.c.rows, want) {
				t.Fatalf("round %d query %d: rows differ in content", round, i)
			}
			if changed && round > 0 {
				checkSummary(t, l.c.deltas[len(l.c.deltas)-1], before[i], want)
			}
			before[i] = want
		}
	}
	t.Logf("%d deltas", deliveries)
}

// checkSummary checks that d's added/updated/removed is exactly what
// differs between was and is.
func checkSummary(t *testing.T, d live.Delta, was, is []engine.Row) {
	t.Helper()
	old := map[string]engine.Row{}
	for _, r := range was {
		old[r.ID()] = r
	}
	now := map[string]engine.Row{}
	for _, r := range is {
		now[r.ID()] = r
	}
	var added, updated, removed []string
	for _, r := range is {
		if o, ok := old[r.ID()]; !ok {
			added = append(added, r.ID())
		} else if !reflect.DeepEqual(o, r) {
			updated = append(updated, r.ID())
		}
	}
	for _, r := range was {
		if _, ok := now[r.ID()]; !ok {
			removed = append(removed, r.ID())
		}
	}
	set := func(xs []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	refs := func(is []int) map[string]bool {
		m := map[string]bool{}
		for _, i := range is {
			m[d.Rows[i].ID()] = true
		}
		return m
	}
	if !reflect.DeepEqual(refs(d.Added), set(added)) || !reflect.DeepEqual(set(d.Removed), set(removed)) {
		t.Fatalf("summary: added %v removed %v; want added %v removed %v", refs(d.Added), d.Removed, added, removed)
	}
	// A row updated back to what it was is still reported; one that
	// changed must be.
	for _, id := range updated {
		if !refs(d.Updated)[id] {
			t.Fatalf("summary: %s changed but is not in updated", id)
		}
	}
	for id := range refs(d.Updated) {
		if _, ok := old[id]; !ok {
			t.Fatalf("summary: %s is in updated but was not in the result", id)
		}
		if _, ok := now[id]; !ok {
			t.Fatalf("summary: %s is in updated but is not in the result", id)
		}
	}
}

// TestFeed_ReattachAndCacheAreRelativeToWhatTheConsumerHolds covers the two
// ways a consumer's result does not come from this feed's previous deltas:
// a result shown from the saved cache, and a move to a new engine
// subscription (a reopened Db). The first computed result is sent only if
// it differs, as a Reset whose summary is relative to what was shown.
func TestFeed_ReattachAndCacheAreRelativeToWhatTheConsumerHolds(t *testing.T) {
	db := openDB(t)
	qq, _ := query.Decode([]byte(`{"table":"todos","orderBy":[{"col":"rank"}]}`))
	a, _ := db.Insert(ctx, sys, "todos", map[string]any{"title": "a", "done": false, "rank": int64(1)})
	b, _ := db.Insert(ctx, sys, "todos", map[string]any{"title": "b", "done": false, "rank": int64(2)})
	rows, _ := db.All(sys, qq)
	saved, err := live.RowsJSON(rows)
	if err != nil {
		t.Fatal(err)
	}
	fake := clock.NewFake(t0)
	c := &consumer{got: make(chan struct{}, 10)}
	f := live.New(live.Options{Clock: fake, Deliver: c.apply})
	subscribe := func(gen int) *engine.Subscription {
		f.Attach(gen)
		s, err := db.Subscribe(sys, qq, func(u engine.Update) { f.Push(gen, u) })
		if err != nil {
			t.Fatal(err)
		}
		f.Flush()
		return s
	}

	// The cached result is the computed one: nothing is sent.
	var shown live.Delta
	if err := json.Unmarshal(f.Cached(saved), &shown); err != nil {
		t.Fatal(err)
	}
	c.rows = nil
	c.apply(shown)
	if !reflect.DeepEqual(idsOf(c.rows), idsOf(rows)) || len(shown.Added) != 2 || !shown.Reset {
		t.Fatalf("the delta showing the cached rows = %+v", shown)
	}
	c.deltas = nil
	<-c.got
	s1 := subscribe(1)
	if len(c.deltas) != 0 {
		t.Fatalf("the computed result equals the cached one, yet %d deltas were sent", len(c.deltas))
	}

	// Writes while no engine subscription feeds it, then a new one (gen 2):
	// a late update of gen 1 is dropped, and the reset says what changed
	// relative to the rows the consumer holds.
	s1.Cancel()
	if _, err := db.Update(ctx, sys, "todos", a.ID(), map[string]any{"title": "a2"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, sys, "todos", b.ID()); err != nil {
		t.Fatal(err)
	}
	n, _ := db.Insert(ctx, sys, "todos", map[string]any{"title": "n", "done": false, "rank": int64(0)})
	f.Push(1, engine.Update{Removed: []string{a.ID()}})
	subscribe(2)
	if len(c.deltas) != 1 {
		t.Fatalf("%d deltas after the move, want 1", len(c.deltas))
	}
	d := c.deltas[0]
	if !d.Reset || len(d.Added) != 1 || d.Rows[d.Added[0]].ID() != n.ID() ||
		len(d.Updated) != 1 || d.Rows[d.Updated[0]].ID() != a.ID() ||
		!reflect.DeepEqual(d.Removed, []string{b.ID()}) {
		t.Fatalf("delta after the move = %+v", d)
	}
	f.Push(1, engine.Update{Removed: []string{n.ID()}, Steps: []engine.Step{{Del: []int{0}}}})
	f.Flush()
	want, _ := db.All(sys, qq)
	if !reflect.DeepEqual(c.rows, want) {
		t.Fatalf("rebuilt %v, want %v", idsOf(c.rows), idsOf(want))
	}

	// A cached result that is not the computed one is replaced.
	c2 := &consumer{got: make(chan struct{}, 10)}
	f2 := live.New(live.Options{Clock: fake, Deliver: c2.apply})
	f2.Cached(saved) // rows a, b as they were
	c2.rows = rows
	f2.Attach(1)
	s3, _ := db.Subscribe(sys, qq, func(u engine.Update) { f2.Push(1, u) })
	defer s3.Cancel()
	f2.Flush()
	if len(c2.deltas) != 1 || !c2.deltas[0].Reset || !reflect.DeepEqual(c2.rows, want) {
		t.Fatalf("a stale cached result was not replaced: %+v", c2.deltas)
	}
	if d := c2.deltas[0]; !reflect.DeepEqual(d.Removed, []string{b.ID()}) || len(d.Added) != 1 {
		t.Fatalf("summary relative to the cached rows = %+v", d)
	}
}

func jsonOf(d live.Delta) ([]byte, error) { return d.AppendJSON(nil) }

// checkJSON panics unless d.AppendJSON says what json.Marshal says (as
// values: the page parses it).
func checkJSON(d live.Delta) {
	fast, err := d.AppendJSON(nil)
	if err != nil {
		panic(err)
	}
	slow, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	var a, b any
	if err := json.Unmarshal(fast, &a); err != nil {
		panic(fmt.Sprintf("AppendJSON wrote invalid JSON %s: %v", fast, err))
	}
	if err := json.Unmarshal(slow, &b); err != nil {
		panic(err)
	}
	if !reflect.DeepEqual(a, b) {
		panic(fmt.Sprintf("AppendJSON\n%s\njson.Marshal\n%s", fast, slow))
	}
}
