package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
)

// benchServers returns, for storage "postgres", servers A and B of a
// three-server cluster over one PostgreSQL; for "bbolt", one server on a
// bbolt file (with fsync) serving as both, the figure to compare with.
func benchServers(b *testing.B, storage string) (app string, a, bNode *node) {
	b.Helper()
	if storage == "postgres" {
		c := newCluster(b, 3)
		return c.app, c.nodes[0], c.nodes[1]
	}
	app = "bench-bolt-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	bundleFile := filepath.Join(workDir, app+".json")
	if err := os.WriteFile(bundleFile, []byte(todoBundle), 0o600); err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(workDir, app)
	nd := startServer(b, app, "bolt", "--data-dir", dir, "--bundle", bundleFile)
	b.Cleanup(func() {
		_ = nd.cmd.Process.Kill()
		_ = nd.cmd.Wait()
		os.RemoveAll(dir)
	})
	return app, nd, nd
}

func benchClient(b *testing.B, app, url, secret string) *client.Db {
	b.Helper()
	c := &cluster{t: b, app: app}
	var err error
	if c.bundle, err = decodeBundle(todoBundle); err != nil {
		b.Fatal(err)
	}
	return c.client(url, secret)
}

// BenchmarkWriteSeenOnOtherServer: an insert by a client of server A until
// a client of server B has it (on bbolt, both clients share the one
// server). Reports p50 and p99 in ms.
func BenchmarkWriteSeenOnOtherServer(b *testing.B) {
	for _, storage := range []string{"postgres", "bbolt"} {
		b.Run("storage="+storage, func(b *testing.B) {
			app, na, nb := benchServers(b, storage)
			secret := newSecret(b)
			writer := benchClient(b, app, na.url, secret)
			reader := benchClient(b, app, nb.url, secret)
			seen := make(chan string, 16)
			stop, err := reader.Subscribe(allTodos, func(u engine.Update) {
				for _, r := range u.Added {
					seen <- r.ID()
				}
			})
			if err != nil {
				b.Fatal(err)
			}
			defer stop()
			if err := reader.WaitLoaded(ctx, allTodos); err != nil {
				b.Fatal(err)
			}
			eventually(b, "the writer connected", func() bool { return writer.Status().String() == "connected" })
			uid := writer.GetAuthState().Session.UserID
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				r, err := writer.Insert(ctx, "todos", map[string]any{"title": "ping", "done": false, "owner_id": uid})
				if err != nil {
					b.Fatal(err)
				}
				for got := ""; got != r.ID(); {
					select {
					case got = <-seen:
					case <-time.After(10 * time.Second):
						b.Fatal("the row never reached the client of the other server")
					}
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			b.ReportMetric(percentile(lat, 0.5), "p50-ms")
			b.ReportMetric(percentile(lat, 0.99), "p99-ms")
		})
	}
}

// BenchmarkIngestThroughOneSeenOnAnother: one client writes 25k rows
// through server A until a client of server B has all of them (the
// user-path scenario "A writes 25k rows until B's subscription shows them
// all", with A and B on different servers). Also
// reports what server B's memory grew by per row (resident set, which
// includes the Go heap's slack).
func BenchmarkIngestThroughOneSeenOnAnother(b *testing.B) {
	const rows = 25_000
	for _, storage := range []string{"postgres", "bbolt"} {
		b.Run(fmt.Sprintf("rows=%d/storage=%s", rows, storage), func(b *testing.B) {
			var perRow []float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				app, na, nb := benchServers(b, storage)
				secret := newSecret(b)
				writer := benchClient(b, app, na.url, secret)
				reader := benchClient(b, app, nb.url, secret)
				var have atomic.Int64
				stop, err := reader.Subscribe(allTodos, func(u engine.Update) { have.Add(int64(len(u.Added) - len(u.Removed))) })
				if err != nil {
					b.Fatal(err)
				}
				if err := reader.WaitLoaded(ctx, allTodos); err != nil {
					b.Fatal(err)
				}
				eventually(b, "the writer connected", func() bool { return writer.Status().String() == "connected" })
				rss0 := rss(b, nb)
				uid := writer.GetAuthState().Session.UserID
				b.StartTimer()
				for j := 0; j < rows; j++ {
					if _, err := writer.Insert(ctx, "todos", map[string]any{"title": fmt.Sprint("row ", j), "done": false, "owner_id": uid}); err != nil {
						b.Fatal(err)
					}
				}
				deadline := time.Now().Add(120 * time.Second)
				for have.Load() < rows {
					if time.Now().After(deadline) {
						b.Fatalf("the client of the other server has %d of %d rows", have.Load(), rows)
					}
					time.Sleep(time.Millisecond)
				}
				b.StopTimer()
				stop()
				perRow = append(perRow, float64(rss(b, nb)-rss0)/rows)
				b.StartTimer()
			}
			b.ReportMetric(perRow[len(perRow)/2], "server-B-bytes/row")
		})
	}
}

// rss is a server process's resident set in bytes (Linux).
func rss(b *testing.B, nd *node) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", nd.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(p*float64(len(s)-1))]) / 1e6
}
