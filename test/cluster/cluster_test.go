package cluster

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
)

var allTodos = &query.Query{Table: "todos"}

// follow keeps a live subscription to every todo, so the client receives
// the server's rows as they change, and waits for the first result.
func follow(t *testing.T, db *client.Db) {
	t.Helper()
	if _, err := db.Subscribe(allTodos, func(engine.Update) {}); err != nil {
		t.Fatal(err)
	}
	if err := db.WaitLoaded(ctx, allTodos); err != nil {
		t.Fatal(err)
	}
}

// insert writes a todo and returns its row and change ids.
func insert(t *testing.T, db *client.Db, title string) (row, change string) {
	t.Helper()
	uid := db.GetAuthState().Session.UserID
	r, id, err := db.Write(ctx, "", engine.Op{Kind: engine.KindInsert, Table: "todos",
		Values: map[string]any{"title": title, "done": false, "owner_id": uid}})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID(), id
}

func acked(t *testing.T, db *client.Db, change string) {
	t.Helper()
	if err := db.WaitFor(ctx, change); err != nil {
		t.Fatalf("change %s: %v", change, err)
	}
}

// A write acknowledged by any server is in PostgreSQL when the ack
// arrives, and reaches the subscribers of every server.
func TestWriteOnAnyServerReachesAll(t *testing.T) {
	c := newCluster(t, 3)
	secret := newSecret(t)
	dbs := c.clientOnEach(t, secret)
	for i, db := range dbs {
		for j := 0; j < 5; j++ {
			row, change := insert(t, db, fmt.Sprintf("from %d #%d", i, j))
			acked(t, db, change)
			if _, ok := c.stored()[row]; !ok {
				t.Fatalf("row %s acknowledged by %s is not in PostgreSQL", row, c.nodes[i].name)
			}
		}
	}
	want := c.stored()
	if len(want) != 15 {
		t.Fatalf("PostgreSQL holds %d rows, want 15", len(want))
	}
	for i, db := range dbs {
		eventually(t, "client of "+c.nodes[i].name+" sees every row", func() bool { return sameRows(clientRows(t, db), want) })
	}
}

// A server killed with SIGKILL while a client writes through it loses no
// acknowledged write, and the client goes on through the others.
func TestKilledServerLosesNoAckedWrite(t *testing.T) {
	c := newCluster(t, 3)
	lb := newBalancer(t, c.nodes)
	lb.route(c.nodes[0])
	secret := newSecret(t)
	writer := c.client(lb.url(), secret)
	follow(t, writer)
	observer := c.client(c.nodes[2].url, secret)
	follow(t, observer)

	var (
		mu    sync.Mutex
		acks  = map[string]bool{} // row ids whose insert was acknowledged
		wg    sync.WaitGroup
		total = 200
	)
	for i := 0; i < total; i++ {
		row, change := insert(t, writer, fmt.Sprintf("row %d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := writer.WaitFor(ctx, change); err == nil {
				mu.Lock()
				acks[row] = true
				mu.Unlock()
			}
		}()
		if i == total/4 {
			eventually(t, "some writes acknowledged by s0", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(acks) >= 20
			})
			lb.setNodes(c.nodes[1:])
			lb.route(nil)
			c.kill(c.nodes[0])
			mu.Lock()
			before := make([]string, 0, len(acks))
			for r := range acks {
				before = append(before, r)
			}
			mu.Unlock()
			stored := c.stored()
			for _, r := range before {
				if _, ok := stored[r]; !ok {
					t.Fatalf("row %s was acknowledged by the killed server but is not in PostgreSQL", r)
				}
			}
		}
	}
	wg.Wait()
	if len(acks) != total {
		t.Fatalf("%d of %d writes acknowledged", len(acks), total)
	}
	want := c.stored()
	if len(want) != total {
		t.Fatalf("PostgreSQL holds %d rows, want %d", len(want), total)
	}
	eventually(t, "the writer's rows match PostgreSQL", func() bool { return sameRows(clientRows(t, writer), want) })
	eventually(t, "the observer on s2 sees every row", func() bool { return sameRows(clientRows(t, observer), want) })
	c.restart(0)
	late := c.client(c.nodes[0].url, secret)
	follow(t, late)
	eventually(t, "the restarted s0 serves every row", func() bool { return sameRows(clientRows(t, late), want) })
}

