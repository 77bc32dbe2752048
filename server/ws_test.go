package server

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"nhooyr.io/websocket"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/server/auth"
)

func TestWS_HandshakeWelcomesEachAuthMode(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	impersonated, _ := auth.EncodeSessionHeader(&session.Session{UserID: "carol", AuthMode: session.External})
	cases := []struct {
		name      string
		auth      protocol.Auth
		user      string
		mode      session.AuthMode
		expiresAt int64
	}{
		{"anonymous", protocol.Auth{}, "anonymous:", session.Anonymous, 0},
		{"local-first", protocol.Auth{Bearer: f.token(t, alice, time.Hour)}, alice.UserID, session.LocalFirst, t0.Add(time.Hour).UnixMilli()},
		{"external", protocol.Auth{Bearer: f.extToken(t, "ext-1", 30*time.Minute, nil)}, "ext-1", session.External, t0.Add(30 * time.Minute).UnixMilli()},
		{"impersonation", protocol.Auth{BackendSecret: testBackendSecret, Session: impersonated}, "carol", session.External, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, w := f.hello(t, tc.auth)
			if w.V != protocol.Version || !strings.HasPrefix(w.Session.UserID, tc.user) || w.Session.AuthMode != tc.mode || w.ExpiresAt != tc.expiresAt {
				t.Fatalf("welcome = %s", mustJSON(w))
			}
		})
	}
}

func TestWS_HandshakeRefusalsSendAnErrorThenClose(t *testing.T) {
	f := newFixture(t)
	plain := newFixture(t, withResolver(&auth.Resolver{}))
	alice := newUser(t)
	expired, _ := alice.MintToken(testApp, t0.Add(-2*time.Hour), time.Hour)
	hello := func(a protocol.Auth) string {
		b, _ := protocol.Encode(protocol.THello, protocol.Hello{V: 1, AppID: testApp, Auth: a})
		return string(b)
	}
	cases := []struct {
		name      string
		fx        *fixture
		path      string
		first     string
		errName   string
		errCode   string
		closeCode websocket.StatusCode
	}{
		{"empty bearer", f, testApp, `{"t":"hello","v":1,"appId":"test-app","auth":{"bearer":" "}}`, "unauthenticated", "missing", protocol.CloseUnauthenticated},
		{"session without secret", f, testApp, hello(protocol.Auth{Session: "eyJ1c2VyX2lkIjoieCJ9"}), "unauthenticated", "missing", protocol.CloseUnauthenticated},
		{"bad token", f, testApp, hello(protocol.Auth{Bearer: "a.b.c"}), "unauthenticated", "invalid", protocol.CloseUnauthenticated},
		{"expired token", f, testApp, hello(protocol.Auth{Bearer: expired}), "unauthenticated", "expired", protocol.CloseUnauthenticated},
		{"local-first disabled", plain, testApp, hello(protocol.Auth{Bearer: f.token(t, alice, time.Hour)}), "unauthenticated", "disabled", protocol.CloseUnauthenticated},
		{"unknown app in path", f, "other-app", hello(protocol.Auth{}), "not_found", "unknown_app", protocol.CloseWrongApp},
		{"unknown app in hello", f, testApp, `{"t":"hello","v":1,"appId":"other-app","auth":{}}`, "not_found", "unknown_app", protocol.CloseWrongApp},
		{"first frame not hello", f, testApp, `{"t":"ping","n":1}`, "protocol", "bad_frame", protocol.CloseProtocolError},
		{"wrong version", f, testApp, `{"t":"hello","v":2,"appId":"test-app","auth":{}}`, "protocol", protocol.CodeUnsupportedVersion, protocol.CloseProtocolError},
		{"not json", f, testApp, `hello`, "protocol", "bad_frame", protocol.CloseProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := tc.fx.dial(t, tc.path)
			if tc.path == testApp {
				cl.sendRaw([]byte(tc.first))
			}
			e := expectFrame(t, cl, protocol.TError, wait).Body.(*protocol.Error)
			if e.Error != tc.errName || e.Code != tc.errCode || e.Message == "" {
				t.Fatalf("error = %+v, want %s/%s", e, tc.errName, tc.errCode)
			}
			expectClose(t, cl, tc.closeCode, wait)
		})
	}
}

