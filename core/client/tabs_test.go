package client

import (
	"context"
	"errors"
	gosync "sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/sync"
)

const tabSecret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

func todosSchema(t testing.TB) *schema.Schema {
	t.Helper()
	s, err := schema.New(&schema.Table{Name: "todos", Columns: []schema.Column{
		{Name: "title", Type: schema.String}, {Name: "n", Type: schema.Int, Optional: true}}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// batches collects what a leader's tap sends.
type batches struct {
	mu  gosync.Mutex
	all [][]byte
}

func (b *batches) tap(p []byte) { b.mu.Lock(); b.all = append(b.all, p); b.mu.Unlock() }

func (b *batches) take() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.all
	b.all = nil
	return out
}

// openLeader opens an optimistic Db (its server is a Pipe nobody answers,
// so writes stay pending until the test settles them).
func openLeader(t testing.TB, shared storage.Store, b *batches) *Db {
	t.Helper()
	db, err := Open(context.Background(), Options{
		Config:    Config{AppID: "app", Secret: tabSecret, ServerURL: "ws://leader.test"},
		Bundle:    &bundle.Bundle{Version: bundle.Version, Schema: todosSchema(t)},
		Store:     LeaderStore(shared, b.tap),
		Transport: sync.NewPipe(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openFollower(t testing.TB, shared storage.Store, withSchema bool) (*Db, *Follower) {
	t.Helper()
	opts := Options{Config: Config{AppID: "app", Secret: tabSecret}, Store: FollowerStore(shared)}
	if withSchema {
		opts.Bundle = &bundle.Bundle{Version: bundle.Version, Schema: todosSchema(t)}
	}
	db, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, NewFollower(db)
}

func replayAll(t *testing.T, f *Follower, bs [][]byte) {
	t.Helper()
	for _, b := range bs {
		if err := f.Replay(context.Background(), b); err != nil {
			t.Fatalf("Replay(%s): %v", b, err)
		}
	}
}

func titles(t *testing.T, db *Db) []string {
	t.Helper()
	rows, err := db.All(&query.Query{Table: "todos"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r["title"].(string))
	}
	return out
}

// countingStore counts writes that reach the shared store.
type countingStore struct {
	storage.Store
	mu     gosync.Mutex
	writes int
}

func (c *countingStore) Apply(ctx context.Context, ops []storage.Op) error {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Store.Apply(ctx, ops)
}

func TestTabs_FollowerSeesLeaderPendingWriteWithoutWriting(t *testing.T) {
	ctx := context.Background()
	shared := &countingStore{Store: storage.NewMemory()}
	var b batches
	leader := openLeader(t, shared, &b)
	follower, f := openFollower(t, shared, true)
	if _, err := leader.Insert(ctx, "todos", map[string]any{"title": "milk", "n": 3}); err != nil {
		t.Fatal(err)
	}
	writes := shared.writes
	replayAll(t, f, b.take())
	if got := titles(t, follower); len(got) != 1 || got[0] != "milk" {
		t.Fatalf("follower sees %v", got)
	}
	rows, _ := follower.All(&query.Query{Table: "todos"})
	if n, ok := rows[0]["n"].(int64); !ok || n != 3 {
		t.Fatalf("int column came back as %T %v", rows[0]["n"], rows[0]["n"])
	}
	if shared.writes != writes {
		t.Fatal("the follower wrote to the shared store")
	}
}

// Rows the server sends reach the leader's sync client, which merges them;
// the follower has no connection and gets them only from the leader's
// batch. Its live query shows them. (The merge is made directly, as the
// sync client makes it on a rows frame: the frames are core/sync's tests.)
func TestTabs_FollowerSeesRowsTheLeaderMergedFromTheServer(t *testing.T) {
	ctx := context.Background()
	shared := &countingStore{Store: storage.NewMemory()}
	var b batches
	leader := openLeader(t, shared, &b)
	follower, f := openFollower(t, shared, true)
	seen := make(chan []string, 10)
	stop, err := follower.Subscribe(&query.Query{Table: "todos"}, func(u engine.Update) {
		var got []string
		for _, r := range u.Rows() {
			got = append(got, r["title"].(string))
		}
		seen <- got
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if got := <-seen; len(got) != 0 {
		t.Fatalf("first result = %v", got)
	}

	// The server's copy of a row another device wrote.
	other, err := Open(ctx, Options{
		Config: Config{AppID: "app", Secret: tabSecret},
		Bundle: &bundle.Bundle{Version: bundle.Version, Schema: todosSchema(t)},
		Store:  storage.NewMemory(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	row, err := other.Insert(ctx, "todos", map[string]any{"title": "from the server", "n": 7})
	if err != nil {
		t.Fatal(err)
	}
	st, ok := other.engine.State("todos", row.ID())
	if !ok {
		t.Fatal("no state for the row")
	}
	if err := leader.engine.Merge(ctx, []engine.RowState{st}, nil); err != nil {
		t.Fatal(err)
	}
	writes := shared.writes
	replayAll(t, f, b.take())
	select {
	case got := <-seen:
		if len(got) != 1 || got[0] != "from the server" {
			t.Fatalf("follower's live query = %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the follower's live query did not update")
	}
	if shared.writes != writes {
		t.Fatal("the follower wrote to the shared store")
	}
	if len(follower.Pending()) != 0 {
		t.Fatalf("a server row became a pending change on the follower: %v", follower.Pending())
	}
}

func TestTabs_AckSettlesAndReplayIsIdempotent(t *testing.T) {
	ctx := context.Background()
	shared := storage.NewMemory()
	var b batches
	leader := openLeader(t, shared, &b)
	follower, f := openFollower(t, shared, true)
	if _, err := leader.Insert(ctx, "todos", map[string]any{"title": "milk"}); err != nil {
		t.Fatal(err)
	}
	c := leader.Pending()[0]
	// The server's ack, as the sync client would merge it.
	if err := leader.Engine().Merge(ctx, nil, []engine.Acked{{ID: c.ID, Stamp: c.TS}}); err != nil {
		t.Fatal(err)
	}
	all := b.take()
	if len(all) != 2 {
		t.Fatalf("want a batch for the write and one for the ack, got %d", len(all))
	}
	for i := 0; i < 2; i++ {
		replayAll(t, f, all)
	}
	if got := titles(t, follower); len(got) != 1 {
		t.Fatalf("follower sees %v", got)
	}
	if len(follower.Pending()) != 0 {
		t.Fatal("follower has pending writes")
	}
}

// The server gives every change its own time, which may be long before
// the time the device gave it. A follower tab must then hold the change
// under the server's stamp, as the leader does: a later write the server
// ordered after it, but stamped before the device's time, still wins in
// every tab.
func TestTabs_FollowerHoldsAnAckedWriteUnderTheServersStamp(t *testing.T) {
	ctx := context.Background()
	shared := storage.NewMemory()
	var b batches
	leader := openLeader(t, shared, &b)
	follower, f := openFollower(t, shared, true)
	if _, err := leader.Insert(ctx, "todos", map[string]any{"title": "milk"}); err != nil {
		t.Fatal(err)
	}
	replayAll(t, f, b.take())
	c := leader.Pending()[0]

	// A server whose clock is an hour behind the device's.
	serverClock := clock.NewFake(time.UnixMilli(c.TS.Wall).Add(-time.Hour))
	srv, err := engine.Open(ctx, engine.Options{Bundle: &bundle.Bundle{Version: bundle.Version, Schema: todosSchema(t)},
		Store: storage.NewMemory(), Clock: serverClock, Node: "server", Sequenced: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sent := *c
	verdicts, err := srv.Submit(ctx, engine.Actor{Backend: true}, []*engine.Change{&sent})
	if err != nil || verdicts[0].Err != nil {
		t.Fatalf("submit: %v %v", err, verdicts)
	}
	st, _ := srv.State("todos", c.Row)
	if err := leader.Engine().Merge(ctx, []engine.RowState{st}, []engine.Acked{{ID: c.ID, Stamp: verdicts[0].Stamp}}); err != nil {
		t.Fatal(err)
	}
	serverClock.Advance(time.Minute)
	if _, err := srv.Update(ctx, engine.Actor{Backend: true}, "todos", c.Row, map[string]any{"title": "tea"}); err != nil {
		t.Fatal(err)
	}
	st, _ = srv.State("todos", c.Row)
	if err := leader.Engine().Merge(ctx, []engine.RowState{st}, nil); err != nil {
		t.Fatal(err)
	}
	replayAll(t, f, b.take())
	for name, db := range map[string]*Db{"leader": leader, "follower": follower} {
		if got := titles(t, db); len(got) != 1 || got[0] != "tea" {
			t.Errorf("%s sees %v, want the server's later write", name, got)
		}
	}
}

func TestTabs_RejectedChangeShownFromBatchRollsBackInPlace(t *testing.T) {
	ctx := context.Background()
	shared := storage.NewMemory()
	var b batches
	leader := openLeader(t, shared, &b)
	follower, f := openFollower(t, shared, true)
	if _, err := leader.Insert(ctx, "todos", map[string]any{"title": "milk"}); err != nil {
		t.Fatal(err)
	}
	replayAll(t, f, b.take())
	if got := titles(t, follower); len(got) != 1 {
		t.Fatalf("follower sees %v before the rejection", got)
	}
	if err := leader.Engine().Reject(ctx, leader.Pending()[0].ID); err != nil {
		t.Fatal(err)
	}
	replayAll(t, f, b.take())
	if got := titles(t, follower); len(got) != 0 {
		t.Fatalf("after the rejection the follower still sees %v", got)
	}
}

func TestTabs_RejectedChangeLoadedAsPendingRollsBackInPlace(t *testing.T) {
	ctx := context.Background()
	shared := storage.NewMemory()
	var b batches
	leader := openLeader(t, shared, &b)
	if _, err := leader.Insert(ctx, "todos", map[string]any{"title": "milk"}); err != nil {
		t.Fatal(err)
	}
	b.take()
	follower, f := openFollower(t, shared, true) // loads the write from the outbox
	if got := titles(t, follower); len(got) != 1 {
		t.Fatalf("follower opened after the write sees %v", got)
	}
	if err := leader.Engine().Reject(ctx, leader.Pending()[0].ID); err != nil {
		t.Fatal(err)
	}
	replayAll(t, f, b.take())
	if got := titles(t, follower); len(got) != 0 {
		t.Fatalf("rejected write still shown: %v", got)
	}
}

// The tap decodes the engine's own bucket layout: if the engine renames a
// bucket, this fails.
func TestTabs_BatchSeesEngineWrites(t *testing.T) {
	ctx := context.Background()
	var got [][]storage.Op
	var mu gosync.Mutex
	rec := &recordingStore{Store: storage.NewMemory(), rec: func(ops []storage.Op) { mu.Lock(); got = append(got, ops); mu.Unlock() }}
	var b batches
	leader := openLeader(t, rec, &b)
	if _, err := leader.Insert(ctx, "todos", map[string]any{"title": "milk"}); err != nil {
		t.Fatal(err)
	}
	c := leader.Pending()[0]
	if err := leader.Engine().Merge(ctx, nil, []engine.Acked{{ID: c.ID, Stamp: c.TS}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ops := range got {
		for _, op := range ops {
			seen[op.Bucket] = true
		}
	}
	for _, bucket := range []string{tabBucketRows, tabBucketApplied, tabBucketOutbox} {
		if !seen[bucket] {
			t.Errorf("the engine never wrote bucket %q: tabs.go is out of date (saw %v)", bucket, seen)
		}
	}
}

// The leader packs its tables (engine/pack.go) and a compaction, which
// changes no row, sends other tabs nothing: one batch per insert, each
// with its row, and nothing for the compactions in between.
func TestTabs_LeaderCompactsWithoutBatchesForFollowers(t *testing.T) {
	ctx := context.Background()
	shared := storage.NewMemory()
	var b batches
	leader, err := Open(ctx, Options{
		Config:   Config{AppID: "app", Secret: tabSecret},
		Bundle:   &bundle.Bundle{Version: bundle.Version, Schema: todosSchema(t)},
		Store:    LeaderStore(shared, b.tap),
		PackRows: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	const n = 1200
	for i := 0; i < n; i++ {
		if _, err := leader.Insert(ctx, "todos", map[string]any{"title": "t"}); err != nil {
			t.Fatal(err)
		}
	}
	packs := 0
	if err := shared.Scan(ctx, "packs", nil, func(_, _ []byte) error { packs++; return nil }); err != nil || packs == 0 {
		t.Fatalf("the leader wrote %d packs (%v)", packs, err)
	}
	sent := b.take()
	if len(sent) != n {
		t.Fatalf("%d batches for %d inserts", len(sent), n)
	}
	follower, f := openFollower(t, storage.NewMemory(), true)
	replayAll(t, f, sent)
	if got := len(titles(t, follower)); got != n {
		t.Fatalf("the follower has %d rows, want %d", got, n)
	}
}

type recordingStore struct {
	storage.Store
	rec func([]storage.Op)
}

func (r *recordingStore) Apply(ctx context.Context, ops []storage.Op) error {
	r.rec(ops)
	return r.Store.Apply(ctx, ops)
}

// A tab that learns a table after opening sees the writes queued for it
// (by an earlier session or the leader tab) through UseSchema alone.
func TestTabs_UseSchemaRestoresWritesQueuedForTheTable(t *testing.T) {
	ctx := context.Background()
	shared := storage.NewMemory()
	var b batches
	leader := openLeader(t, shared, &b)
	if _, err := leader.Insert(ctx, "todos", map[string]any{"title": "queued"}); err != nil {
		t.Fatal(err)
	}
	later, _ := openFollower(t, shared, false)
	if err := later.UseSchema(ctx, todosSchema(t)); err != nil {
		t.Fatal(err)
	}
	if p := later.Pending(); len(p) != 1 || p[0].Values["title"] != "queued" {
		t.Fatalf("pending after UseSchema = %+v", p)
	}
	rows, err := later.All(&query.Query{Table: "todos"})
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows after UseSchema = %v, %v", rows, err)
	}
}

func TestTabs_LeaderStoreLeavesTheSharedStoreOpen(t *testing.T) {
	shared := storage.NewMemory()
	var b batches
	leader := openLeader(t, shared, &b)
	leader.Close()
	if err := shared.Apply(context.Background(), []storage.Op{storage.Put("x", []byte("k"), nil)}); err != nil {
		t.Fatalf("closing the Db closed the shared store: %v", err)
	}
}

func TestTabs_MirrorAuthError(t *testing.T) {
	db, _ := openFollower(t, storage.NewMemory(), true)
	var seen []AuthError
	stop := db.OnAuthChanged(func(s AuthState) { seen = append(seen, s.Error) })
	defer stop()
	db.MirrorAuthError(AuthExpired)
	db.MirrorAuthError("")
	if len(seen) != 2 || seen[0] != AuthExpired || seen[1] != "" {
		t.Fatalf("auth changes = %v", seen)
	}
}

func TestTabs_StorageNameIsPerAppAndUser(t *testing.T) {
	jwt := func(sub string) string {
		return b64(`{"alg":"none"}`) + "." + b64(`{"sub":"`+sub+`"}`) + ".sig"
	}
	lf, id, err := StorageName(Config{AppID: "app", Secret: tabSecret})
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := identity.FromSecret(tabSecret); id == nil || id.UserID != want.UserID || lf != "jazz:app:"+want.UserID {
		t.Errorf("local-first: name %q, identity %+v; want the user %s", lf, id, want.UserID)
	}
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{AppID: "app"}, "jazz:app:anonymous"},
		{Config{AppID: "other"}, "jazz:other:anonymous"},
		{Config{AppID: "app", JWTToken: jwt("alice")}, "jazz:app:alice"},
		{Config{AppID: "app", JWTToken: jwt("bob")}, "jazz:app:bob"},
	}
	for _, c := range cases {
		if got, id, err := StorageName(c.cfg); err != nil || got != c.want || id != nil {
			t.Errorf("StorageName(%+v) = %q, %v, %v; want %q and no identity", c.cfg, got, id, err, c.want)
		}
	}
	if lf == "jazz:app:anonymous" || len(lf) <= len("jazz:app:") {
		t.Errorf("local-first name %q does not name the user", lf)
	}
	if _, _, err := StorageName(Config{AppID: "app", Secret: "short"}); !errors.Is(err, ErrConfig) {
		t.Errorf("bad secret: %v", err)
	}
}

// A Db given Options.Background does not dial until the work handed to it
// runs, and then does; a Db given Options.Identity uses it.
func TestOpen_BackgroundStartsSyncAndIdentityIsUsed(t *testing.T) {
	cfg := Config{AppID: "app", Secret: tabSecret, ServerURL: "ws://server.test"}
	_, id, err := StorageName(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pipe := sync.NewPipe()
	var later []func()
	db, err := Open(context.Background(), Options{
		Config: cfg, Transport: pipe, Identity: id,
		Background: func(f func()) { later = append(later, f) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.GetAuthState().Session.UserID; got != id.UserID {
		t.Errorf("user %q, want %q", got, id.UserID)
	}
	if db.id != id {
		t.Error("Open derived the identity again instead of using Options.Identity")
	}
	if len(later) != 1 {
		t.Fatalf("Background got %d functions, want 1", len(later))
	}
	time.Sleep(20 * time.Millisecond)
	if n := pipe.Dials(); n != 0 {
		t.Fatalf("dialed %d times before the background work ran", n)
	}
	later[0]()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pipe.Accept(ctx); err != nil {
		t.Fatalf("no connection once the background work ran: %v", err)
	}
}

// A retained server query on a table the Db does not know yet (another
// tab's query reaching the leader before the leader's own UseSchema has
// loaded the table) is subscribed at the server once UseSchema adds the
// table, not dropped.
func TestRetainServerQuery_BeforeUseSchemaIsSentAfterIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pipe := sync.NewPipe()
	db, err := Open(ctx, Options{Config: Config{AppID: "app", Secret: tabSecret, ServerURL: "ws://server.test"}, Transport: pipe})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := pipe.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	read := func() *protocol.Frame {
		t.Helper()
		b, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f, err := protocol.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := read(); f.Type != protocol.THello {
		t.Fatalf("first frame %q", f.Type)
	}
	welcome, _ := protocol.Encode(protocol.TWelcome, &protocol.Welcome{V: protocol.Version, Session: &session.Session{UserID: db.GetAuthState().Session.UserID, AuthMode: session.LocalFirst}})
	if err := conn.Write(ctx, welcome); err != nil {
		t.Fatal(err)
	}
	q := &query.Query{Table: "todos"}
	db.RetainServerQuery(q) // todos is not known yet
	if err := db.UseSchema(ctx, todosSchema(t)); err != nil {
		t.Fatal(err)
	}
	for {
		f := read()
		if f.Type == protocol.TSub {
			if s := f.Body.(*protocol.Sub); s.Query.Table != "todos" {
				t.Fatalf("subscribed %+v", s.Query)
			}
			return
		}
	}
}

// A Db deletes the applied-change ids earlier Dbs logged once it has saved
// its first result, so never on the way to the page's first result.
func TestSaveResult_ThenSweepsTheAppliedLog(t *testing.T) {
	ctx := context.Background()
	shared := storage.NewMemory()
	logged := func() int {
		n := 0
		if err := shared.Scan(ctx, tabBucketApplied, nil, func(_, _ []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := shared.Apply(ctx, []storage.Op{
		storage.Put(tabBucketApplied, []byte("c1"), nil), storage.Put(tabBucketApplied, []byte("c2"), nil),
	}); err != nil {
		t.Fatal(err)
	}
	all, err := query.Decode([]byte(`{"table":"todos"}`))
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, Options{Config: Config{AppID: "app", Secret: tabSecret},
		Bundle: &bundle.Bundle{Version: bundle.Version, Schema: todosSchema(t)}, Store: LeaderStore(shared, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := logged(); n != 2 {
		t.Fatalf("%d ids after Open, want 2 (nothing is swept before a result is saved)", n)
	}
	if ok, err := db.SaveResult(ctx, all, nil, db.Engine().Stamp(), []byte(`[]`)); !ok || err != nil {
		t.Fatalf("save: %v %v", ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for logged() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := logged(); n != 0 {
		t.Fatalf("%d applied ids left after the first saved result", n)
	}
}
