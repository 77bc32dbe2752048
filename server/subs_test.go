package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
)

func withBudgets(b Budgets) option { return func(c *Config) { c.Budgets = b } }

// seedNotes writes n public notes titled "note 0000".. as the backend and
// returns their row ids in title order.
func seedNotes(t testing.TB, srv *Server, n int) []string {
	t.Helper()
	db, err := srv.app.current()
	if err != nil {
		t.Fatal(err)
	}
	w := newWriter(srv.cfg.Clock, "seed")
	var ids []string
	for start := 0; start < n; start += protocol.MaxChangesPerPush {
		var batch []*engine.Change
		for i := start; i < min(n, start+protocol.MaxChangesPerPush); i++ {
			ch := w.insert(fmt.Sprintf("note %04d", i), "seed", true)
			batch = append(batch, ch)
			ids = append(ids, ch.Row)
		}
		if _, err := db.Submit(context.Background(), engine.Actor{Backend: true}, batch); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// backendUpdate updates a note as the backend, later than anything before.
func backendUpdate(t testing.TB, f *fixture, row string, values map[string]any) {
	t.Helper()
	db, err := f.srv.app.current()
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Second)
	res, err := db.Submit(context.Background(), engine.Actor{Backend: true}, []*engine.Change{newWriter(f.clk, "w").update(row, values)})
	if err != nil || res[0].Err != nil {
		t.Fatalf("update: %v %v", err, res)
	}
}

// result reads rows frames for sub until one is complete, and returns every
// row state received, by frame.
func result(t testing.TB, cl *client, sub string) [][]engine.RowState {
	t.Helper()
	var frames [][]engine.RowState
	for {
		r := expectFrame(t, cl, protocol.TRows, wait).Body.(*protocol.Rows)
		if r.Sub != sub {
			t.Fatalf("rows for %q while waiting for %q", r.Sub, sub)
		}
		frames = append(frames, r.Rows)
		if r.Complete {
			return frames
		}
	}
}

func titles(frames ...[]engine.RowState) []string {
	var out []string
	for _, f := range frames {
		for _, st := range f {
			out = append(out, st.Cells["title"].V.(string))
		}
	}
	slices.Sort(out)
	return out
}

func TestWS_WindowedSubscriptionSendsItsWindowThenRowsEnteringAndLeaving(t *testing.T) {
	f := newFixture(t)
	ids := seedNotes(t, f.srv, 20)
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	cl.sendRaw([]byte(`{"t":"sub","id":"top","query":{"table":"notes","orderBy":[{"col":"title"}],"limit":3}}`))
	if got := titles(result(t, cl, "top")...); !slices.Equal(got, []string{"note 0000", "note 0001", "note 0002"}) {
		t.Fatalf("initial window = %v, want the first 3 by title", got)
	}
	// alice may not write seed's notes: the backend moves note 0010 to the
	// top, which pushes note 0002 out of the window though it stays
	// readable; the client must hear of both to drop 0002 from the window.
	backendUpdate(t, f, ids[10], map[string]any{"title": "a first"})
	live := expectFrame(t, cl, protocol.TRows, wait).Body.(*protocol.Rows)
	if got := titles(live.Rows); !slices.Equal(got, []string{"a first", "note 0002"}) {
		t.Fatalf("live rows = %v, want the row entering and the row leaving", got)
	}
	if extra := barrier(t, cl, 1); len(extra) > 0 {
		t.Fatalf("more frames than the change: %s", mustJSON(extra[0].Body))
	}
}

// A windowed query resumed from a cursor gets its current window, and the
// rows changed since the cursor, so a row that left the window while the
// client was away reaches it too.
func TestWS_WindowedResumeSendsTheWindowAndRowsThatLeftIt(t *testing.T) {
	f := newFixture(t)
	ids := seedNotes(t, f.srv, 20)
	cursor := f.seq(t)
	backendUpdate(t, f, ids[1], map[string]any{"title": "z last"})
	cl, w2 := f.hello(t, protocol.Auth{})
	cl.sendRaw([]byte(`{"t":"sub","id":"top","query":{"table":"notes","orderBy":[{"col":"title"}],"limit":3},"cursor":` + jsonUint(cursor) + `,"scope":"` + w2.Scope + `"}`))
	frames := result(t, cl, "top")
	if got := titles(frames...); !slices.Equal(got, []string{"note 0000", "note 0002", "note 0003", "z last"}) {
		t.Fatalf("resumed rows = %v, want the window and the row that left it", got)
	}
}

// A result goes out in pages of at most RowsInFlight rows.
func TestWS_ResultComesInPagesOfRowsInFlight(t *testing.T) {
	cases := []struct {
		name  string
		query string
	}{
		{"unwindowed", `{"table":"notes"}`},
		{"windowed", `{"table":"notes","orderBy":[{"col":"title","desc":true}],"offset":1,"limit":33}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, withBudgets(Budgets{AnonymousRowsInFlight: 10}))
			seedNotes(t, f.srv, 35)
			cl, _ := f.hello(t, protocol.Auth{})
			cl.sendRaw([]byte(`{"t":"sub","id":"all","query":` + tc.query + `}`))
			frames := result(t, cl, "all")
			total := 0
			for _, fr := range frames {
				if len(fr) > 10 {
					t.Fatalf("a frame of %d rows, over the budget of 10", len(fr))
				}
				total += len(fr)
			}
			if want := map[string]int{"unwindowed": 35, "windowed": 33}[tc.name]; total != want || len(frames) < 4 {
				t.Fatalf("%d rows in %d frames, want %d in pages of 10", total, len(frames), want)
			}
		})
	}
}

// While a large result waits for a client that reads nothing, the server
// keeps reading its frames and holds no more than about a page of the
// result in the connection's queue.
func TestConn_LargeResultWaitsForTheSocketInsteadOfQueueing(t *testing.T) {
	srv := newOfflineServer(t, io.Discard)
	seedNotes(t, srv, 5000)
	in := [][]byte{
		[]byte(`{"t":"hello","v":1,"appId":"test-app","auth":{}}`),
		[]byte(`{"t":"sub","id":"all","query":{"table":"notes"}}`),
	}
	for i := range 100 {
		in = append(in, []byte(`{"t":"ping","n":`+fmt.Sprint(i)+`}`))
	}
	tr := newFakeTransport(in...)
	tr.gate, tr.hold = make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		srv.serveConn(tr, slog.New(slog.DiscardHandler), "c1", testApp)
		close(done)
	}()
	defer func() {
		close(tr.hold)
		close(tr.gate)
		<-done
	}()
	select {
	case <-tr.drained:
	case <-time.After(wait):
		t.Fatal("the reader blocked behind the result")
	}
	// The worker streaming the result ends up waiting for room.
	queued, waiting := 0, false
	for deadline := time.Now().Add(wait); !waiting && time.Now().Before(deadline); {
		srv.hub.each(func(c *conn) {
			c.out.mu.Lock()
			queued, waiting = c.out.bytes, c.out.drained != nil
			c.out.mu.Unlock()
		})
		time.Sleep(time.Millisecond)
	}
	if !waiting {
		t.Fatalf("nothing waits for the socket; %d bytes queued", queued)
	}
	// The whole result is about 2 MB; a page of anonymous rows in flight
	// (250) is about 100 kB.
	if queued > 2*rowsChunkBytes {
		t.Fatalf("%d bytes queued for a client reading nothing, want at most a page or so", queued)
	}
}

func TestWS_ResubscribeWithTheSameRequestSendsNothing(t *testing.T) {
	f := newFixture(t)
	seedNotes(t, f.srv, 3)
	cl, _ := f.hello(t, protocol.Auth{})
	first := subscribe(t, cl, "s", 0)
	again := []byte(`{"t":"sub","id":"s","query":{"table":"notes"},"scope":"` + cl.scope + `"}`)
	for range 5 {
		cl.sendRaw(again)
	}
	if extra := barrier(t, cl, 1); len(extra) > 0 {
		t.Fatalf("an unchanged re-subscribe was answered with %s", mustJSON(extra[0].Body))
	}
	// Another cursor is another request.
	r := subscribe(t, cl, "s", first.Cursor)
	if len(r.Rows) != 0 {
		t.Fatalf("resume from the current cursor sent %d rows", len(r.Rows))
	}
}

func TestWS_SubscriptionBudgetsRefuseWithTheirNameAndLimit(t *testing.T) {
	alice := newUser(t)
	cases := []struct {
		name    string
		budgets Budgets
		// conns connections of the same session (anonymous: each its own)
		// each subscribe perConn times; the last subscribe is refused.
		anonymous bool
		conns     int
		perConn   int
		budget    string
		limit     int
	}{
		{"anonymous per connection", Budgets{AnonymousSubscriptionsPerConnection: 3}, true, 1, 3, BudgetSubscriptionsPerConnection, 3},
		{"per session over connections", Budgets{SubscriptionsPerSession: 4}, false, 2, 2, BudgetSubscriptionsPerSession, 4},
		{"all anonymous sessions together", Budgets{AnonymousSubscriptions: 5}, true, 5, 1, BudgetAnonymousSubscriptions, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, withBudgets(tc.budgets))
			a := protocol.Auth{Bearer: f.token(t, alice, time.Hour)}
			if tc.anonymous {
				a = protocol.Auth{}
			}
			var last *client
			for i := range tc.conns {
				last, _ = f.hello(t, a)
				for j := range tc.perConn {
					subscribe(t, last, fmt.Sprintf("s%d-%d", i, j), 0)
				}
			}
			last.sendRaw([]byte(`{"t":"sub","id":"over","query":{"table":"notes"}}`))
			e := expectFrame(t, last, protocol.TError, wait).Body.(*protocol.Error)
			if e.Code != protocol.CodeBudgetExceeded || e.Budget != tc.budget || e.Limit != tc.limit {
				t.Fatalf("error = %+v, want budget_exceeded %s %d", e, tc.budget, tc.limit)
			}
			// Unsubscribing gives the budget back; the connection is open.
			last.send(protocol.TUnsub, protocol.Unsub{ID: fmt.Sprintf("s%d-0", tc.conns-1)})
			subscribe(t, last, "over", 0)
		})
	}
}

// A closed connection gives its subscriptions back to the budgets that
// span connections.
func TestWS_ClosedConnectionGivesItsSubscriptionsBack(t *testing.T) {
	f := newFixture(t, withBudgets(Budgets{AnonymousSubscriptions: 2}))
	first, _ := f.hello(t, protocol.Auth{})
	subscribe(t, first, "a", 0)
	subscribe(t, first, "b", 0)
	first.c.CloseNow()
	<-first.done
	deadline := time.Now().Add(wait)
	for f.srv.hub.count() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	second, _ := f.hello(t, protocol.Auth{})
	subscribe(t, second, "a", 0)
}

func TestConfig_RefusesImpossibleBudgets(t *testing.T) {
	cases := []struct {
		budgets Budgets
		field   string
	}{
		{Budgets{SubscriptionsPerConnection: protocol.MaxSubscriptions + 1}, "Budgets.SubscriptionsPerConnection"},
		{Budgets{AnonymousSubscriptionsPerConnection: -1}, "Budgets.AnonymousSubscriptionsPerConnection"},
		{Budgets{RowsInFlight: -5}, "Budgets.RowsInFlight"},
	}
	for _, tc := range cases {
		_, err := Config{AppID: testApp, InMemory: true, Budgets: tc.budgets}.withDefaults()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%+v: error %v, want a ConfigError for %s", tc.budgets, err, tc.field)
		}
	}
}

func TestPacer_ReadsNoFasterThanTheRateAfterABurst(t *testing.T) {
	clk := clock.NewFake(t0)
	p := newPacer(clk, 10)
	stop := make(chan struct{})
	for i := range 10 {
		if !p.wait(stop) {
			t.Fatalf("frame %d of the burst waited", i)
		}
	}
	took := make(chan bool)
	go func() { took <- p.wait(stop) }()
	select {
	case <-took:
		t.Fatal("the frame after the burst did not wait")
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(100 * time.Millisecond)
	if !<-took {
		t.Fatal("the frame was refused after its token accrued")
	}
	go func() { took <- p.wait(stop) }()
	close(stop)
	if <-took {
		t.Fatal("a wait went on after stop")
	}
}

// Anonymous workers share a budget of seconds of work: a step that took
// longer than the budget holds every later step back until the debt is
// paid off at the budget's rate.
func TestCPUBudget_HoldsWorkBackUntilItsDebtIsPaid(t *testing.T) {
	clk := clock.NewFake(t0)
	b := newCPUBudget(clk, 20) // 0.2 s of work a second, in bursts of 0.2 s
	stop := make(chan struct{})
	if !b.run(stop, func() { clk.Advance(500 * time.Millisecond) }) {
		t.Fatal("the first step was refused")
	}
	// 0.2 s of credit, 0.5 s spent: 0.3 s of debt, paid off in 1.5 s.
	ran := make(chan bool)
	go func() { ran <- b.run(stop, func() {}) }()
	clk.Advance(1400 * time.Millisecond)
	select {
	case <-ran:
		t.Fatal("a step ran while the budget was in debt")
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(100 * time.Millisecond)
	if !<-ran {
		t.Fatal("the step was refused once the debt was paid")
	}
	b.run(stop, func() { clk.Advance(time.Second) })
	go func() { ran <- b.run(stop, func() { t.Error("a step ran after stop") }) }()
	close(stop)
	if <-ran {
		t.Fatal("run reported a step after stop")
	}
}

// A pong follows the live rows of every write acknowledged before its ping,
// which is how a backend's read sees writes acknowledged on other
// connections (docs/backend.md). The connection's worker, which sends live
// rows otherwise, is not running here: only the ping can send them.
func TestConn_PongFollowsTheLiveRowsNotedBeforeThePing(t *testing.T) {
	srv := newOfflineServer(t, io.Discard)
	ids := seedNotes(t, srv, 2)
	db, err := srv.app.current()
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{srv: srv, log: slog.New(slog.DiscardHandler), out: newOutbox(), clk: srv.cfg.Clock,
		db: db, actor: engine.Actor{Backend: true}, subs: map[string]*sub{}, wake: make(chan struct{}, 1)}
	s := &sub{id: "s", q: &query.Query{Table: "notes"}}
	c.subs[s.id] = s
	c.onUpdate(s, s.gen, engine.Update{Removed: ids, Seq: db.Seq()})
	c.answerPing(&protocol.Ping{N: 1})
	var types []string
	rows := 0
	for _, raw := range c.out.queue {
		f, err := protocol.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, f.Type)
		if r, ok := f.Body.(*protocol.Rows); ok {
			rows += len(r.Rows)
		}
	}
	if len(types) == 0 || types[len(types)-1] != protocol.TPong || rows != len(ids) {
		t.Fatalf("frames %v with %d rows, want the %d live rows, then the pong", types, rows, len(ids))
	}
}

// The anonymous CPU budget applies to the workers of anonymous
// connections: one kept busy streaming a large result in small pages runs
// it into debt, and then waits. The server reads time from a real clock
// here, since the budget measures the work it bounds.
func TestWS_AnonymousWorkersSpendTheirCPUBudget(t *testing.T) {
	f := newFixture(t, withBudgets(Budgets{AnonymousCPUPercent: 1, AnonymousRowsInFlight: 10}),
		func(c *Config) { c.Clock = clock.System{} })
	seedNotes(t, f.srv, 5000)
	held := func() int {
		b := f.srv.anonCPU
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.held
	}
	cl, _ := f.hello(t, protocol.Auth{})
	cl.sendRaw([]byte(`{"t":"sub","id":"all","query":{"table":"notes"}}`))
	for deadline := time.Now().Add(wait); held() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v of streaming 5000 rows in pages of 10, no step waited for the anonymous budget", wait)
		}
	}
}