// A server frozen with SIGSTOP while it holds its app's lock stops no one
// for longer than the lock timeout: PostgreSQL ends its session, the
// others write, and when it wakes its write fails unacknowledged and its
// client resends.
func TestFrozenLockHolderDoesNotStopTheOthers(t *testing.T) {
	c := newCluster(t, 3)
	secret := newSecret(t)
	busy := c.client(c.nodes[0].url, secret)
	follow(t, busy)
	other := c.client(c.nodes[1].url, secret)
	follow(t, other)

	stop := make(chan struct{})
	var writes sync.WaitGroup
	writes.Add(1)
	var busyChanges []string
	go func() {
		defer writes.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, change := insert(t, busy, fmt.Sprintf("busy %d", i))
			busyChanges = append(busyChanges, change)
			if i%20 == 19 {
				_ = busy.WaitFor(ctx, change) // keep the queue short
			}
		}
	}()

	pg, err := pgx.Connect(ctx, c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	holdsLock := func() bool {
		var n int
		err := pg.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE a.application_name = $1 AND l.relation = 'jazz_apps'::regclass AND l.mode = 'RowShareLock' AND l.granted`,
			c.app+"-s0").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	s0 := c.nodes[0].cmd.Process
	frozen := false
	for attempt := 0; attempt < 2000 && !frozen; attempt++ {
		_ = s0.Signal(syscall.SIGSTOP)
		if holdsLock() {
			frozen = true
			break
		}
		_ = s0.Signal(syscall.SIGCONT)
	}
	if !frozen {
		t.Fatal("never caught s0 holding the lock")
	}
	row, change := insert(t, other, "while s0 is frozen")
	acked(t, other, change)
	if holdsLock() {
		t.Fatal("s1's write was acknowledged while frozen s0 held the lock")
	}
	_ = s0.Signal(syscall.SIGCONT)
	close(stop)
	writes.Wait()
	for _, ch := range busyChanges {
		acked(t, busy, ch)
	}
	want := c.stored()
	if _, ok := want[row]; !ok {
		t.Fatal("the write made while s0 was frozen is not in PostgreSQL")
	}
	if len(want) != len(busyChanges)+1 {
		t.Fatalf("PostgreSQL holds %d rows, want %d", len(want), len(busyChanges)+1)
	}
	eventually(t, "s0's client matches PostgreSQL", func() bool { return sameRows(clientRows(t, busy), want) })
	eventually(t, "s1's client matches PostgreSQL", func() bool { return sameRows(clientRows(t, other), want) })
}

// An insert whose ack was lost on the way back from one server, resent to
// another, is acknowledged there and not applied again (applied again, an
// insert of an existing row is refused and the client rolls it back).
func TestResendToAnotherServerAppliesOnce(t *testing.T) {
	c := newCluster(t, 3)
	lb := newBalancer(t, c.nodes)
	lb.route(c.nodes[0])
	secret := newSecret(t)
	db := c.client(lb.url(), secret)
	follow(t, db)
	lb.setMute(true)
	row, change := insert(t, db, "ack lost")
	eventually(t, "the insert committed on s0", func() bool { _, ok := c.stored()[row]; return ok })
	before := c.stored()[row]
	if len(db.Pending()) != 1 {
		t.Fatalf("the client got the ack it should have lost (%d pending)", len(db.Pending()))
	}
	lb.route(c.nodes[1])
	lb.cut()
	lb.setMute(false)
	acked(t, db, change)
	if got := c.stored()[row]; got != before {
		t.Fatalf("the resend changed the row: %q -> %q", before, got)
	}
	rows := clientRows(t, db)
	if _, ok := rows[row]; !ok || len(rows) != 1 {
		t.Fatalf("client rows after the resend: %v", rows)
	}
}

// A bundle published on one server takes effect on every server.
func TestPublishOnOneServerTakesEffectOnAll(t *testing.T) {
	c := newCluster(t, 3)
	secret := newSecret(t)
	onS2 := c.client(c.nodes[2].url, secret)
	follow(t, onS2)
	js := strings.Replace(todoBundle, `"schema":{"tables":[`, `"schema":{"tables":[{"name":"notes","columns":[{"name":"text","type":"string"},{"name":"owner_id","type":"string"}]},`, 1)
	js = strings.Replace(js, `"policies":{`, `"policies":{"notes":{"read":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},"insert":{"eq":[{"col":"owner_id"},{"session":"user_id"}]}},`, 1)
	publish(t, c.nodes[0], c.app, js)
	for _, nd := range c.nodes[1:] {
		eventually(t, nd.name+" serves the new bundle", func() bool { return strings.Contains(servedBundle(t, nd, c.app), `"notes"`) })
	}
	// A client of s2 writes to the new table.
	c2 := *c
	var err error
	if c2.bundle, err = decodeBundle(js); err != nil {
		t.Fatal(err)
	}
	db := c2.client(c.nodes[2].url, secret)
	uid := db.GetAuthState().Session.UserID
	_, change, err := db.Write(ctx, "", engine.Op{Kind: engine.KindInsert, Table: "notes", Values: map[string]any{"text": "hi", "owner_id": uid}})
	if err != nil {
		t.Fatal(err)
	}
	acked(t, db, change)
	// The old client of s2 was told and reconnects under the new bundle.
	row, ch := insert(t, onS2, "after publish")
	acked(t, onS2, ch)
	if _, ok := c.stored()[row]; !ok {
		t.Fatal("a write after the publish is missing")
	}
}

// A client's cursor is valid on every server: moved from server to server
// while others write, it ends with exactly PostgreSQL's rows.
func TestClientMovesBetweenServers(t *testing.T) {
	c := newCluster(t, 3)
	lb := newBalancer(t, c.nodes)
	lb.route(c.nodes[0])
	secret := newSecret(t)
	mover := c.client(lb.url(), secret)
	follow(t, mover)
	writers := []*client.Db{c.client(c.nodes[1].url, secret), c.client(c.nodes[2].url, secret)}
	for round := 0; round < 6; round++ {
		for i := 0; i < 10; i++ {
			_, ch := insert(t, mover, fmt.Sprintf("mover %d/%d", round, i))
			acked(t, mover, ch)
		}
		lb.route(c.nodes[(round+1)%3])
		lb.cut()
		w := writers[round%2]
		for i := 0; i < 10; i++ {
			_, ch := insert(t, w, fmt.Sprintf("writer %d/%d", round, i))
			acked(t, w, ch)
		}
		want := c.stored()
		eventually(t, fmt.Sprintf("round %d: the mover on %s has every row", round, c.nodes[(round+1)%3].name),
			func() bool { return sameRows(clientRows(t, mover), want) })
	}
}

// Writers on all three servers changing the same rows at once converge:
// every server ends with the rows PostgreSQL holds.
func TestConcurrentWritersConverge(t *testing.T) {
	c := newCluster(t, 3)
	secret := newSecret(t)
	dbs := c.clientOnEach(t, secret)
	var rows []string
	for i := 0; i < 10; i++ {
		r, ch := insert(t, dbs[0], fmt.Sprintf("shared %d", i))
		acked(t, dbs[0], ch)
		rows = append(rows, r)
	}
	for _, db := range dbs {
		eventually(t, "every client has the rows", func() bool { return len(clientRows(t, db)) == 10 })
	}
	var wg sync.WaitGroup
	for w, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last string
			for n := 0; n < 15; n++ {
				for _, r := range rows {
					_, id, err := db.Write(ctx, "", engine.Op{Kind: engine.KindUpdate, Table: "todos", Row: r,
						Values: map[string]any{"title": fmt.Sprintf("w%d n%d", w, n), "done": n%2 == 0}})
					if err != nil {
						t.Error(err)
						return
					}
					last = id
				}
			}
			if err := db.WaitFor(ctx, last); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	want := c.stored()
	for i, db := range dbs {
		eventually(t, "client of "+c.nodes[i].name+" converges", func() bool { return sameRows(clientRows(t, db), want) })
	}
	// Fresh clients read each server's rows as it holds them.
	for _, nd := range c.nodes {
		db := c.client(nd.url, secret)
		follow(t, db)
		eventually(t, nd.name+" serves PostgreSQL's rows", func() bool { return sameRows(clientRows(t, db), want) })
	}
}

// Servers sharing a database do not write a new column's default into
// existing rows yet: such a publish is refused, saying what to do instead,
// and the bundle in force stays.
func TestPublishNeedingDefaultsFilledIsRefused(t *testing.T) {
	c := newCluster(t, 1)
	db := c.client(c.nodes[0].url, newSecret(t))
	_, ch := insert(t, db, "before")
	acked(t, db, ch)
	js := strings.Replace(todoBundle, `{"name":"owner_id","type":"string"}]}`, `{"name":"owner_id","type":"string"},{"name":"rank","type":"int","default":0}]}`, 1)
	status, body := adminBundle(t, c.nodes[0], c.app, http.MethodPut, js)
	if status != http.StatusConflict || !strings.Contains(body, "unsupported_change") || !strings.Contains(body, "todos.rank") {
		t.Fatalf("publish: %d %s, want 409 unsupported_change naming todos.rank", status, body)
	}
	if strings.Contains(servedBundle(t, c.nodes[0], c.app), `"rank"`) {
		t.Fatal("the refused bundle is in force")
	}
}