func TestWS_MalformedFrameClosesOnlyThatConnection(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	bad, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	good, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	subscribe(t, good, "s", 0)
	bad.sendRaw([]byte(`{"t":"push","changes":[{"id":"x"}],"extra":true}`))
	e := expectFrame(t, bad, protocol.TError, wait).Body.(*protocol.Error)
	if e.Error != "protocol" || e.Code != "bad_frame" {
		t.Fatalf("error = %+v", e)
	}
	expectClose(t, bad, protocol.CloseProtocolError, wait)

	ack := push(t, good, newWriter(f.clk, "c").insert("still fine", alice.UserID, false))
	if len(ack.IDs) != 1 {
		t.Fatalf("ack = %s", mustJSON(ack))
	}
	expectFrame(t, good, protocol.TRows, wait)
}

func TestWS_OversizedFrameIsRefusedWithFrameTooLarge(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxFrameBytes = 4096 })
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	cl.sendRaw([]byte(`{"t":"ping","n":1,"pad":"` + strings.Repeat("x", 8000) + `"}`))
	e := expectFrame(t, cl, protocol.TError, wait).Body.(*protocol.Error)
	if e.Error != "protocol" || e.Code != "frame_too_large" {
		t.Fatalf("error = %+v", e)
	}
	expectClose(t, cl, protocol.CloseProtocolError, wait)
	if !strings.Contains(f.logs.String(), "frame_too_large") {
		t.Fatal("oversized frame not logged")
	}
	// The server is fine.
	other, _ := f.hello(t, protocol.Auth{})
	barrier(t, other, 1)
}

func TestWS_SubscriptionBudgetKeepsTheConnection(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	for i := range protocol.MaxSubscriptions {
		subscribe(t, cl, "s"+jsonUint(uint64(i)), 0)
	}
	cl.sendRaw([]byte(`{"t":"sub","id":"one-too-many","query":{"table":"notes"}}`))
	e := expectFrame(t, cl, protocol.TError, wait).Body.(*protocol.Error)
	if e.Code != protocol.CodeBudgetExceeded || e.Budget != BudgetSubscriptionsPerConnection || e.Limit != protocol.MaxSubscriptions {
		t.Fatalf("error = %+v", e)
	}
	// Re-subscribing an existing id replaces it and is allowed.
	cl.sendRaw([]byte(`{"t":"sub","id":"s0","query":{"table":"notes","limit":5}}`))
	expectFrame(t, cl, protocol.TRows, wait)
	cl.send(protocol.TUnsub, protocol.Unsub{ID: "s1"})
	subscribe(t, cl, "now-there-is-room", 0)
	barrier(t, cl, 7)
}

func TestWS_SubscriptionGetsInitialThenLiveRows(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	w := newWriter(f.clk, "c")
	writer, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	first := w.insert("first", alice.UserID, false)
	push(t, writer, first)

	reader, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	initial := subscribe(t, reader, "mine", 0)
	if len(initial.Rows) != 1 || initial.Rows[0].ID != first.Row || initial.Cursor != 1 {
		t.Fatalf("initial = %s", mustJSON(initial))
	}
	second := w.insert("second", alice.UserID, false)
	push(t, writer, second)
	live := expectFrame(t, reader, protocol.TRows, wait).Body.(*protocol.Rows)
	if live.Sub != "mine" || live.Complete || len(live.Rows) != 1 || live.Rows[0].ID != second.Row || live.Cursor != 2 {
		t.Fatalf("live = %s", mustJSON(live))
	}
	if live.Rows[0].Cells["title"].V != "second" {
		t.Fatalf("live row = %s", mustJSON(live.Rows[0]))
	}
	// Unsubscribed: nothing more arrives.
	reader.send(protocol.TUnsub, protocol.Unsub{ID: "mine"})
	barrier(t, reader, 1)
	push(t, writer, w.insert("third", alice.UserID, false))
	if got := barrier(t, reader, 2); len(got) != 0 {
		t.Fatalf("frames after unsub: %s", mustJSON(got))
	}
}

