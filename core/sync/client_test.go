package sync

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

func TestHandshake_OfflineWritesPushedAfterWelcome(t *testing.T) {
	e := newEnv(t, nil)
	// Written before Start: they wait in the outbox.
	e.insert("a")
	e.clock.Advance(time.Millisecond)
	e.insert("b")
	want := e.pendingIDs()
	e.c.Start()
	s := e.accept()
	if s.c.URL() != "ws://jazz.test/apps/app1/ws" {
		t.Fatalf("dialed %q", s.c.URL())
	}
	h := s.expect(protocol.THello).(*protocol.Hello)
	if h.V != protocol.Version || h.AppID != "app1" || h.Auth.Bearer != "tok-1" {
		t.Fatalf("hello = %+v", h)
	}
	s.send(protocol.TWelcome, &protocol.Welcome{V: 1, Session: aliceSess})
	p := s.expect(protocol.TPush).(*protocol.Push)
	if got := changeIDs(p); !slices.Equal(got, want) {
		t.Fatalf("pushed %v, want %v (oldest first)", got, want)
	}
	e.waitStatus(Connected)
	if e.c.Session().UserID != "alice" {
		t.Fatalf("session = %+v", e.c.Session())
	}
}

func TestPush_BatchesOfAtMostMaxChanges(t *testing.T) {
	e := newEnv(t, nil)
	n := 2*protocol.MaxChangesPerPush + 7
	for i := 0; i < n; i++ {
		if _, err := e.db.Insert(bg, alice, "todos", map[string]any{"title": "x", "done": false, "owner_id": "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	want := e.pendingIDs()
	e.c.Start()
	s := e.connect()
	var got []string
	for _, size := range []int{protocol.MaxChangesPerPush, protocol.MaxChangesPerPush, 7} {
		p := s.expect(protocol.TPush).(*protocol.Push)
		if len(p.Changes) != size {
			t.Fatalf("push of %d changes, want %d", len(p.Changes), size)
		}
		got = append(got, changeIDs(p)...)
	}
	if !slices.Equal(got, want) {
		t.Fatal("changes were not pushed oldest first, each once")
	}
}

func TestAck_MergesAndClearsOutbox(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.connect()
	row := e.insert("milk")
	id := e.pendingIDs()[0]
	wait := e.c.WaitFor(id)
	s.serve(s.expect(protocol.TPush).(*protocol.Push))
	if err := <-wait; err != nil {
		t.Fatalf("WaitFor = %v", err)
	}
	if p := e.db.Pending(); len(p) != 0 {
		t.Fatalf("%d changes still pending after the ack", len(p))
	}
	if _, ok := e.db.State("todos", row.ID()); !ok {
		t.Fatal("the acked row is not in the confirmed base")
	}
	// Settled before the call: answered at once.
	if err := <-e.c.WaitFor(id); err != nil {
		t.Fatalf("late WaitFor = %v", err)
	}
}

func TestReject_RollsBackAndReportsTypedError(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.connect()
	row := e.insert("secret")
	id := e.pendingIDs()[0]
	wait := e.c.WaitFor(id)
	s.expect(protocol.TPush)
	s.send(protocol.TReject, &protocol.Reject{ID: id, Error: protocol.ErrorBodyFrom(
		&policy.AnonymousWriteDeniedError{Table: "todos", Operation: policy.Operation("insert")})})
	err := <-wait
	var anon *policy.AnonymousWriteDeniedError
	if !errors.As(err, &anon) || anon.Table != "todos" {
		t.Fatalf("WaitFor = %v, want an AnonymousWriteDeniedError", err)
	}
	var remote *protocol.RemoteError
	if !errors.As(err, &remote) {
		t.Fatalf("WaitFor = %T, want a *protocol.RemoteError", err)
	}
	if _, err := e.db.Get(alice, "todos", row.ID()); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("rejected row still visible: %v", err)
	}
	if len(e.db.Pending()) != 0 {
		t.Fatal("rejected change still pending")
	}
	eventually(t, "OnReject", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return slices.Equal(e.rejects, []string{id})
	})
	if err := <-e.c.WaitFor(id); !errors.As(err, &anon) {
		t.Fatalf("late WaitFor = %v", err)
	}
}

func TestPush_NeverResendsWhatIsInFlight(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.connect()
	e.insert("a")
	p1 := s.expect(protocol.TPush).(*protocol.Push)
	e.c.Notify()
	e.c.Notify()
	e.insert("b")
	p2 := s.expect(protocol.TPush).(*protocol.Push)
	if len(p1.Changes) != 1 || len(p2.Changes) != 1 || p1.Changes[0].ID == p2.Changes[0].ID {
		t.Fatalf("pushes %v then %v: a change in flight was sent again", changeIDs(p1), changeIDs(p2))
	}
	s.serve(p1)
	s.serve(p2)
	eventually(t, "outbox to drain", func() bool { return len(e.db.Pending()) == 0 })
}

func TestRows_MergedCursorPersistedAndResumed(t *testing.T) {
	e := newEnv(t, nil)
	q := mustQuery(t, `{"table":"todos"}`)
	if err := e.c.Subscribe("mine", q); err != nil {
		t.Fatal(err)
	}
	r1, _ := e.srv.Insert(bg, alice, "todos", map[string]any{"title": "one", "done": false, "owner_id": "alice"})
	r2, _ := e.srv.Insert(bg, alice, "todos", map[string]any{"title": "two", "done": true, "owner_id": "alice"})
	st1, _ := e.srv.State("todos", r1.ID())
	st2, _ := e.srv.State("todos", r2.ID())
	e.c.Start()
	s := e.connect()
	sub := s.expect(protocol.TSub).(*protocol.Sub)
	if sub.ID != "mine" || sub.Cursor != 0 || sub.Query.Table != "todos" {
		t.Fatalf("sub = %+v", sub)
	}
	// A result in two frames: each cursor is saved once its rows merged.
	s.send(protocol.TRows, &protocol.Rows{Sub: "mine", Rows: []engine.RowState{st1}, Cursor: 1})
	eventually(t, "cursor 1", func() bool { sc, _ := storedCursorOf(t, e.store, "mine"); return sc.Cursor == 1 })
	if _, err := e.db.Get(alice, "todos", r1.ID()); err != nil {
		t.Fatalf("cursor saved but row one not merged: %v", err)
	}
	s.send(protocol.TRows, &protocol.Rows{Sub: "mine", Rows: []engine.RowState{st2}, Cursor: 2, Complete: true})
	eventually(t, "cursor 2", func() bool { sc, _ := storedCursorOf(t, e.store, "mine"); return sc.Cursor == 2 })
	if got, _ := e.db.Get(alice, "todos", r2.ID()); got["done"] != true {
		t.Fatalf("row two = %v", got)
	}
	// Live changes move the cursor on.
	upd, _ := e.srv.Update(bg, alice, "todos", r1.ID(), map[string]any{"done": true})
	st1b, _ := e.srv.State("todos", upd.ID())
	s.send(protocol.TRows, &protocol.Rows{Sub: "mine", Rows: []engine.RowState{st1b}, Cursor: 3})
	eventually(t, "cursor 3", func() bool { sc, _ := storedCursorOf(t, e.store, "mine"); return sc.Cursor == 3 })
	// A cursor that goes backwards is not saved.
	s.send(protocol.TRows, &protocol.Rows{Sub: "mine", Rows: []engine.RowState{st1}, Cursor: 1})

	// The server goes away; the new connection resumes from the cursor.
	s.c.Close(protocol.CloseGoingAway, "restart")
	e.waitStatus(Offline)
	if sc, _ := storedCursorOf(t, e.store, "mine"); sc.Cursor != 3 {
		t.Fatalf("cursor went back to %d", sc.Cursor)
	}
	e.clock.Advance(DefaultMaxBackoff)
	s2 := e.connect()
	if sub := s2.expect(protocol.TSub).(*protocol.Sub); sub.ID != "mine" || sub.Cursor != 3 {
		t.Fatalf("resubscribed with %+v, want cursor 3", sub)
	}
	s2.send(protocol.TRows, &protocol.Rows{Sub: "mine", Cursor: 3, Complete: true})

	// Another query under the same id: the old one is unsubscribed first and
	// the new one starts over. Until its result is complete, frames may
	// still be the old query's, so no cursor is saved for it.
	if err := e.c.Subscribe("mine", mustQuery(t, `{"table":"todos","where":{"eq":[{"col":"done"},{"value":true}]}}`)); err != nil {
		t.Fatal(err)
	}
	s2.expect(protocol.TUnsub)
	if sub := s2.expect(protocol.TSub).(*protocol.Sub); sub.Cursor != 0 {
		t.Fatalf("changed query resumed from cursor %d", sub.Cursor)
	}
	r3, _ := e.srv.Insert(bg, alice, "todos", map[string]any{"title": "three", "done": true, "owner_id": "alice"})
	st3, _ := e.srv.State("todos", r3.ID())
	s2.send(protocol.TRows, &protocol.Rows{Sub: "mine", Rows: []engine.RowState{st3}, Cursor: 7})
	eventually(t, "row three", func() bool { _, err := e.db.Get(alice, "todos", r3.ID()); return err == nil })
	e.barrier() // the frame's handler has finished
	if sc, _ := storedCursorOf(t, e.store, "mine"); sc.Cursor != 3 || sc.Query != q.Key() {
		t.Fatalf("saved %+v before the new result was complete", sc)
	}
	s2.send(protocol.TRows, &protocol.Rows{Sub: "mine", Cursor: 8, Complete: true})
	eventually(t, "new cursor", func() bool { sc, _ := storedCursorOf(t, e.store, "mine"); return sc.Cursor == 8 && sc.Query != q.Key() })

	e.c.Unsubscribe("mine")
	if u := s2.expect(protocol.TUnsub).(*protocol.Unsub); u.ID != "mine" {
		t.Fatalf("unsub = %+v", u)
	}
}

func TestSubscribe_Validates(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.c.Subscribe("", mustQuery(t, `{"table":"todos"}`)); err == nil {
		t.Fatal("empty id accepted")
	}
	if err := e.c.Subscribe("x", mustQuery(t, `{"table":"nope"}`)); err == nil {
		t.Fatal("unknown table accepted")
	}
}

func TestSubscribe_RefusesOneOverTheServerLimit(t *testing.T) {
	e := newEnv(t, nil)
	q := mustQuery(t, `{"table":"todos"}`)
	for i := range protocol.MaxSubscriptions {
		if err := e.c.Subscribe("s"+strconv.Itoa(i), q); err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
	}
	err := e.c.Subscribe("one-more", q)
	if !errors.Is(err, ErrTooManySubscriptions) || err.Error() != "sync: at most 256 subscriptions" {
		t.Fatalf("subscription %d: %v, want ErrTooManySubscriptions", protocol.MaxSubscriptions+1, err)
	}
	if err := e.c.Subscribe("s0", q); err != nil {
		t.Fatalf("re-subscribing an existing id at the limit: %v", err)
	}
}

func TestHeartbeat_PingsAndRedialsADeadConnection(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.connect() // welcomed at t0
	e.clock.Advance(DefaultHeartbeatInterval)
	if p := s.expect(protocol.TPing).(*protocol.Ping); p.N != 1 {
		t.Fatalf("ping %d", p.N)
	}
	// Any frame proves the server alive: this one, handled at t0+15s,
	// pushes the deadline to t0+45s.
	r, _ := e.srv.Insert(bg, alice, "todos", map[string]any{"title": "x", "done": false, "owner_id": "alice"})
	st, _ := e.srv.State("todos", r.ID())
	s.send(protocol.TRows, &protocol.Rows{Sub: "other", Rows: []engine.RowState{st}, Cursor: 1})
	eventually(t, "row", func() bool { _, err := e.db.Get(alice, "todos", r.ID()); return err == nil })
	e.clock.Advance(DefaultHeartbeatInterval) // t0+30s
	if p := s.expect(protocol.TPing).(*protocol.Ping); p.N != 2 {
		t.Fatalf("ping %d", p.N)
	}
	if e.c.Status() != Connected {
		t.Fatal("connection dropped although the server spoke 15 s ago")
	}
	e.clock.Advance(DefaultHeartbeatInterval) // t0+45s: 30 s of silence
	var ce *CloseError
	if err := s.readErr(); !errors.As(err, &ce) {
		t.Fatalf("connection ended with %v, want a close", err)
	}
	e.waitStatus(Offline)
	e.clock.Advance(DefaultMaxBackoff)
	e.connect()
	if d := e.pipe.Dials(); d != 2 {
		t.Fatalf("%d dials, want 2", d)
	}
}

func TestServerDiesMidPush_SameChangeResentAndAppliedOnce(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.connect()
	e.insert("milk")
	p := s.expect(protocol.TPush).(*protocol.Push)
	// The server applies the change and dies before acking.
	if _, err := e.srv.Submit(bg, alice, p.Changes); err != nil {
		t.Fatal(err)
	}
	seq := e.srv.Seq()
	s.c.Close(1011, "crash")
	e.waitStatus(Offline)
	if len(e.db.Pending()) != 1 {
		t.Fatal("the unacknowledged change left the outbox")
	}
	e.clock.Advance(DefaultMaxBackoff)
	s2 := e.connect()
	p2 := s2.expect(protocol.TPush).(*protocol.Push)
	if !slices.Equal(changeIDs(p2), changeIDs(p)) {
		t.Fatalf("resent %v, want the same change %v", changeIDs(p2), changeIDs(p))
	}
	s2.serve(p2)
	eventually(t, "ack", func() bool { return len(e.db.Pending()) == 0 })
	if e.srv.Seq() != seq {
		t.Fatal("the server applied the resent change twice")
	}
	rows, _ := e.db.All(alice, mustQuery(t, `{"table":"todos"}`))
	srvRows, _ := e.srv.All(alice, mustQuery(t, `{"table":"todos"}`))
	if len(rows) != 1 || len(srvRows) != 1 {
		t.Fatalf("client has %d rows, server %d; want 1 each", len(rows), len(srvRows))
	}
}

func TestProtocolError_ReconnectsWithBackoff(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.connect()
	s.send(protocol.TError, &protocol.Error{Error: "protocol", Code: "bad_frame", Message: "no"})
	s.c.Close(protocol.CloseProtocolError, "bad frame")
	e.waitStatus(Offline)
	e.clock.Advance(DefaultMaxBackoff)
	e.connect()
}

// A frame that decodes but makes no sense now is a protocol violation; one
// that does not decode is skipped instead (badframe_test.go).
func TestUnexpectedServerFrame_DropsWith4400AndReconnects(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.connect()
	if err := s.c.Write(bg, []byte(`{"t":"welcome","v":1,"session":null}`)); err != nil {
		t.Fatal(err)
	}
	var ce *CloseError
	if err := s.readErr(); !errors.As(err, &ce) || ce.Code != protocol.CloseProtocolError {
		t.Fatalf("closed with %v, want 4400", err)
	}
	e.waitStatus(Offline)
	e.clock.Advance(DefaultMaxBackoff)
	e.connect()
}

func TestUnknownApp_IsFatal(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.accept()
	s.expect(protocol.THello)
	s.send(protocol.TError, &protocol.Error{Error: "not_found", Code: "unknown_app", Message: "no app1"})
	s.c.Close(protocol.CloseWrongApp, "unknown app")
	eventually(t, "OnFatal", func() bool { e.mu.Lock(); defer e.mu.Unlock(); return len(e.fatals) == 1 })
	e.mu.Lock()
	err := e.fatals[0]
	e.mu.Unlock()
	if !errors.Is(err, ErrUnknownApp) || e.c.Status() != Offline {
		t.Fatalf("fatal %v, status %v", err, e.c.Status())
	}
	e.barrier()
	if n := e.clock.Pending(); n != 0 {
		t.Fatalf("%d timers pending after a fatal error", n)
	}
	e.clock.Advance(time.Hour)
	e.barrier()
	if d := e.pipe.Dials(); d != 1 {
		t.Fatalf("%d dials, want 1", d)
	}
}

func TestClose_FromCallbackDoesNotDeadlock(t *testing.T) {
	var c *Client
	e := newEnv(t, func(o *Options) {
		o.OnStatus = func(s Status) {
			if s == Connected {
				c.Close()
			}
		}
	})
	c = e.c
	e.c.Start()
	e.accept().handshake()
	e.waitStatus(Closed)
}

func TestWaitFor_UnknownAndAfterClose(t *testing.T) {
	e := newEnv(t, nil)
	if err := <-e.c.WaitFor("not-a-change"); err != nil {
		t.Fatalf("unknown id: %v", err)
	}
	e.insert("x")
	w := e.c.WaitFor(e.pendingIDs()[0])
	e.c.Start()
	e.c.Close()
	if err := <-w; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending at Close: %v", err)
	}
	if err := <-e.c.WaitFor("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// Cursors are saved with the scope they arrived under and sent back with
// it; after an authed with a new scope (the claims changed, and the server
// sends every result again from the start) the lower cursors of the new
// results are saved, under the new scope.
func TestRows_CursorSavedWithItsScope(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.c.Subscribe("mine", mustQuery(t, `{"table":"todos"}`)); err != nil {
		t.Fatal(err)
	}
	e.c.Start()
	welcome := func(scope string) *sconn {
		s := e.accept()
		s.expect(protocol.THello)
		s.send(protocol.TWelcome, &protocol.Welcome{V: protocol.Version, Session: aliceSess, Scope: scope})
		e.waitStatus(Connected)
		return s
	}
	s := welcome("org-a")
	if sub := s.expect(protocol.TSub).(*protocol.Sub); sub.Cursor != 0 || sub.Scope != "" {
		t.Fatalf("first sub = %+v", sub)
	}
	s.send(protocol.TRows, &protocol.Rows{Sub: "mine", Cursor: 5, Complete: true})
	eventually(t, "cursor 5", func() bool { sc, _ := storedCursorOf(t, e.store, "mine"); return sc.Cursor == 5 && sc.Scope == "org-a" })

	s.send(protocol.TAuthed, &protocol.Authed{Session: aliceSess, Scope: "org-b"})
	s.send(protocol.TRows, &protocol.Rows{Sub: "mine", Cursor: 2})
	eventually(t, "cursor 2 under org-b", func() bool { sc, _ := storedCursorOf(t, e.store, "mine"); return sc.Cursor == 2 && sc.Scope == "org-b" })

	s.c.Close(protocol.CloseGoingAway, "restart")
	e.waitStatus(Offline)
	e.clock.Advance(DefaultMaxBackoff)
	s2 := welcome("org-b")
	if sub := s2.expect(protocol.TSub).(*protocol.Sub); sub.Cursor != 2 || sub.Scope != "org-b" {
		t.Fatalf("resubscribed with %+v, want cursor 2 under org-b", sub)
	}
}
