package server

import (
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// Backend actors: hello with a backend secret and actAs "backend" (optionally
// attribution) acts as the backend itself: no session, no policies, writes
// authored by the attribution or jazz:system.

func backendAuth(attribution string) protocol.Auth {
	return protocol.Auth{BackendSecret: testBackendSecret, ActAs: protocol.ActAsBackend, Attribution: attribution}
}

func TestWS_BackendActorWritesBypassPoliciesAuthoredJazzSystem(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	cl, w := f.hello(t, backendAuth(""))
	if w.Session != nil || !w.Backend || w.Attribution != "" || w.ExpiresAt != 0 {
		t.Fatalf("welcome = %s", mustJSON(w))
	}
	wr := newWriter(f.clk, "b")
	// The notes policies let only the owner insert; the backend is nobody's
	// session and still may, for any owner.
	private := wr.insert("alice's, written by the backend", alice.UserID, false)
	ack := push(t, cl, private)
	if len(ack.IDs) != 1 || len(ack.Rows) != 1 {
		t.Fatalf("ack = %s", mustJSON(ack))
	}
	cells := ack.Rows[0].Cells
	if cells["$createdBy"].V != session.SystemUser || cells["$updatedBy"].V != session.SystemUser {
		t.Fatalf("authorship = %v / %v, want %s", cells["$createdBy"].V, cells["$updatedBy"].V, session.SystemUser)
	}
	// Updates and deletes of rows it does not own, too.
	push(t, cl, wr.update(private.Row, map[string]any{"title": "retitled"}))
	// Reads skip policies: a private row of alice's is in the backend's result.
	r := subscribe(t, cl, "all", 0)
	if ids := rowIDs(r.Rows); len(ids) != 1 || ids[0] != private.Row {
		t.Fatalf("backend read %v, want alice's private row", ids)
	}
	// alice sees it as authored by jazz:system.
	acl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	ar := subscribe(t, acl, "mine", 0)
	if len(ar.Rows) != 1 || ar.Rows[0].Cells["$createdBy"].V != session.SystemUser || ar.Rows[0].Cells["title"].V != "retitled" {
		t.Fatalf("alice reads %s", mustJSON(ar))
	}
	push(t, cl, wr.delete(private.Row))
}

func TestWS_BackendActorWithAttributionStampsThatUser(t *testing.T) {
	f := newFixture(t)
	cl, w := f.hello(t, backendAuth("user_123"))
	if w.Session != nil || !w.Backend || w.Attribution != "user_123" {
		t.Fatalf("welcome = %s", mustJSON(w))
	}
	wr := newWriter(f.clk, "b")
	// Backend permissions: user_123 could not insert a row owned by bob.
	ch := wr.insert("attributed", "bob", false)
	ack := push(t, cl, ch)
	cells := ack.Rows[0].Cells
	if cells["$createdBy"].V != "user_123" || cells["$updatedBy"].V != "user_123" {
		t.Fatalf("authorship = %v / %v, want user_123", cells["$createdBy"].V, cells["$updatedBy"].V)
	}
	// A second backend with another attribution updates it: $updatedBy
	// follows, $createdBy stays.
	other, _ := f.hello(t, backendAuth("user_456"))
	ack = push(t, other, wr.update(ch.Row, map[string]any{"title": "edited"}))
	cells = ack.Rows[0].Cells
	if cells["$createdBy"].V != "user_123" || cells["$updatedBy"].V != "user_456" {
		t.Fatalf("authorship after update = %v / %v", cells["$createdBy"].V, cells["$updatedBy"].V)
	}
	// 256 characters is the limit, inclusive.
	_, w = f.hello(t, backendAuth(strings.Repeat("é", protocol.MaxAttributionLen)))
	if w.Attribution != strings.Repeat("é", protocol.MaxAttributionLen) {
		t.Fatal("a 256-character attribution was not kept")
	}
}

func TestWS_ImpersonationObeysPoliciesAsTheUser(t *testing.T) {
	f := newFixture(t)
	hdr, _ := auth.EncodeSessionHeader(&session.Session{UserID: "carol", AuthMode: session.External})
	cl, w := f.hello(t, protocol.Auth{BackendSecret: testBackendSecret, Session: hdr})
	if w.Backend || w.Session == nil || w.Session.UserID != "carol" {
		t.Fatalf("welcome = %s", mustJSON(w))
	}
	wr := newWriter(f.clk, "c")
	ack := push(t, cl, wr.insert("carol's", "carol", false))
	if ack.Rows[0].Cells["$createdBy"].V != "carol" {
		t.Fatalf("ack = %s", mustJSON(ack))
	}
	denied := wr.insert("for bob", "bob", false)
	cl.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{denied}})
	r := expectFrame(t, cl, protocol.TReject, wait).Body.(*protocol.Reject)
	if r.ID != denied.ID || r.Error.Name != protocol.NamePermissionDenied {
		t.Fatalf("reject = %s", mustJSON(r))
	}
}