func TestWS_ResumeFromCursorGetsOnlyLaterRowsIncludingTombstones(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	w := newWriter(f.clk, "c")
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	n0, n1, n2 := w.insert("n0", alice.UserID, false), w.insert("n1", alice.UserID, false), w.insert("n2", alice.UserID, false)
	push(t, cl, n0, n1, n2)
	cursor := f.seq(t)
	n3 := w.insert("n3", alice.UserID, false)
	push(t, cl, w.update(n1.Row, map[string]any{"title": "n1 edited"}), w.delete(n2.Row), n3)

	again, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	r := subscribe(t, again, "resume", cursor)
	got := map[string]engine.RowState{}
	for _, st := range r.Rows {
		got[st.ID] = st
	}
	if len(got) != 3 || got[n0.Row].ID != "" {
		t.Fatalf("resumed rows = %v, want n1, n2, n3 only", rowIDs(r.Rows))
	}
	if got[n1.Row].Cells["title"].V != "n1 edited" {
		t.Fatalf("n1 = %s", mustJSON(got[n1.Row]))
	}
	if _, dead := got[n2.Row].Cells["$deleted"]; !dead {
		t.Fatalf("n2 is not a tombstone: %s", mustJSON(got[n2.Row]))
	}
	if r.Cursor != f.seq(t) {
		t.Fatalf("cursor = %d, want %d", r.Cursor, f.seq(t))
	}
	// A live delete arrives as a bare tombstone.
	push(t, cl, w.delete(n3.Row))
	live := expectFrame(t, again, protocol.TRows, wait).Body.(*protocol.Rows)
	if len(live.Rows) != 1 || live.Rows[0].ID != n3.Row || len(live.Rows[0].Cells) != 1 {
		t.Fatalf("live delete = %s", mustJSON(live))
	}
	if _, dead := live.Rows[0].Cells["$deleted"]; !dead {
		t.Fatalf("live delete = %s", mustJSON(live))
	}
}

func TestWS_PushStampsAuthorFromSessionNotFromTheChange(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	ch := newWriter(f.clk, "c").insert("mine", alice.UserID, false) // By: "mallory"
	ack := push(t, cl, ch)
	if len(ack.IDs) != 1 || ack.IDs[0] != ch.ID || len(ack.Rows) != 1 {
		t.Fatalf("ack = %s", mustJSON(ack))
	}
	cells := ack.Rows[0].Cells
	if cells["$createdBy"].V != alice.UserID || cells["$updatedBy"].V != alice.UserID {
		t.Fatalf("authorship = %v / %v, want %s", cells["$createdBy"].V, cells["$updatedBy"].V, alice.UserID)
	}
}

func TestWS_AnonymousPushIsRejectedWithTableAndOperation(t *testing.T) {
	f := newFixture(t)
	cl, _ := f.hello(t, protocol.Auth{})
	w := newWriter(f.clk, "c")
	ch := w.insert("nope", "whoever", true)
	cl.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{ch}})
	r := expectFrame(t, cl, protocol.TReject, wait).Body.(*protocol.Reject)
	if r.ID != ch.ID || r.Error.Name != protocol.NameAnonymousWriteDenied || r.Error.Table != "notes" || r.Error.Operation != "insert" {
		t.Fatalf("reject = %s", mustJSON(r))
	}
	if f.seq(t) != 0 {
		t.Fatal("anonymous write applied")
	}
}

