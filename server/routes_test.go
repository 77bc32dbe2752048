package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/server/auth"
)

func TestHealth_ReportsAppAndSeq(t *testing.T) {
	f := newFixture(t)
	status, body := f.get(t, "/health", nil)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	var h map[string]any
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatal(err)
	}
	if h["status"] != "ok" || h["appId"] != testApp || h["seq"] != float64(0) {
		t.Fatalf("health = %s", body)
	}
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	push(t, cl, newWriter(f.clk, "c").insert("a", alice.UserID, false))
	if got := f.seq(t); got != 1 {
		t.Fatalf("seq after one insert = %d", got)
	}
}

func TestRoutes_UnknownPathIs404JSON(t *testing.T) {
	f := newFixture(t)
	status, body := f.get(t, "/nope", nil)
	if status != 404 || !strings.Contains(string(body), `"error":"not_found"`) {
		t.Fatalf("%d %s", status, body)
	}
}

func TestSession_ResolutionRules(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	impersonated, err := auth.EncodeSessionHeader(&session.Session{UserID: "bob", AuthMode: session.External, Claims: map[string]any{"role": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		hdr      map[string]string
		wantUser string
		wantMode session.AuthMode
	}{
		{"nothing is anonymous", nil, "anonymous:", session.Anonymous},
		{"local-first token", map[string]string{"Authorization": "Bearer " + f.token(t, alice, time.Hour)}, alice.UserID, session.LocalFirst},
		{"external token", map[string]string{"Authorization": "Bearer " + f.extToken(t, "ext-user", time.Hour, nil)}, "ext-user", session.External},
		{"backend impersonation", map[string]string{auth.HeaderBackendSecret: testBackendSecret, auth.HeaderSession: impersonated}, "bob", session.External},
		{"impersonation beats a bearer token", map[string]string{auth.HeaderBackendSecret: testBackendSecret, auth.HeaderSession: impersonated,
			"Authorization": "Bearer " + f.token(t, alice, time.Hour)}, "bob", session.External},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.get(t, "/apps/"+testApp+"/session", tc.hdr)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			var s session.Session
			if err := json.Unmarshal(body, &s); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(s.UserID, tc.wantUser) || s.AuthMode != tc.wantMode || s.Claims == nil {
				t.Fatalf("session = %s, want %s/%s", body, tc.wantUser, tc.wantMode)
			}
		})
	}
}

func TestSession_UnauthenticatedCodes(t *testing.T) {
	f := newFixture(t)
	plain := newFixture(t, withResolver(&auth.Resolver{})) // nothing but anonymous enabled
	alice := newUser(t)
	expired, err := alice.MintToken(testApp, f.clk.Now().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		fx   *fixture
		hdr  map[string]string
		code auth.Code
	}{
		{"empty bearer", f, map[string]string{"Authorization": "Bearer "}, auth.CodeMissing},
		{"session without backend secret", f, map[string]string{auth.HeaderSession: "eyJ1c2VyX2lkIjoieCJ9"}, auth.CodeMissing},
		{"backend secret without session", f, map[string]string{auth.HeaderBackendSecret: testBackendSecret}, auth.CodeMissing},
		{"garbage token", f, map[string]string{"Authorization": "Bearer not.a.token"}, auth.CodeInvalid},
		{"wrong backend secret", f, map[string]string{auth.HeaderBackendSecret: "wrong", auth.HeaderSession: "eyJ1c2VyX2lkIjoieCJ9"}, auth.CodeInvalid},
		{"expired local-first token", f, map[string]string{"Authorization": "Bearer " + expired}, auth.CodeExpired},
		{"expired external token", f, map[string]string{"Authorization": "Bearer " + f.extToken(t, "u", -time.Hour, nil)}, auth.CodeExpired},
		{"local-first not enabled", plain, map[string]string{"Authorization": "Bearer " + f.token(t, alice, time.Hour)}, auth.CodeDisabled},
		{"external not configured", plain, map[string]string{"Authorization": "Bearer " + f.extToken(t, "u", time.Hour, nil)}, auth.CodeDisabled},
		{"impersonation not enabled", plain, map[string]string{auth.HeaderBackendSecret: "x", auth.HeaderSession: "eyJ1c2VyX2lkIjoieCJ9"}, auth.CodeDisabled},
		{"basic authorization", f, map[string]string{"Authorization": "Basic dXNlcjpwdw=="}, auth.CodeInvalid},
		{"basic authorization on a server with nothing enabled", plain, map[string]string{"Authorization": "Basic dXNlcjpwdw=="}, auth.CodeInvalid},
		{"token without a scheme", f, map[string]string{"Authorization": f.token(t, alice, time.Hour)}, auth.CodeInvalid},
		{"external token for the system user", f, map[string]string{"Authorization": "Bearer " + f.extToken(t, session.SystemUser, time.Hour, nil)}, auth.CodeInvalid},
		{"external token for an anonymous id", f, map[string]string{"Authorization": "Bearer " + f.extToken(t, "anonymous:00ff", time.Hour, nil)}, auth.CodeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.fx.get(t, "/apps/"+testApp+"/session", tc.hdr)
			if status != 401 {
				t.Fatalf("status %d: %s", status, body)
			}
			var e struct{ Error, Code, Message string }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatal(err)
			}
			if e.Error != "unauthenticated" || e.Code != string(tc.code) || e.Message == "" {
				t.Fatalf("body = %s, want code %s", body, tc.code)
			}
		})
	}
}