func TestWS_BackendActorRefusals(t *testing.T) {
	f := newFixture(t)
	noSecret := newFixture(t, withResolver(&auth.Resolver{AllowLocalFirst: true}))
	hdr, _ := auth.EncodeSessionHeader(&session.Session{UserID: "carol", AuthMode: session.External})
	cases := []struct {
		name string
		fx   *fixture
		auth protocol.Auth
		code string
	}{
		{"wrong secret", f, protocol.Auth{BackendSecret: "nope", ActAs: protocol.ActAsBackend}, "invalid"},
		{"wrong secret with attribution", f, protocol.Auth{BackendSecret: "nope", ActAs: protocol.ActAsBackend, Attribution: "u"}, "invalid"},
		{"no secret configured", noSecret, backendAuth(""), "disabled"},
		{"actAs without secret", f, protocol.Auth{ActAs: protocol.ActAsBackend}, "missing"},
		{"attribution without secret", f, protocol.Auth{Attribution: "u"}, "missing"},
		{"secret without session or actAs", f, protocol.Auth{BackendSecret: testBackendSecret}, "missing"},
		{"attribution with impersonation", f, protocol.Auth{BackendSecret: testBackendSecret, Session: hdr, Attribution: "u"}, "invalid"},
		{"actAs with impersonation", f, protocol.Auth{BackendSecret: testBackendSecret, Session: hdr, ActAs: protocol.ActAsBackend}, "invalid"},
		{"attribution without actAs", f, protocol.Auth{BackendSecret: testBackendSecret, Attribution: "u"}, "invalid"},
		{"unknown actAs", f, protocol.Auth{BackendSecret: testBackendSecret, ActAs: "admin"}, "invalid"},
		{"attribution too long", f, backendAuth(strings.Repeat("x", protocol.MaxAttributionLen+1)), "invalid"},
		{"attribution with control characters", f, backendAuth("user\n123"), "invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := tc.fx.dial(t, testApp)
			cl.send(protocol.THello, protocol.Hello{V: protocol.Version, AppID: testApp, Auth: tc.auth})
			e := expectFrame(t, cl, protocol.TError, wait).Body.(*protocol.Error)
			if e.Error != "unauthenticated" || e.Code != tc.code {
				t.Fatalf("error = %+v, want unauthenticated/%s", e, tc.code)
			}
			expectClose(t, cl, protocol.CloseUnauthenticated, wait)
		})
	}
	if strings.Contains(f.logs.String(), testBackendSecret) {
		t.Fatal("the backend secret reached the logs")
	}
}

func TestWS_BackendActorReauthKeepsItsAttribution(t *testing.T) {
	f := newFixture(t)
	cl, _ := f.hello(t, backendAuth("user_123"))
	cl.send(protocol.TAuth, protocol.AuthMsg{Auth: backendAuth("user_123")})
	a := expectFrame(t, cl, protocol.TAuthed, wait).Body.(*protocol.Authed)
	if !a.Backend || a.Attribution != "user_123" || a.Session != nil {
		t.Fatalf("authed = %s", mustJSON(a))
	}
	for _, other := range []protocol.Auth{backendAuth("user_456"), backendAuth(""), {Bearer: f.token(t, newUser(t), time.Hour)}} {
		cl.send(protocol.TAuth, protocol.AuthMsg{Auth: other})
		if e := expectFrame(t, cl, protocol.TError, wait).Body.(*protocol.Error); e.Code != "invalid" {
			t.Fatalf("auth as %+v: error = %+v, want invalid", other, e)
		}
	}
	// Still the same backend actor.
	ack := push(t, cl, newWriter(f.clk, "b").insert("x", "bob", false))
	if ack.Rows[0].Cells["$createdBy"].V != "user_123" {
		t.Fatalf("ack = %s", mustJSON(ack))
	}
}