func TestWS_PolicyDenialIsRejectedAndTheRestOfTheBatchAcked(t *testing.T) {
	f := newFixture(t)
	alice, bob := newUser(t), newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	w := newWriter(f.clk, "c")
	ok, forged := w.insert("mine", alice.UserID, false), w.insert("as bob", bob.UserID, false)
	cl.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{forged, ok}})
	ack := expectFrame(t, cl, protocol.TAck, wait).Body.(*protocol.Ack)
	if len(ack.IDs) != 1 || ack.IDs[0] != ok.ID {
		t.Fatalf("ack = %s", mustJSON(ack))
	}
	r := expectFrame(t, cl, protocol.TReject, wait).Body.(*protocol.Reject)
	if r.ID != forged.ID || r.Error.Name != protocol.NamePermissionDenied || r.Error.Table != "notes" || r.Error.Operation != "insert" {
		t.Fatalf("reject = %s", mustJSON(r))
	}
}

func TestWS_ResendingAnAckedChangeIsAckedAgainAndAppliedOnce(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	ch := newWriter(f.clk, "c").insert("once", alice.UserID, false)
	push(t, cl, ch)
	seq := f.seq(t)
	// As after a lost ack: a new connection sends the same change again.
	cl2, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	ack := push(t, cl2, ch)
	if len(ack.IDs) != 1 || ack.IDs[0] != ch.ID {
		t.Fatalf("ack = %s", mustJSON(ack))
	}
	if f.seq(t) != seq {
		t.Fatalf("seq %d -> %d: applied twice", seq, f.seq(t))
	}
}

func TestWS_SubscriptionNeverReceivesAnotherUsersPrivateRows(t *testing.T) {
	f := newFixture(t)
	alice, bob := newUser(t), newUser(t)
	w := newWriter(f.clk, "c")
	ac, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	before := w.insert("alice private, before", alice.UserID, false)
	push(t, ac, before)

	bc, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, bob, time.Hour)})
	if r := subscribe(t, bc, "all", 0); len(r.Rows) != 0 {
		t.Fatalf("bob's initial rows = %s", mustJSON(r.Rows))
	}
	private, public := w.insert("alice private", alice.UserID, false), w.insert("alice public", alice.UserID, true)
	push(t, ac, private, public)
	// Live rows may come after a pong (they are sent by the connection's
	// worker), so each check waits for the next rows frame.
	if rows := expectFrame(t, bc, protocol.TRows, wait).Body.(*protocol.Rows).Rows; len(rows) != 1 || rows[0].ID != public.Row {
		t.Fatalf("bob got rows %v, want only the public one", rowIDs(rows))
	}
	// The public row turns private: bob must not see its new state, only
	// that he is to forget it (a hidden state, no cells); then the rows of
	// a later public row.
	push(t, ac, w.update(public.Row, map[string]any{"public": false, "title": "secret now"}))
	marker := w.insert("alice public, later", alice.UserID, true)
	push(t, ac, marker)
	var got []engine.RowState
	for !slices.ContainsFunc(got, func(st engine.RowState) bool { return st.ID == marker.Row }) {
		got = append(got, expectFrame(t, bc, protocol.TRows, wait).Body.(*protocol.Rows).Rows...)
	}
	for _, st := range got {
		switch {
		case st.ID == marker.Row && !st.Hidden:
		case st.ID == public.Row && st.Hidden && len(st.Cells) == 0:
		default:
			t.Fatalf("bob got %s after the row became private, want it hidden and the later public one", mustJSON(st))
		}
	}
	if len(got) != 2 {
		t.Fatalf("bob got rows %v after the row became private, want it hidden and the later public one", rowIDs(got))
	}
	// Nor on resume.
	bc2, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, bob, time.Hour)})
	if r := subscribe(t, bc2, "all", 0); len(r.Rows) != 1 || r.Rows[0].ID != marker.Row {
		t.Fatalf("bob's resumed rows = %v, want only the later public one", rowIDs(r.Rows))
	}
}

