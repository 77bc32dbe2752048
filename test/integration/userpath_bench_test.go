package integration

import (
	"context"
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
)

// The user-path scenarios of test/browser/bench/scenarios.mjs, natively:
// the Go client (core/client) against the durable server (bbolt, fsync per
// acked batch) over loopback WebSocket, the same app, queries and writes.
// tools/benchreport puts these figures beside the npm package's in Node and
// in Chromium, so the difference is what the wasm bridge and the JS around
// it cost. The server runs in this process (httptest), as in every
// benchmark here; the package's benchmarks start the jazz-tools binary.
//
//   BenchmarkNativeFloor                   All() of a query no row matches, on
//       a Db without a server: the client's own floor. p50-ms, p99-ms.
//   BenchmarkNativeEcho                    a raw WebSocket, signed in: ping
//       to pong. p50-ms, p99-ms.
//   BenchmarkNativeWriteSeenByOtherClient  insert on A until B's
//       subscription shows the row. p50-ms, p99-ms.
//   BenchmarkNativeFanout/subscribers=50   one write on A until the last of
//       50 subscribed clients shows it. p50-ms, p99-ms.
//   BenchmarkNativeIngest/rows=N           A inserts N rows until B's
//       subscription shows them all. ns/op is the time.
//   BenchmarkNativeNewClient/rows=N        a new client (already open)
//       subscribes to N rows on the server until its callback has them all.
//   BenchmarkNativeInsertToCallback/rows=N A inserts into its own
//       subscription of N rows until the callback shows it. p50-ms, p99-ms.

// pathBundle is the todos app of test/browser/page/schema.js as the
// package's compileBundle emits it.
const pathBundle = `{"version":1,"schema":{"tables":[{"name":"todos","columns":[
 {"name":"title","type":"string"},{"name":"done","type":"boolean"},{"name":"owner_id","type":"string"},
 {"name":"tag","type":"string","optional":true},{"name":"rank","type":"int","optional":true}]}]},
 "policies":{"todos":{"read":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
 "insert":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},"updateOld":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
 "updateNew":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},"delete":{"eq":[{"col":"owner_id"},{"session":"user_id"}]}}}}`

var pathSizes = []int{5_000, 25_000}

// pathWait bounds every wait: a benchmark that stalls fails rather than hangs.
const pathWait = 120 * time.Second

// pathBatch is the rows per batch of an ingest, as the package's scenario
// writes them (test/browser/bench/clientside.js).
const pathBatch = 500

func pathRow(e *benchEnv, tag string, rank int) map[string]any {
	return map[string]any{"title": fmt.Sprint(tag, " ", rank), "done": false, "owner_id": e.userID, "tag": tag, "rank": int64(rank)}
}

func pathInsert(b *testing.B, e *benchEnv, db *client.Db, tag string, rank int) {
	b.Helper()
	if _, err := db.Insert(context.Background(), "todos", pathRow(e, tag, rank)); err != nil {
		b.Fatal(err)
	}
}

// pathWatch is a subscription to the rows with one tag that notes when each
// rank first showed and when the result first held target rows; its
// callback does O(changes) work, as the JS one does.
type pathWatch struct {
	mu        gosync.Mutex
	count     int
	target    int
	reachedAt time.Time
	seen      map[int64]time.Time
	changed   chan struct{}
	stop      func()
}

func watchTag(b *testing.B, db *client.Db, tag string, target int) *pathWatch {
	b.Helper()
	w := &pathWatch{target: target, seen: map[int64]time.Time{}, changed: make(chan struct{})}
	q, err := query.Decode([]byte(fmt.Sprintf(`{"table":"todos","where":{"eq":[{"col":"tag"},{"value":%q}]}}`, tag)))
	if err != nil {
		b.Fatal(err)
	}
	stop, err := db.Subscribe(q, func(u engine.Update) {
		now := time.Now()
		w.mu.Lock()
		defer w.mu.Unlock()
		w.count += len(u.Added) - len(u.Removed)
		for _, r := range u.Added {
			if rank, ok := r["rank"].(int64); ok {
				if _, dup := w.seen[rank]; !dup {
					w.seen[rank] = now
				}
			}
		}
		if w.target > 0 && w.count >= w.target && w.reachedAt.IsZero() {
			w.reachedAt = now
		}
		close(w.changed)
		w.changed = make(chan struct{})
	})
	if err != nil {
		b.Fatal(err)
	}
	w.stop = stop
	b.Cleanup(stop)
	return w
}

// until waits for cond (run under the lock) to return a time.
func (w *pathWatch) until(b *testing.B, what string, cond func() (time.Time, bool)) time.Time {
	b.Helper()
	deadline := time.After(pathWait)
	for {
		w.mu.Lock()
		t, ok := cond()
		ch := w.changed
		w.mu.Unlock()
		if ok {
			return t
		}
		select {
		case <-ch:
		case <-deadline:
			b.Fatalf("timed out after %s waiting for %s", pathWait, what)
		}
	}
}

func (w *pathWatch) seenAt(b *testing.B, rank int) time.Time {
	return w.until(b, fmt.Sprint("rank ", rank), func() (time.Time, bool) { t, ok := w.seen[int64(rank)]; return t, ok })
}