func TestSession_UnknownAppIs404(t *testing.T) {
	f := newFixture(t)
	status, body := f.get(t, "/apps/other/session", nil)
	if status != 404 || !strings.Contains(string(body), `"not_found"`) {
		t.Fatalf("%d %s", status, body)
	}
}

func TestAdmin_BundleRoutes(t *testing.T) {
	path := "/apps/" + testApp + "/admin/bundle"
	good := []byte(notesBundle)
	t.Run("disabled without an admin secret", func(t *testing.T) {
		f := newFixture(t, withoutAdmin())
		for _, m := range []string{"PUT", "GET"} {
			status, body := f.do(t, m, path, map[string]string{HeaderAdminSecret: "anything"}, good)
			if status != 403 || !strings.Contains(string(body), `"admin_disabled"`) {
				t.Fatalf("%s: %d %s", m, status, body)
			}
		}
	})
	f := newFixture(t, withBundle(""))
	admin := map[string]string{HeaderAdminSecret: testAdminSecret}
	t.Run("wrong or missing secret", func(t *testing.T) {
		for _, hdr := range []map[string]string{nil, {HeaderAdminSecret: "wrong"}, {HeaderAdminSecret: testAdminSecret + "x"}} {
			for _, m := range []string{"PUT", "GET"} {
				if status, body := f.do(t, m, path, hdr, good); status != 401 {
					t.Fatalf("%s %v: %d %s", m, hdr, status, body)
				}
			}
		}
	})
	t.Run("nothing published yet", func(t *testing.T) {
		if status, body := f.do(t, "GET", path, admin, nil); status != 404 || !strings.Contains(string(body), "no_bundle") {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("bad bundle", func(t *testing.T) {
		for _, body := range []string{`{`, `{"version":2,"schema":{"tables":[]}}`, `{"version":1,"schema":{"tables":[]},"policies":{"ghost":{}}}`} {
			status, resp := f.do(t, "PUT", path, admin, []byte(body))
			var e errorBody
			_ = json.Unmarshal(resp, &e)
			if status != 400 || e.Error != "bad_bundle" || !strings.Contains(e.Message, "bundle") {
				t.Fatalf("%s: %d %s", body, status, resp)
			}
		}
	})
	t.Run("too large", func(t *testing.T) {
		big := make([]byte, bundle.MaxSize+10)
		for i := range big {
			big[i] = ' '
		}
		if status, resp := f.do(t, "PUT", path, admin, big); status != 400 {
			t.Fatalf("%d %s", status, resp)
		}
	})
	t.Run("good bundle is stored and served back", func(t *testing.T) {
		status, resp := f.do(t, "PUT", path, admin, good)
		if status != 200 || strings.TrimSpace(string(resp)) != `{"ok":true}` {
			t.Fatalf("%d %s", status, resp)
		}
		status, resp = f.do(t, "GET", path, admin, nil)
		if status != 200 {
			t.Fatalf("%d %s", status, resp)
		}
		b, err := bundle.Decode(resp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Schema.Table("notes"); err != nil {
			t.Fatalf("served bundle lacks notes: %s", resp)
		}
	})
	t.Run("unknown app", func(t *testing.T) {
		if status, _ := f.do(t, "PUT", "/apps/other/admin/bundle", admin, good); status != 404 {
			t.Fatalf("status %d", status)
		}
	})
}

func TestAdmin_PublishClosesSocketsWithSchemaChanged(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	subscribe(t, cl, "s1", 0)
	w := newWriter(f.clk, "c")
	push(t, cl, w.insert("kept", alice.UserID, false))
	expectFrame(t, cl, protocol.TRows, wait)

	// The new bundle adds a column; the old rows must survive the swap.
	next := strings.Replace(notesBundle, `{"name":"public","type":"boolean","optional":true}`,
		`{"name":"public","type":"boolean","optional":true},{"name":"tag","type":"string","optional":true}`, 1)
	status, body := f.do(t, "PUT", "/apps/"+testApp+"/admin/bundle", map[string]string{HeaderAdminSecret: testAdminSecret}, []byte(next))
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	e := expectFrame(t, cl, protocol.TError, wait).Body.(*protocol.Error)
	if e.Error != "schema_changed" {
		t.Fatalf("error = %+v", e)
	}
	expectClose(t, cl, closeSchemaChanged, wait)

	// A new connection works under the new schema and sees the old row.
	cl2, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	r := subscribe(t, cl2, "s1", 0)
	if len(r.Rows) != 1 || r.Rows[0].Cells["title"].V != "kept" {
		t.Fatalf("rows after swap = %s", mustJSON(r.Rows))
	}
	ch := w.insert("tagged", alice.UserID, false)
	ch.Values["tag"] = "new"
	push(t, cl2, ch)
}

func TestNew_RefusesBadConfig(t *testing.T) {
	cases := map[string]Config{
		"no app id":              {InMemory: true},
		"app id with a slash":    {AppID: "a/b", InMemory: true},
		"no storage":             {AppID: "a"},
		"both storages":          {AppID: "a", InMemory: true, DataDir: t.TempDir()},
		"bbolt and postgres":     {AppID: "a", DataDir: t.TempDir(), DatabaseURL: "postgres://db.invalid/jazz"},
		"postgres in memory":     {AppID: "a", InMemory: true, DatabaseURL: "postgres://db.invalid/jazz"},
		"frame limit too big":    {AppID: "a", InMemory: true, MaxFrameBytes: limits.MaxFrameBytes + 1},
		"resolver for other app": {AppID: "a", InMemory: true, Resolver: &auth.Resolver{AppID: "b"}},
		"negative applied-for":   {AppID: "a", InMemory: true, AppliedFor: -time.Hour},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := New(cfg)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *ConfigError", err)
			}
		})
	}
}

func TestNew_LoadsStoredBundleAndRows(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, withDataDir(dir))
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	push(t, cl, newWriter(f.clk, "c").insert("durable", alice.UserID, false))
	cl.c.CloseNow()
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	// No Bundle in the config: the stored one must be used.
	g := newFixture(t, withDataDir(dir), withBundle(""))
	if g.seq(t) != 1 {
		t.Fatalf("seq after reopen = %d", g.seq(t))
	}
	cl2, _ := g.hello(t, protocol.Auth{Bearer: g.token(t, alice, time.Hour)})
	if r := subscribe(t, cl2, "s", 0); len(r.Rows) != 1 {
		t.Fatalf("rows after reopen = %s", mustJSON(r.Rows))
	}
}