func TestWS_ExpiryPausesTheConnectionUntilAuthForTheSameUser(t *testing.T) {
	f := newFixture(t)
	alice, bob := newUser(t), newUser(t)
	w := newWriter(f.clk, "c")
	ac, welcome := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Minute)})
	if welcome.ExpiresAt != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("expiresAt = %d", welcome.ExpiresAt)
	}
	subscribe(t, ac, "all", 0)

	f.clk.Advance(time.Minute + time.Second)
	e := expectFrame(t, ac, protocol.TError, wait).Body.(*protocol.Error)
	if e.Error != "unauthenticated" || e.Code != "expired" {
		t.Fatalf("error = %+v", e)
	}
	// Paused: a push is answered with the same error and not applied.
	queued := w.insert("written while expired", alice.UserID, false)
	ac.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{queued}})
	e = expectFrame(t, ac, protocol.TError, wait).Body.(*protocol.Error)
	if e.Code != "expired" || f.seq(t) != 0 {
		t.Fatalf("push while expired: %+v, seq %d", e, f.seq(t))
	}
	// Rows written meanwhile by someone else are not sent while paused.
	bc, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, bob, time.Hour)})
	missed := w.insert("bob public", bob.UserID, true)
	push(t, bc, missed)
	if got := barrier(t, ac, 1); len(got) != 0 {
		t.Fatalf("frames while paused: %s", mustJSON(got))
	}

	// Another user's token does not resume it.
	ac.send(protocol.TAuth, protocol.AuthMsg{Auth: protocol.Auth{Bearer: f.token(t, bob, time.Hour)}})
	e = expectFrame(t, ac, protocol.TError, wait).Body.(*protocol.Error)
	if e.Error != "unauthenticated" || e.Code != "invalid" {
		t.Fatalf("auth as bob: %+v", e)
	}
	ac.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{queued}})
	if e := expectFrame(t, ac, protocol.TError, wait).Body.(*protocol.Error); e.Code != "expired" {
		t.Fatalf("still paused? %+v", e)
	}

	// A fresh token for alice does: authed, then the missed rows.
	ac.send(protocol.TAuth, protocol.AuthMsg{Auth: protocol.Auth{Bearer: f.token(t, alice, time.Hour)}})
	authed := expectFrame(t, ac, protocol.TAuthed, wait).Body.(*protocol.Authed)
	if authed.Session.UserID != alice.UserID || authed.ExpiresAt != f.clk.Now().Add(time.Hour).UnixMilli() {
		t.Fatalf("authed = %s", mustJSON(authed))
	}
	rows := expectFrame(t, ac, protocol.TRows, wait).Body.(*protocol.Rows)
	if !rows.Complete || len(rows.Rows) != 1 || rows.Rows[0].ID != missed.Row {
		t.Fatalf("rows after authed = %s", mustJSON(rows))
	}
	ack := push(t, ac, queued)
	if len(ack.IDs) != 1 || ack.IDs[0] != queued.ID {
		t.Fatalf("ack = %s", mustJSON(ack))
	}
}

func TestWS_AuthRefreshWhileLiveKeepsTheConnection(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Minute)})
	cl.send(protocol.TAuth, protocol.AuthMsg{Auth: protocol.Auth{Bearer: f.token(t, alice, time.Hour)}})
	expectFrame(t, cl, protocol.TAuthed, wait)
	// The old deadline no longer applies.
	f.clk.Advance(2 * time.Minute)
	if got := barrier(t, cl, 1); len(got) != 0 {
		t.Fatalf("frames after refresh: %s", mustJSON(got))
	}
	cl.send(protocol.TAuth, protocol.AuthMsg{Auth: protocol.Auth{Bearer: "not.a.token"}})
	if e := expectFrame(t, cl, protocol.TError, wait).Body.(*protocol.Error); e.Code != "invalid" {
		t.Fatalf("error = %+v", e)
	}
	push(t, cl, newWriter(f.clk, "c").insert("still live", alice.UserID, false))
}