func (w *pathWatch) reached(b *testing.B) time.Time {
	return w.until(b, fmt.Sprint(w.target, " rows"), func() (time.Time, bool) { return w.reachedAt, !w.reachedAt.IsZero() })
}

func reportLatencies(b *testing.B, lat []time.Duration) {
	b.StopTimer()
	b.ReportMetric(percentile(lat, 0.5), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}

// allConnected waits until every db is connected to the server.
func allConnected(b *testing.B, dbs ...*client.Db) {
	b.Helper()
	waitFor(b, "connected", func() bool {
		for _, db := range dbs {
			if db.Status().String() != "connected" {
				return false
			}
		}
		return true
	})
}

// acked waits until the server has confirmed every write of db.
func acked(b *testing.B, db *client.Db) {
	b.Helper()
	deadline := time.Now().Add(pathWait)
	for len(db.Pending()) > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %s waiting for %d writes to be acked", pathWait, len(db.Pending()))
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkNativeFloor(b *testing.B) {
	e := newBenchEnvWith(b, pathBundle)
	db, err := client.Open(context.Background(), client.Options{Config: client.Config{AppID: appID, Secret: e.secret}, Bundle: e.bundle, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	q, err := query.Decode([]byte(`{"table":"todos","where":{"eq":[{"col":"tag"},{"value":"floor-none"}]}}`))
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := db.All(q); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatencies(b, lat)
}

func BenchmarkNativeEcho(b *testing.B) {
	e := newBenchEnvWith(b, pathBundle)
	// Signed in: an anonymous connection may send only 100 frames a second
	// (server/budget.go), which would be the figure instead.
	me, err := identity.FromSecret(e.secret)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := me.MintToken(appID, time.Now(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	p := dialPeer(b, e.url, protocol.Auth{Bearer: tok})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p.send(b, protocol.TPing, protocol.Ping{N: uint64(i)})
		p.until(b, protocol.TPong)
		lat = append(lat, time.Since(start))
	}
	reportLatencies(b, lat)
}

func BenchmarkNativeWriteSeenByOtherClient(b *testing.B) {
	e := newBenchEnvWith(b, pathBundle)
	a, c := e.open(b), e.open(b)
	allConnected(b, a, c)
	w := watchTag(b, c, "seen", 0)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		pathInsert(b, e, a, "seen", i)
		lat = append(lat, w.seenAt(b, i).Sub(start))
	}
	reportLatencies(b, lat)
}

func BenchmarkNativeFanout(b *testing.B) {
	const subscribers = 50
	b.Run(fmt.Sprintf("subscribers=%d", subscribers), func(b *testing.B) {
		e := newBenchEnvWith(b, pathBundle)
		a := e.open(b)
		subs := make([]*pathWatch, subscribers)
		for i := range subs {
			subs[i] = watchTag(b, e.open(b), "fanout", 0)
		}
		allConnected(b, a)
		// A first write every subscriber sees: all are subscribed at the server.
		pathInsert(b, e, a, "fanout", -1)
		for _, w := range subs {
			w.seenAt(b, -1)
		}
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			pathInsert(b, e, a, "fanout", i)
			var last time.Time
			for _, w := range subs {
				if t := w.seenAt(b, i); t.After(last) {
					last = t
				}
			}
			lat = append(lat, last.Sub(start))
		}
		reportLatencies(b, lat)
	})
}

func BenchmarkNativeIngest(b *testing.B) {
	for _, n := range pathSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			e := newBenchEnvWith(b, pathBundle)
			a, c := e.open(b), e.open(b)
			allConnected(b, a, c)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tag := fmt.Sprint("ingest-", i)
				w := watchTag(b, c, tag, n)
				b.StartTimer()
				for r := 0; r < n; r += pathBatch {
					ops := make([]engine.Op, 0, pathBatch)
					for k := r; k < min(n, r+pathBatch); k++ {
						ops = append(ops, engine.Op{Kind: engine.KindInsert, Table: "todos", Values: pathRow(e, tag, k)})
					}
					if _, err := a.Batch(context.Background(), "", ops); err != nil {
						b.Fatal(err)
					}
				}
				w.reached(b)
				b.StopTimer()
				w.stop()
				acked(b, a)
				b.StartTimer()
			}
		})
	}
}

func BenchmarkNativeNewClient(b *testing.B) {
	for _, n := range pathSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			e := newBenchEnvWith(b, pathBundle)
			a := e.open(b)
			allConnected(b, a)
			for r := 0; r < n; r++ {
				pathInsert(b, e, a, "rows", r)
			}
			acked(b, a)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				c := e.open(b)
				allConnected(b, c)
				b.StartTimer()
				w := watchTag(b, c, "rows", n)
				w.reached(b)
				b.StopTimer()
				w.stop()
				c.Close()
				b.StartTimer()
			}
		})
	}
}

func BenchmarkNativeInsertToCallback(b *testing.B) {
	for _, n := range pathSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			e := newBenchEnvWith(b, pathBundle)
			a := e.open(b)
			allConnected(b, a)
			for r := 0; r < n; r++ {
				pathInsert(b, e, a, "own", r)
			}
			w := watchTag(b, a, "own", n)
			w.reached(b)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				pathInsert(b, e, a, "own", n+i)
				lat = append(lat, w.seenAt(b, n+i).Sub(start))
			}
			reportLatencies(b, lat)
		})
	}
}
