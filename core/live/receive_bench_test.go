package live_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/live"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
)

// BenchmarkReceiveRows is the client's cost per row it receives, below the
// page: decode a rows frame as the server sends it (500 rows), merge it
// into the local DB under a live subscription, and turn the update into
// the delta a page applies, encoded. It runs natively and, compiled to
// wasm, in Node (scripts/wasm/go_js_wasm_exec): the ratio is what
// WebAssembly costs the receiving path, and ns/row times 25k rows is the
// floor under "a new client has 25k rows" through the package.
func BenchmarkReceiveRows(b *testing.B) {
	const page = 500
	server := openDB(b)
	var frames [][]byte
	for p := 0; p < 10; p++ {
		var states []engine.RowState
		for i := 0; i < page; i++ {
			r, err := server.Insert(ctx, sys, "todos", map[string]any{"title": fmt.Sprint("todo ", p, " ", i), "done": i%2 == 0, "rank": int64(i)})
			if err != nil {
				b.Fatal(err)
			}
			st, _ := server.State("todos", r.ID())
			states = append(states, st)
		}
		f, err := protocol.Encode(protocol.TRows, &protocol.Rows{Sub: "s", Rows: states, Cursor: uint64(p + 1)})
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, f)
	}
	q, _ := query.Decode([]byte(`{"table":"todos","orderBy":[{"col":"rank"}]}`))
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		db := openDB(b)
		bytes := 0
		feed := live.New(live.Options{Clock: clock.NewFake(t0), Delay: time.Hour, Deliver: func(d live.Delta) {
			j, err := jsonOf(d)
			if err != nil {
				b.Fatal(err)
			}
			bytes += len(j)
		}})
		feed.Attach(1)
		sub, err := db.Subscribe(sys, q, func(u engine.Update) { feed.Push(1, u) })
		if err != nil {
			b.Fatal(err)
		}
		feed.Flush()
		b.StartTimer()
		for _, f := range frames {
			fr, err := protocol.Decode(f)
			if err != nil {
				b.Fatal(err)
			}
			if err := db.Merge(ctx, fr.Body.(*protocol.Rows).Rows, nil); err != nil {
				b.Fatal(err)
			}
			feed.Flush()
		}
		b.StopTimer()
		sub.Cancel()
		if bytes == 0 {
			b.Fatal("no delta delivered")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*page*len(frames)), "ns/row")
}