func TestWS_BackendImpersonationWritesAsTheUser(t *testing.T) {
	f := newFixture(t)
	hdr, _ := auth.EncodeSessionHeader(&session.Session{UserID: "dave", AuthMode: session.External})
	cl, _ := f.hello(t, protocol.Auth{BackendSecret: testBackendSecret, Session: hdr})
	w := newWriter(f.clk, "c")
	ack := push(t, cl, w.insert("by dave", "dave", false))
	if ack.Rows[0].Cells["$createdBy"].V != "dave" {
		t.Fatalf("ack = %s", mustJSON(ack))
	}
	// Policies apply as dave, not as a backend.
	cl.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{w.insert("for erin", "erin", false)}})
	if r := expectFrame(t, cl, protocol.TReject, wait).Body.(*protocol.Reject); r.Error.Name != protocol.NamePermissionDenied {
		t.Fatalf("reject = %s", mustJSON(r))
	}
}

func TestWS_HeartbeatTimeoutClosesSilentConnections(t *testing.T) {
	f := newFixture(t, withHeartbeat(45*time.Second))
	cl, _ := f.hello(t, protocol.Auth{})
	f.clk.Advance(44 * time.Second)
	barrier(t, cl, 1)
	f.clk.Advance(44 * time.Second)
	barrier(t, cl, 2) // the ping keeps it alive
	f.clk.Advance(46 * time.Second)
	e := expectFrame(t, cl, protocol.TError, wait).Body.(*protocol.Error)
	if e.Code != "idle_timeout" {
		t.Fatalf("error = %+v", e)
	}
	expectClose(t, cl, protocol.CloseProtocolError, wait)
}

func TestWS_HelloTimeout(t *testing.T) {
	f := newFixture(t)
	cl := f.dial(t, testApp)
	waitUntil(t, func() bool { return f.clk.Pending() > 0 })
	f.clk.Advance(DefaultHelloTimeout)
	if e := expectFrame(t, cl, protocol.TError, wait).Body.(*protocol.Error); e.Code != "hello_timeout" {
		t.Fatalf("error = %+v", e)
	}
	expectClose(t, cl, protocol.CloseProtocolError, wait)
}

func TestWS_StorageFailureClosesWithoutAck(t *testing.T) {
	faulty := storage.NewFaulty(storage.NewMemory())
	f := newFixture(t, func(c *Config) { c.store = faulty })
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	ch := newWriter(f.clk, "c").insert("unlucky", alice.UserID, false)
	faulty.FailApplyAfter(0)
	cl.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{ch}})
	expectClose(t, cl, closeInternalError, wait)
	faulty.FailApplyAfter(-1)
	cl2, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	if ack := push(t, cl2, ch); len(ack.IDs) != 1 {
		t.Fatalf("ack = %s", mustJSON(ack))
	}
}

func TestServer_CloseClosesSocketsGoingAway(t *testing.T) {
	f := newFixture(t)
	cl, _ := f.hello(t, protocol.Auth{})
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	expectClose(t, cl, protocol.CloseGoingAway, wait)
	if status, _ := f.get(t, "/health", nil); status != 503 {
		t.Fatalf("health after close = %d", status)
	}
}

func TestWS_ForeignOriginIsRefused(t *testing.T) {
	f := newFixture(t)
	req := map[string]string{"Origin": "https://evil.example", "Connection": "Upgrade", "Upgrade": "websocket",
		"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
	if status, _ := f.get(t, "/apps/"+testApp+"/ws", req); status != 403 {
		t.Fatalf("status = %d", status)
	}
	req["Origin"] = "http://localhost:5173"
	f2 := newFixture(t, func(c *Config) { c.AllowedOrigins = []string{"https://app.example.com"} })
	if status, _ := f2.get(t, "/apps/"+testApp+"/ws", req); status != 403 {
		t.Fatalf("localhost allowed with an explicit origin list: %d", status)
	}
}

func TestWS_LocalOriginsUpgradeByDefault(t *testing.T) {
	f := newFixture(t)
	custom := newFixture(t, func(c *Config) { c.AllowedOrigins = []string{"https://[2001:db8::1]:8443"} })
	cases := []struct {
		name   string
		fx     *fixture
		origin string
		ok     bool
	}{
		{"localhost", f, "http://localhost:5173", true},
		{"127.0.0.1", f, "http://127.0.0.1:5173", true},
		{"IPv6 loopback with a port", f, "http://[::1]:5173", true},
		{"IPv6 loopback", f, "http://[::1]", true},
		{"another IPv6 host", f, "http://[::2]:5173", false},
		{"a host the bracket pattern as a character class matches", f, "http://1:5173", false},
		{"foreign", f, "https://evil.example", false},
		{"configured IPv6 origin", custom, "https://[2001:db8::1]:8443", true},
		{"configured IPv6 origin, other port", custom, "https://[2001:db8::1]:9000", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, tc.fx.wsURL(testApp), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {tc.origin}}})
			if c != nil {
				defer c.CloseNow()
			}
			if tc.ok && err != nil {
				t.Fatalf("upgrade from %s refused: %v", tc.origin, err)
			}
			if !tc.ok && (err == nil || resp == nil || resp.StatusCode != http.StatusForbidden) {
				t.Fatalf("upgrade from %s: err %v, want 403", tc.origin, err)
			}
		})
	}
}

