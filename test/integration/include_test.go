package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/session"
)

// relBundle: projects and todos, each row readable unless secret.
const relBundle = `{"version":1,
 "schema":{"tables":[
   {"name":"projects","columns":[{"name":"name","type":"string"},{"name":"secret","type":"boolean"}]},
   {"name":"todos","columns":[
     {"name":"title","type":"string"},{"name":"rank","type":"int"},{"name":"secret","type":"boolean"},
     {"name":"projectId","type":"ref","ref":"projects","optional":true},
     {"name":"parent_id","type":"ref","ref":"todos","optional":true}]}]},
 "policies":{
   "projects":{"read":{"eq":[{"col":"secret"},{"value":false}]}},
   "todos":{"read":{"eq":[{"col":"secret"},{"value":false}]}}}}`

func testSeed(t *testing.T) uint64 {
	if s := os.Getenv("JAZZ_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// TestIncludes_ClientResultEqualsServerRecomputed subscribes a client to
// queries with includes and makes random writes on the server: after each
// one, the client's live result (kept from its updates' steps, computed
// from the rows the server sent it) must come to equal the query run on
// the server for the same session. Rows created secret are never readable
// by the client: they never leave the server, so todos naming them stay
// out of the client's result as they do out of the server's.
func TestIncludes_ClientResultEqualsServerRecomputed(t *testing.T) {
	seed := testSeed(t)
	t.Logf("seed %d (replay with JAZZ_SEED)", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	e := newEnv(t, envOpts{bundle: relBundle})
	srv, err := e.srv.Engine()
	if err != nil {
		t.Fatal(err)
	}
	reader := engine.Actor{Session: &session.Session{UserID: "reader", AuthMode: session.External}}
	queries := []string{
		`{"table":"todos","include":{"project":{"table":"projects"}},"orderBy":[{"col":"rank"}]}`,
		`{"table":"projects","include":{"todosViaProject":{"table":"todos","orderBy":[{"col":"rank"}],"limit":3,"include":{"parent":{"table":"todos"}}}}}`,
		`{"table":"todos","include":{"parent":{"table":"todos","include":{"project":{"table":"projects"}}}},"requireIncludes":true,"orderBy":[{"col":"title"}],"limit":4}`,
	}
	type kept struct {
		db   *client.Db
		q    *query.Query
		mu   gosync.Mutex
		rows []engine.Row
	}
	id := func(prefix string, n int) string {
		return fmt.Sprintf("01900000-0000-7000-8000-%012x", []byte(fmt.Sprint(prefix, n)))
	}
	exists, dead := map[string]bool{}, map[string]bool{}
	ref := func(prefix string, from, n int) any {
		if rng.IntN(6) == 0 {
			return nil
		}
		return id(prefix, from+rng.IntN(n))
	}
	// The clients reach the server through a gate, to be cut off for a
	// while: resuming, they get what changed meanwhile.
	g := &cutter{next: e.srv.Handler()}
	hs := httptest.NewServer(g)
	defer hs.Close()
	var subs []*kept
	subscribe := func() {
		for _, js := range queries {
			// One client per query, so that no query's rows reach it through
			// another query.
			k := &kept{db: e.open(client.Config{JWTToken: e.jwt("reader", time.Hour), ServerURL: hs.URL}, nil)}
			if k.q, err = query.Decode([]byte(js)); err != nil {
				t.Fatal(err)
			}
			subs = append(subs, k)
			cancel, err := k.db.Subscribe(k.q, func(u engine.Update) {
				k.mu.Lock()
				defer k.mu.Unlock()
				if u.First {
					k.rows = append([]engine.Row(nil), u.Added...)
					return
				}
				for _, st := range u.Steps {
					for _, at := range st.Del {
						k.rows = append(k.rows[:at], k.rows[at+1:]...)
					}
					for _, p := range st.Ins {
						k.rows = append(k.rows, nil)
						copy(k.rows[p.At+1:], k.rows[p.At:])
						k.rows[p.At] = p.Row
					}
					for _, p := range st.Set {
						k.rows[p.At] = p.Row
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cancel)
		}
	}
	system := engine.Actor{Backend: true}
	nonEmpty := 0
	for step := 0; step < 150; step++ {
		switch step {
		case 30:
			// Subscribed now, the first results are pages read from the
			// rows written so far, with the rows they include.
			subscribe()
		case 80:
			g.cut()
			for _, k := range subs {
				eventually(t, "cut off", func() bool { return !connected(k.db)() })
			}
		case 110:
			g.down.Store(false)
			for _, k := range subs {
				eventually(t, "reconnected", func() bool {
					e.clock.Advance(time.Minute) // fire the pending backoff timer
					return connected(k.db)()
				})
			}
		}
		var ops []engine.Op
		touched := map[string]bool{}
		for range 1 + rng.IntN(6) {
			gen := step / 10 // ids move on, leaving deleted ones behind
			table, row := "todos", id("t", gen+rng.IntN(20))
			vals := map[string]any{"title": fmt.Sprint("t", rng.IntN(6)), "rank": rng.IntN(5), "projectId": ref("p", gen/3, 6), "parent_id": ref("t", gen, 20)}
			if rng.IntN(3) == 0 {
				table, row = "projects", id("p", gen/3+rng.IntN(6))
				vals = map[string]any{"name": fmt.Sprint("n", rng.IntN(4))}
			}
			if touched[row] || dead[row] {
				continue
			}
			touched[row] = true
			op := engine.Op{Kind: engine.KindUpdate, Table: table, Row: row, Values: vals}
			switch {
			case !exists[row]:
				// Secret from birth, or never: a row that becomes hidden
				// later stays on a client that had it (docs/protocol.md).
				vals["secret"] = rng.IntN(5) == 0
				op.Kind, exists[row] = engine.KindInsert, true
			case rng.IntN(10) == 0:
				op = engine.Op{Kind: engine.KindDelete, Table: table, Row: row}
				dead[row] = true
			}
			ops = append(ops, op)
		}
		if len(ops) == 0 {
			continue
		}
		if _, err := srv.WriteBatch(ctx, system, "", ops); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		for i, k := range subs {
			if g.down.Load() {
				break
			}
			want, err := srv.All(reader, k.q)
			if err != nil {
				t.Fatal(err)
			}
			wantJSON, _ := json.Marshal(want)
			if len(want) > 0 {
				nonEmpty++
			}
			var got []byte
			deadline := time.Now().Add(10 * time.Second)
			for {
				k.mu.Lock()
				got, _ = json.Marshal(k.rows)
				k.mu.Unlock()
				if string(got) == string(wantJSON) || (len(want) == 0 && string(got) == "null") {
					break
				}
				if time.Now().After(deadline) {
					var g []engine.Row
					_ = json.Unmarshal(got, &g)
					t.Fatalf("query %d after step %d: client has\n%s\nserver computes\n%s", i, step, diffRows(g, want), diffRows(want, g))
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	if nonEmpty < 30 {
		t.Fatalf("only %d non-empty results compared: the history is too thin to test anything", nonEmpty)
	}
	// No client ever received a secret row.
	for _, k := range subs {
		for _, table := range []string{"projects", "todos"} {
			rows, _ := k.db.Engine().All(engine.Actor{Backend: true}, &query.Query{Table: table})
			for _, r := range rows {
				if r["secret"] == true {
					t.Fatalf("a secret row of %s reached the client: %v", table, r)
				}
			}
		}
	}
}

// diffRows lists the rows of a that b does not have (as JSON), for a
// failure message.
func diffRows(a, b []engine.Row) string {
	in := map[string]bool{}
	for _, r := range b {
		j, _ := json.Marshal(r)
		in[string(j)] = true
	}
	out := ""
	for i, r := range a {
		if j, _ := json.Marshal(r); !in[string(j)] {
			out += fmt.Sprintf("  at %d: %s\n", i, j)
		}
	}
	return out
}

// cutter fronts the server like gate, and cut also closes the connections
// already open, as a network outage would.
type cutter struct {
	down  atomic.Bool
	next  http.Handler
	mu    gosync.Mutex
	conns []net.Conn
}

func (c *cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.down.Load() {
		http.Error(w, "unreachable", http.StatusServiceUnavailable)
		return
	}
	c.next.ServeHTTP(hijackNoter{w, c}, r)
}

func (c *cutter) cut() {
	c.down.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// hijackNoter notes the connections a WebSocket takes over.
type hijackNoter struct {
	http.ResponseWriter
	c *cutter
}

func (h hijackNoter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := h.ResponseWriter.(http.Hijacker).Hijack()
	if err == nil {
		h.c.mu.Lock()
		h.c.conns = append(h.c.conns, conn)
		h.c.mu.Unlock()
	}
	return conn, rw, err
}