func TestAdmin_PublishDuringPushesKeepsEveryAckedChange(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	w := newWriter(f.clk, "c")
	rows := map[string]string{}
	for range 200 {
		ch := w.insert("x", alice.UserID, false)
		rows[ch.ID] = ch.Row
		cl.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{ch}})
	}
	published := make(chan error, 1)
	go func() { published <- f.srv.Publish(context.Background(), mustBundle(t, notesBundle)) }()
	acked := map[string]bool{}
	for fr := range cl.frames {
		switch fr.Type {
		case protocol.TAck:
			for _, id := range fr.Body.(*protocol.Ack).IDs {
				acked[rows[id]] = true
			}
		case protocol.TError:
			if e := fr.Body.(*protocol.Error); e.Error != "schema_changed" {
				t.Fatalf("error = %+v", e)
			}
		default:
			t.Fatalf("unexpected %s", fr.Type)
		}
	}
	if cl.closeCode != closeSchemaChanged {
		t.Fatalf("closed with %d", cl.closeCode)
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	cl2, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	got := map[string]bool{}
	for _, st := range subscribe(t, cl2, "all", 0).Rows {
		got[st.ID] = true
	}
	for row := range acked {
		if !got[row] {
			t.Errorf("acked row %s missing after the swap", row)
		}
	}
	t.Logf("%d of 200 acked before the swap closed the socket", len(acked))
}