// waitUntil polls cond; it is a bounded wait for a state another goroutine
// reaches, not a sleep standing in for synchronization.
func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestWS_ConcurrentPushesFanOutToEverySubscriber(t *testing.T) {
	f := newFixture(t)
	const clients, each = 6, 25
	type peer struct {
		cl *client
		u  user
	}
	peers := make([]peer, clients)
	for i := range peers {
		u := newUser(t)
		cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, u, time.Hour)})
		subscribe(t, cl, "pub", 0)
		peers[i] = peer{cl, u}
	}
	// Everyone pushes at once from its own goroutine; reads happen below.
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWriter(f.clk, "node"+jsonUint(uint64(i)))
			for range each {
				b, _ := protocol.Encode(protocol.TPush, protocol.Push{Changes: []*engine.Change{w.insert("x", p.u.UserID, true)}})
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				err := p.cl.c.Write(ctx, websocket.MessageText, b)
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, p := range peers {
		seen, acks := map[string]bool{}, 0
		for len(seen) < clients*each || acks < each {
			fr := p.cl.next(t, wait)
			switch fr.Type {
			case protocol.TRows:
				for _, st := range fr.Body.(*protocol.Rows).Rows {
					seen[st.ID] = true
				}
			case protocol.TAck:
				acks++
			default:
				t.Fatalf("peer %d got %s", i, fr.Type)
			}
		}
	}
	if got := f.seq(t); got != clients*each {
		t.Fatalf("seq = %d", got)
	}
}

// orgBundle: a note is readable by the members of the org its owner_id
// names, as the token's "org" claim says.
const orgBundle = `{"version":1,
 "schema":{"tables":[{"name":"notes","columns":[
   {"name":"title","type":"string"},
   {"name":"owner_id","type":"string"},
   {"name":"public","type":"boolean","optional":true}]}]},
 "policies":{"notes":{
   "read":{"eq":[{"col":"owner_id"},{"session":"claims.org"}]},
   "insert":{"eq":[{"col":"owner_id"},{"session":"claims.org"}]}}}}`

