package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/server"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// benchEnv is a durable server (bbolt, fsync per acked batch) on the real
// clock, which is what users run.
type benchEnv struct {
	srv    *server.Server
	url    string
	bundle *bundle.Bundle
	secret string
	userID string
}

func newBenchEnv(b *testing.B) *benchEnv { return newBenchEnvWith(b, todoBundle) }

// newBenchEnvWith is newBenchEnv serving the app of bundle JSON js.
func newBenchEnvWith(b *testing.B, js string) *benchEnv {
	b.Helper()
	bun, err := bundle.Decode([]byte(js))
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{AppID: appID, DataDir: b.TempDir(), Bundle: bun, Logger: testLogger(),
		Resolver: &auth.Resolver{AppID: appID, AllowLocalFirst: true}})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(func() { srv.Close(); hs.Close() })
	secret, _ := identity.NewSecret(rand.Reader)
	id, _ := identity.FromSecret(secret)
	return &benchEnv{srv: srv, url: hs.URL, bundle: bun, secret: secret, userID: id.UserID}
}

func (e *benchEnv) open(b *testing.B) *client.Db {
	b.Helper()
	db, err := client.Open(context.Background(), client.Options{
		Config: client.Config{AppID: appID, ServerURL: e.url, Secret: e.secret}, Bundle: e.bundle, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func waitFor(b *testing.B, what string, cond func() bool) {
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func percentile(ds []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(float64(len(s)-1)*p)]) / 1e6
}

// BenchmarkWriteSeenByOtherClient: an insert on client A until client B's
// live query callback has it, through the server over loopback WebSocket.
func BenchmarkWriteSeenByOtherClient(b *testing.B) {
	e := newBenchEnv(b)
	a, c := e.open(b), e.open(b)
	seen := make(chan string, 1)
	stop, err := c.Subscribe(&query.Query{Table: "todos"}, func(u engine.Update) {
		for _, r := range u.Added {
			select {
			case seen <- r.ID():
			default:
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	waitFor(b, "both connected", func() bool { return a.Status().String() == "connected" && c.Status().String() == "connected" })
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		r, err := a.Insert(context.Background(), "todos", todo(e.userID, "ping"))
		if err != nil {
			b.Fatal(err)
		}
		for got := ""; got != r.ID(); {
			select {
			case got = <-seen:
			case <-time.After(10 * time.Second):
				b.Fatal("row never reached the other client")
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(percentile(lat, 0.5), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
}

// BenchmarkIngest: a fresh client subscribing to a table of n rows until
// all of them are in its local replica.
func BenchmarkIngest(b *testing.B) {
	for _, n := range []int{5_000, 25_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			e := newBenchEnv(b)
			seedRows(b, e, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				db := e.open(b)
				var have atomic.Int64
				stop, err := db.Subscribe(&query.Query{Table: "todos"}, func(u engine.Update) {
					have.Add(int64(len(u.Added) - len(u.Removed)))
				})
				if err != nil {
					b.Fatal(err)
				}
				waitFor(b, "all rows ingested", func() bool { return have.Load() == int64(n) })
				b.StopTimer()
				stop()
				db.Close()
				b.StartTimer()
			}
		})
	}
}

func seedRows(b *testing.B, e *benchEnv, n int) {
	b.Helper()
	db, err := e.srv.Engine()
	if err != nil {
		b.Fatal(err)
	}
	for start := 0; start < n; start += 1000 {
		var batch []*engine.Change
		for i := start; i < min(n, start+1000); i++ {
			batch = append(batch, &engine.Change{ID: db.NewID(), Row: db.NewID(), Table: "todos", Kind: engine.KindInsert, TS: db.Timestamp(), By: e.userID,
				Values: map[string]any{"title": fmt.Sprint("row ", i), "done": false, "owner_id": e.userID}})
		}
		if _, err := db.Apply(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFanout: one insert until all 200 subscribed clients have it.
func BenchmarkFanout(b *testing.B) {
	const subscribers = 200
	e := newBenchEnv(b)
	var got atomic.Int64
	for i := 0; i < subscribers; i++ {
		db := e.open(b)
		stop, err := db.Subscribe(&query.Query{Table: "todos"}, func(u engine.Update) { got.Add(int64(len(u.Added))) })
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(stop)
	}
	writer := e.open(b)
	waitFor(b, "writer connected", func() bool { return writer.Status().String() == "connected" })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want := got.Load() + subscribers
		if _, err := writer.Insert(context.Background(), "todos", todo(e.userID, "fan")); err != nil {
			b.Fatal(err)
		}
		waitFor(b, "every subscriber has the row", func() bool { return got.Load() >= want })
	}
}