// A token whose claims change what the session may read (moving to another
// org) takes effect at once on a live connection: after authed, every
// subscription sends its whole result under the new claims, old rows
// included, which a resume from the cursor would skip. A cursor received
// under the old claims starts over on a new connection too; one received
// under the same claims resumes.
func TestWS_ClaimsChangeStartsSubscriptionsOver(t *testing.T) {
	f := newFixture(t, withBundle(orgBundle))
	backend, _ := f.hello(t, backendAuth(""))
	w := newWriter(f.clk, "w")
	inA, inB := w.insert("in a", "org-a", false), w.insert("in b", "org-b", false)
	push(t, backend, inA, inB)

	cl, welcome := f.hello(t, protocol.Auth{Bearer: f.extToken(t, "u1", time.Hour, jwt.MapClaims{"org": "org-a"})})
	first := subscribe(t, cl, "all", 0)
	if ids := rowIDs(first.Rows); len(ids) != 1 || ids[0] != inA.Row {
		t.Fatalf("rows in org-a = %v", ids)
	}
	// A refresh with the same claims changes nothing.
	cl.send(protocol.TAuth, protocol.AuthMsg{Auth: protocol.Auth{Bearer: f.extToken(t, "u1", 2*time.Hour, jwt.MapClaims{"org": "org-a"})}})
	if a := expectFrame(t, cl, protocol.TAuthed, wait).Body.(*protocol.Authed); a.Scope != welcome.Scope || a.Scope == "" {
		t.Fatalf("scope %q after a refresh with the same claims, welcome said %q", a.Scope, welcome.Scope)
	}
	if got := barrier(t, cl, 1); len(got) != 0 {
		t.Fatalf("frames after a same-claims refresh: %s", mustJSON(got))
	}

	cl.send(protocol.TAuth, protocol.AuthMsg{Auth: protocol.Auth{Bearer: f.extToken(t, "u1", time.Hour, jwt.MapClaims{"org": "org-b"})}})
	authed := expectFrame(t, cl, protocol.TAuthed, wait).Body.(*protocol.Authed)
	if authed.Scope == welcome.Scope {
		t.Fatal("the scope did not change with the claims")
	}
	again := expectFrame(t, cl, protocol.TRows, wait).Body.(*protocol.Rows)
	if ids := rowIDs(again.Rows); !again.Complete || again.Sub != "all" || len(ids) != 1 || ids[0] != inB.Row {
		t.Fatalf("after the claims changed: %s, want the whole result of org-b", mustJSON(again))
	}
	// Rows written since reach the session under its new claims.
	laterB := w.insert("later in b", "org-b", false)
	push(t, backend, laterB)
	live := expectFrame(t, cl, protocol.TRows, wait).Body.(*protocol.Rows)
	if ids := rowIDs(live.Rows); len(ids) != 1 || ids[0] != laterB.Row {
		t.Fatalf("live rows = %v", ids)
	}

	// A new connection in org-b: the org-a cursor starts over, an org-b one resumes.
	cl2, w2 := f.hello(t, protocol.Auth{Bearer: f.extToken(t, "u1", time.Hour, jwt.MapClaims{"org": "org-b"})})
	if w2.Scope != authed.Scope {
		t.Fatalf("welcome scope %q, authed said %q for the same claims", w2.Scope, authed.Scope)
	}
	if ids := rowIDs(subscribeIn(t, cl2, "a-cursor", first.Cursor, welcome.Scope).Rows); len(ids) != 2 {
		t.Fatalf("resuming an org-a cursor in org-b sent %v, want both org-b rows", ids)
	}
	if r := subscribeIn(t, cl2, "b-cursor", live.Cursor, w2.Scope); len(r.Rows) != 0 {
		t.Fatalf("resuming an org-b cursor sent %s, want nothing", mustJSON(r.Rows))
	}
}

// A change's id is kept for Config.AppliedFor (30 days by default): a resend
// within it is acked again, one after it is judged as a new change.
func TestWS_ResendAckedWithinAppliedFor(t *testing.T) {
	f := newFixture(t, withHeartbeat(100*24*time.Hour))
	w := newWriter(f.clk, "c")
	cl, _ := f.hello(t, backendAuth("")) // a session that does not expire
	first := w.insert("first", "alice", false)
	push(t, cl, first)
	f.clk.Advance(DefaultAppliedFor - time.Hour)
	if ack := push(t, cl, first); len(ack.IDs) != 1 || ack.IDs[0] != first.ID {
		t.Fatalf("resend within AppliedFor: %s", mustJSON(ack))
	}
	f.clk.Advance(2 * time.Hour)
	push(t, cl, w.insert("later", "alice", false)) // a commit expires old ids
	cl.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{first}})
	if r := expectFrame(t, cl, protocol.TReject, wait).Body.(*protocol.Reject); r.ID != first.ID || r.Error.Name != protocol.NameConflict {
		t.Fatalf("resend after AppliedFor: %s, want a conflict", mustJSON(r))
	}
}
