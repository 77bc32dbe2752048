package backend_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/backend"
	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/server/auth"
)

func TestNew_ConfigErrors(t *testing.T) {
	base := backend.Options{AppID: testApp, ServerURL: "http://127.0.0.1:1", BackendSecret: "s"}
	cases := []struct {
		name string
		mod  func(*backend.Options)
		want []string
	}{
		{"jwks and public key", func(o *backend.Options) { o.JWKSURL, o.JWTPublicKey = "https://id.example/jwks", extJWK() }, []string{"JWKSURL", "JWTPublicKey", "not both"}},
		{"no app", func(o *backend.Options) { o.AppID = "" }, []string{"AppID"}},
		{"no server", func(o *backend.Options) { o.ServerURL = "" }, []string{"ServerURL"}},
		{"bad server", func(o *backend.Options) { o.ServerURL = "ftp://x" }, []string{"ServerURL"}},
		{"no backend secret", func(o *backend.Options) { o.BackendSecret = "" }, []string{"BackendSecret"}},
		{"bad public key", func(o *backend.Options) { o.JWTPublicKey = `{"kty":"oct","k":"c2VjcmV0"}` }, []string{"JWTPublicKey"}},
		{"public key file missing", func(o *backend.Options) { o.JWTPublicKey = "/nonexistent/key.pem" }, []string{"JWTPublicKey"}},
		{"audience without a key", func(o *backend.Options) { o.JWTAudiences = []string{"web"} }, []string{"JWTAudiences", "JWKSURL or JWTPublicKey"}},
		{"issuer without a key", func(o *backend.Options) { o.JWTIssuer = "https://idp.test" }, []string{"JWTIssuer", "JWKSURL or JWTPublicKey"}},
		{"empty audience", func(o *backend.Options) { o.JWTPublicKey, o.JWTAudiences = extJWK(), []string{"web", ""} }, []string{"empty audience"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.mod(&o)
			_, err := backend.New(bg, o)
			if !errors.Is(err, backend.ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestAsBackendAndDB_BypassPoliciesAndWriteAsJazzSystem(t *testing.T) {
	f := newFixture(t, nil)
	alice := &session.Session{UserID: "alice", AuthMode: session.External}
	for name, h := range map[string]*backend.Handle{"AsBackend": f.ctx.AsBackend(), "DB": f.ctx.DB()} {
		t.Run(name, func(t *testing.T) {
			if !h.Backend() || h.Session() != nil || h.Author() != session.SystemUser {
				t.Fatalf("handle: backend=%v session=%v author=%q", h.Backend(), h.Session(), h.Author())
			}
			// alice's private note: the policies let only alice insert it.
			row, err := h.InsertAndWait(ctxT(t), "notes", note(name+" private", "alice", false))
			if err != nil {
				t.Fatal(err)
			}
			if row["$createdBy"] != session.SystemUser {
				t.Fatalf("local row authored %v", row["$createdBy"])
			}
			if c, u := f.authorOf(t, row.ID()); c != session.SystemUser || u != session.SystemUser {
				t.Fatalf("server authorship %q/%q, want jazz:system", c, u)
			}
			// Updating and reading rows of any owner.
			if _, err := h.UpdateAndWait(ctxT(t), "notes", row.ID(), map[string]any{"title": name + " private!"}); err != nil {
				t.Fatal(err)
			}
			rows, err := h.All(ctxT(t), mustQuery(t, allNotes))
			if err != nil || !slices.Contains(titles(rows), name+" private!") {
				t.Fatalf("backend reads %v (%v)", titles(rows), err)
			}
			// alice sees it, authored by jazz:system.
			mine, err := f.ctx.ForSession(alice).All(ctxT(t), mustQuery(t, allNotes))
			if err != nil || !slices.Contains(titles(mine), name+" private!") {
				t.Fatalf("alice reads %v (%v)", titles(mine), err)
			}
			if err := h.DeleteAndWait(ctxT(t), "notes", row.ID()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestForSession_UserPermissionsAndAuthorship(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.ctx.AsBackend().InsertAndWait(ctxT(t), "notes", note("bob's secret", "bob", false)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ctx.AsBackend().InsertAndWait(ctxT(t), "notes", note("bob's public", "bob", true)); err != nil {
		t.Fatal(err)
	}
	alice := f.ctx.ForSession(&session.Session{UserID: "alice", AuthMode: session.External, Claims: map[string]any{"org": "acme"}})
	if alice.Backend() || alice.Author() != "alice" || alice.Session().UserID != "alice" {
		t.Fatalf("handle: backend=%v author=%q", alice.Backend(), alice.Author())
	}
	row, err := alice.InsertAndWait(ctxT(t), "notes", note("alice's", "alice", false))
	if err != nil {
		t.Fatal(err)
	}
	if c, u := f.authorOf(t, row.ID()); c != "alice" || u != "alice" {
		t.Fatalf("authorship %q/%q, want alice", c, u)
	}
	// alice's permissions: she may not write bob's rows...
	_, err = alice.InsertAndWait(ctxT(t), "notes", note("forged for bob", "bob", false))
	var rerr *backend.RemoteError
	var denied *policy.DeniedError
	if !errors.As(err, &rerr) || !errors.As(err, &denied) || denied.Operation != policy.Insert {
		t.Fatalf("insert for bob = %v, want a PermissionDenied rejection", err)
	}
	// ... which was rolled back, and reads are hers: not bob's secret.
	rows, err := alice.All(ctxT(t), mustQuery(t, allNotes))
	if err != nil {
		t.Fatal(err)
	}
	if got := titles(rows); !slices.Equal(got, []string{"alice's", "bob's public"}) {
		t.Fatalf("alice reads %v", got)
	}
}

func TestForRequest_ResolutionRules(t *testing.T) {
	f := newFixture(t, nil)
	lf := localUser(t)
	carol, _ := auth.EncodeSessionHeader(&session.Session{UserID: "carol", AuthMode: session.External})
	cases := []struct {
		name string
		hdr  map[string]string
		user string
		mode session.AuthMode
	}{
		{"impersonation", map[string]string{auth.HeaderBackendSecret: backendSecret, auth.HeaderSession: carol}, "carol", session.External},
		{"impersonation before a bearer", map[string]string{auth.HeaderBackendSecret: backendSecret, auth.HeaderSession: carol,
			"Authorization": "Bearer " + extToken(t, "dave", time.Hour)}, "carol", session.External},
		{"external JWT", map[string]string{"Authorization": "Bearer " + extToken(t, "dave", time.Hour)}, "dave", session.External},
		{"local-first JWT", map[string]string{"Authorization": "Bearer " + localToken(t, lf)}, lf.UserID, session.LocalFirst},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := f.ctx.ForRequest(request(tc.hdr))
			if err != nil {
				t.Fatal(err)
			}
			if s := h.Session(); s == nil || s.UserID != tc.user || s.AuthMode != tc.mode || h.Backend() {
				t.Fatalf("session = %+v", s)
			}
			row, err := h.InsertAndWait(ctxT(t), "notes", note(tc.name, tc.user, false))
			if err != nil {
				t.Fatal(err)
			}
			if c, _ := f.authorOf(t, row.ID()); c != tc.user {
				t.Fatalf("authored %q, want %q", c, tc.user)
			}
			// The user's permissions, not the backend's.
			if _, err := h.InsertAndWait(ctxT(t), "notes", note("not mine", "someone-else", false)); !errors.As(err, new(*policy.DeniedError)) {
				t.Fatalf("insert for another owner = %v, want PermissionDenied", err)
			}
		})
	}
	t.Run("no credentials: anonymous", func(t *testing.T) {
		h, err := f.ctx.ForRequest(request(nil))
		if err != nil {
			t.Fatal(err)
		}
		if s := h.Session(); s == nil || s.AuthMode != session.Anonymous || !strings.HasPrefix(s.UserID, "anonymous:") {
			t.Fatalf("session = %+v", s)
		}
		if _, err := h.Insert(ctxT(t), "notes", note("x", "x", true)); !errors.As(err, new(*policy.AnonymousWriteDeniedError)) {
			t.Fatalf("anonymous insert = %v", err)
		}
		if _, err := h.All(ctxT(t), mustQuery(t, allNotes)); err != nil {
			t.Fatalf("anonymous read = %v", err)
		}
	})
	refused := []struct {
		name string
		ctx  *backend.Context
		hdr  map[string]string
		code auth.Code
	}{
		{"wrong backend secret", f.ctx, map[string]string{auth.HeaderBackendSecret: "nope", auth.HeaderSession: carol}, auth.CodeInvalid},
		{"session without secret", f.ctx, map[string]string{auth.HeaderSession: carol}, auth.CodeMissing},
		{"secret without session", f.ctx, map[string]string{auth.HeaderBackendSecret: backendSecret}, auth.CodeMissing},
		{"expired external JWT", f.ctx, map[string]string{"Authorization": "Bearer " + extToken(t, "dave", -time.Hour)}, auth.CodeExpired},
		{"empty bearer", f.ctx, map[string]string{"Authorization": "Bearer "}, auth.CodeMissing},
		{"garbage bearer", f.ctx, map[string]string{"Authorization": "Bearer a.b.c"}, auth.CodeInvalid},
		{"external JWT without a key", f.newContext(func(o *backend.Options) { o.JWTPublicKey = "" }),
			map[string]string{"Authorization": "Bearer " + extToken(t, "dave", time.Hour)}, auth.CodeDisabled},
		{"local-first without allowLocalFirstAuth", f.newContext(func(o *backend.Options) { o.AllowLocalFirstAuth = false }),
			map[string]string{"Authorization": "Bearer " + localToken(t, lf)}, auth.CodeDisabled},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			h, err := tc.ctx.ForRequest(request(tc.hdr))
			var ae *backend.AuthError
			if h != nil || !errors.As(err, &ae) || ae.Code != tc.code {
				t.Fatalf("ForRequest = %v, %v; want AuthError %s", h, err, tc.code)
			}
			if _, err := tc.ctx.WithAttributionForRequest(request(tc.hdr)); !errors.As(err, &ae) || ae.Code != tc.code {
				t.Fatalf("WithAttributionForRequest = %v; want AuthError %s", err, tc.code)
			}
		})
	}
}

func TestForRequest_JWTAudienceIssuerAndReservedSubjects(t *testing.T) {
	f := newFixture(t, nil)
	bound := f.newContext(func(o *backend.Options) { o.JWTAudiences, o.JWTIssuer = []string{"web", "mobile"}, "https://idp.test" })
	lf := localUser(t)
	ext := func(extra map[string]any) string {
		c := map[string]any{"sub": "dave", "exp": time.Now().Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return signExt(t, c)
	}
	impersonating := func(s *session.Session) map[string]string {
		h, _ := auth.EncodeSessionHeader(s)
		return map[string]string{auth.HeaderBackendSecret: backendSecret, auth.HeaderSession: h}
	}
	cases := []struct {
		name    string
		ctx     *backend.Context
		hdr     map[string]string
		wantMsg string // "" = accepted
	}{
		{"audience and issuer match", bound, map[string]string{"Authorization": "Bearer " + ext(map[string]any{"aud": []string{"x", "mobile"}, "iss": "https://idp.test"})}, ""},
		{"another app's audience", bound, map[string]string{"Authorization": "Bearer " + ext(map[string]any{"aud": "billing", "iss": "https://idp.test"})}, "aud claim"},
		{"no audience", bound, map[string]string{"Authorization": "Bearer " + ext(map[string]any{"iss": "https://idp.test"})}, "aud claim"},
		{"another issuer", bound, map[string]string{"Authorization": "Bearer " + ext(map[string]any{"aud": "web", "iss": "https://other.test"})}, "iss claim"},
		{"unset: any audience", f.ctx, map[string]string{"Authorization": "Bearer " + ext(map[string]any{"aud": "billing"})}, ""},
		{"local-first unaffected by the audience", bound, map[string]string{"Authorization": "Bearer " + localToken(t, lf)}, ""},
		{"external sub jazz:system", f.ctx, map[string]string{"Authorization": "Bearer " + ext(map[string]any{"sub": session.SystemUser})}, "reserved"},
		{"external sub anonymous:", f.ctx, map[string]string{"Authorization": "Bearer " + ext(map[string]any{"sub": "anonymous:1"})}, "reserved"},
		{"impersonating jazz:system", f.ctx, impersonating(&session.Session{UserID: session.SystemUser, AuthMode: session.External}), "reserved"},
		{"basic authorization", f.ctx, map[string]string{"Authorization": "Basic dXNlcjpwdw=="}, "Basic"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.ctx.SessionForRequest(request(tc.hdr))
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ae *backend.AuthError
			if s != nil || !errors.As(err, &ae) || ae.Code != auth.CodeInvalid || !strings.Contains(ae.Message, tc.wantMsg) {
				t.Fatalf("SessionForRequest = %+v, %v; want AuthError invalid naming %q", s, err, tc.wantMsg)
			}
		})
	}
}

func TestForSession_RefusesReservedUserIDs(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		s  *session.Session
		ok bool
	}{
		{&session.Session{UserID: session.SystemUser, AuthMode: session.External}, false},
		{&session.Session{UserID: "anonymous:1", AuthMode: session.LocalFirst}, false},
		{&session.Session{UserID: "anonymous:1", AuthMode: session.Anonymous}, true},
		{&session.Session{UserID: "dave", AuthMode: session.External}, true},
	}
	for _, tc := range cases {
		err := f.ctx.ForSession(tc.s).Err()
		if tc.ok != (err == nil) || (err != nil && !(errors.Is(err, backend.ErrConfig) && strings.Contains(err.Error(), "reserved"))) {
			t.Errorf("ForSession(%s as %s).Err() = %v", tc.s.UserID, tc.s.AuthMode, err)
		}
	}
}

func TestNew_WarnsInProductionWithoutAnAudience(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*backend.Options)
		warn bool
	}{
		{"production, key, no audience", func(o *backend.Options) { o.Production = true }, true},
		{"production, audience set", func(o *backend.Options) { o.Production, o.JWTAudiences = true, []string{"web"} }, false},
		{"production, no external auth", func(o *backend.Options) { o.Production, o.JWTPublicKey = true, "" }, false},
		{"development, key, no audience", func(o *backend.Options) {}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			o := backend.Options{AppID: testApp, ServerURL: "http://127.0.0.1:1", BackendSecret: "s", JWTPublicKey: extJWK(),
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			tc.mod(&o)
			c, err := backend.New(bg, o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := strings.Contains(logs.String(), "other application"); got != tc.warn {
				t.Fatalf("warned %v, want %v; logs: %s", got, tc.warn, logs.String())
			}
			if got := strings.Contains(strings.Join(c.Warnings(), "\n"), "other application"); got != tc.warn {
				t.Fatalf("Warnings() = %q, want the audience warning: %v", c.Warnings(), tc.warn)
			}
		})
	}
}

func TestWithAttribution_BackendPermissionsUserAuthorship(t *testing.T) {
	f := newFixture(t, nil)
	reqHandle, err := f.ctx.WithAttributionForRequest(request(map[string]string{"Authorization": "Bearer " + extToken(t, "erin", time.Hour)}))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		h    *backend.Handle
		user string
	}{
		{"WithAttribution", f.ctx.WithAttribution("user_123"), "user_123"},
		{"WithAttributionForSession", f.ctx.WithAttributionForSession(&session.Session{UserID: "user_456", AuthMode: session.External}), "user_456"},
		{"WithAttributionForRequest", reqHandle, "erin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.h.Backend() || tc.h.Session() != nil || tc.h.Author() != tc.user {
				t.Fatalf("handle: backend=%v author=%q", tc.h.Backend(), tc.h.Author())
			}
			// Backend permissions: a row owned by bob, which tc.user could
			// not insert as themself.
			row, err := tc.h.InsertAndWait(ctxT(t), "notes", note(tc.name, "bob", false))
			if err != nil {
				t.Fatal(err)
			}
			if c, u := f.authorOf(t, row.ID()); c != tc.user || u != tc.user {
				t.Fatalf("authorship %q/%q, want %q", c, u, tc.user)
			}
			// and reads of everything.
			rows, err := tc.h.All(ctxT(t), mustQuery(t, allNotes))
			if err != nil || !slices.Contains(titles(rows), tc.name) {
				t.Fatalf("reads %v (%v)", titles(rows), err)
			}
		})
	}
	// The backend updates a row attributed to another user: $updatedBy follows.
	row, err := f.ctx.WithAttribution("user_123").InsertAndWait(ctxT(t), "notes", note("shared", "bob", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ctx.WithAttribution("user_456").UpdateAndWait(ctxT(t), "notes", row.ID(), map[string]any{"title": "shared!"}); err != nil {
		t.Fatal(err)
	}
	if c, u := f.authorOf(t, row.ID()); c != "user_123" || u != "user_456" {
		t.Fatalf("authorship %q/%q", c, u)
	}
	// Anonymous requests, empty and oversized ids are refused.
	if _, err := f.ctx.WithAttributionForRequest(request(nil)); !errors.As(err, new(*backend.AuthError)) {
		t.Fatalf("anonymous request = %v", err)
	}
	for _, bad := range []*backend.Handle{f.ctx.WithAttribution(""), f.ctx.WithAttribution(strings.Repeat("x", 257)), f.ctx.WithAttributionForSession(nil), f.ctx.ForSession(nil)} {
		if _, err := bad.Insert(ctxT(t), "notes", note("x", "x", false)); !errors.Is(err, backend.ErrConfig) {
			t.Fatalf("bad handle insert = %v, want ErrConfig", err)
		}
	}
}

func TestUpdateAuthToken_IsIgnoredByEveryKind(t *testing.T) {
	f := newFixture(t, nil)
	req := request(map[string]string{"Authorization": "Bearer " + extToken(t, "dave", time.Hour)})
	forReq, err := f.ctx.ForRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	attrReq, err := f.ctx.WithAttributionForRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	handles := map[string]*backend.Handle{
		"DB": f.ctx.DB(), "AsBackend": f.ctx.AsBackend(), "ForRequest": forReq,
		"ForSession":                f.ctx.ForSession(&session.Session{UserID: "dave", AuthMode: session.External}),
		"WithAttribution":           f.ctx.WithAttribution("dave"),
		"WithAttributionForSession": f.ctx.WithAttributionForSession(&session.Session{UserID: "dave", AuthMode: session.External}),
		"WithAttributionForRequest": attrReq,
	}
	for name, h := range handles {
		t.Run(name, func(t *testing.T) {
			author := h.Author()
			for _, tok := range []string{"garbage", extToken(t, "mallory", time.Hour), ""} {
				if err := h.UpdateAuthToken(tok); err != nil {
					t.Fatalf("UpdateAuthToken = %v, want nil (ignored)", err)
				}
			}
			row, err := h.InsertAndWait(ctxT(t), "notes", note(name, "dave", false))
			if err != nil {
				t.Fatal(err)
			}
			if c, _ := f.authorOf(t, row.ID()); c != author {
				t.Fatalf("after UpdateAuthToken, authored %q, want %q", c, author)
			}
		})
	}
}

func TestReads_SeeWritesOtherActorsGotAcknowledged(t *testing.T) {
	f := newFixture(t, nil)
	bob := f.ctx.ForSession(&session.Session{UserID: "bob", AuthMode: session.External})
	// bob's connection is open and has the query registered before the write.
	if rows, err := bob.All(ctxT(t), mustQuery(t, allNotes)); err != nil || len(rows) != 0 {
		t.Fatalf("bob reads %v (%v)", rows, err)
	}
	for i := range 20 {
		title := "public " + string(rune('a'+i))
		if _, err := f.ctx.AsBackend().InsertAndWait(ctxT(t), "notes", note(title, "alice", true)); err != nil {
			t.Fatal(err)
		}
		// No sleeping, no polling: the read round-trips after the ack.
		rows, err := bob.All(ctxT(t), mustQuery(t, allNotes))
		if err != nil || !slices.Contains(titles(rows), title) {
			t.Fatalf("bob reads %v (%v), want %q", titles(rows), err, title)
		}
	}
}

func TestUpdateAndDelete_RowsTheReplicaNeverRead(t *testing.T) {
	f := newFixture(t, nil)
	other := f.newContext(nil)
	row, err := other.AsBackend().InsertAndWait(ctxT(t), "notes", note("elsewhere", "alice", false))
	if err != nil {
		t.Fatal(err)
	}
	alice := f.ctx.ForSession(&session.Session{UserID: "alice", AuthMode: session.External})
	got, err := alice.UpdateAndWait(ctxT(t), "notes", row.ID(), map[string]any{"title": "updated by alice"})
	if err != nil || got["title"] != "updated by alice" || got["owner_id"] != "alice" {
		t.Fatalf("update = %v, %v", got, err)
	}
	if err := alice.DeleteAndWait(ctxT(t), "notes", row.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Update(ctxT(t), "notes", row.ID(), map[string]any{"title": "gone"}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("update of a deleted row = %v, want ErrNotFound", err)
	}
}

func TestSubscribe_InitialResultThenLiveChanges(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.ctx.AsBackend().InsertAndWait(ctxT(t), "notes", note("first", "alice", false)); err != nil {
		t.Fatal(err)
	}
	alice := f.ctx.ForSession(&session.Session{UserID: "alice", AuthMode: session.External})
	var mu sync.Mutex
	var seen [][]string
	cancel, err := alice.Subscribe(ctxT(t), mustQuery(t, allNotes), func(u engine.Update) {
		mu.Lock()
		seen = append(seen, titles(u.Rows()))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	last := func() []string {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			return nil
		}
		return seen[len(seen)-1]
	}
	if got := last(); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("initial result %v, want the server's", got)
	}
	if _, err := f.ctx.AsBackend().InsertAndWait(ctxT(t), "notes", note("second", "alice", false)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for !slices.Equal(last(), []string{"first", "second"}) {
		if time.Now().After(deadline) {
			t.Fatalf("live result %v", last())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConnections_OnePerActorLRUBoundedSubscriptionsPinned(t *testing.T) {
	f := newFixture(t, func(o *backend.Options) { o.MaxConnections = 2 })
	user := func(id string) *backend.Handle {
		return f.ctx.ForSession(&session.Session{UserID: id, AuthMode: session.External})
	}
	q := mustQuery(t, allNotes)
	// Same actor, many handles: one connection.
	for range 3 {
		if _, err := user("u1").All(ctxT(t), q); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.ctx.Connections(); n != 1 {
		t.Fatalf("%d connections for one actor", n)
	}
	cancel, err := user("u1").Subscribe(ctxT(t), q, func(engine.Update) {})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"u2", "u3", "u4"} {
		if _, err := user(id).All(ctxT(t), q); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.ctx.Connections(); n != 2 {
		t.Fatalf("%d connections, want the bound (2)", n)
	}
	// u1 is pinned by its subscription: still live, still gets rows.
	if _, err := f.ctx.AsBackend().InsertAndWait(ctxT(t), "notes", note("for u1", "u1", false)); err != nil {
		t.Fatal(err)
	}
	rows, err := user("u1").All(ctxT(t), q)
	if err != nil || !slices.Equal(titles(rows), []string{"for u1"}) {
		t.Fatalf("u1 reads %v (%v)", titles(rows), err)
	}
	cancel()
}

func TestRefusedConnections_AreAuthErrors(t *testing.T) {
	f := newFixture(t, nil)
	b, err := bundle.Decode([]byte(notesBundle))
	if err != nil {
		t.Fatal(err)
	}
	wrong := f.newContext(func(o *backend.Options) { o.BackendSecret = "wrong"; o.AdminSecret = ""; o.Bundle = b })
	_, hsNone := startServer(t, withServerResolver(&auth.Resolver{AllowLocalFirst: true}))
	none, err := backend.New(bg, backend.Options{AppID: testApp, ServerURL: hsNone.URL, BackendSecret: "whatever", Bundle: b})
	if err != nil {
		t.Fatal(err)
	}
	defer none.Close()
	for _, tc := range []struct {
		name string
		h    *backend.Handle
		code auth.Code
	}{
		{"wrong secret, backend", wrong.AsBackend(), auth.CodeInvalid},
		{"wrong secret, session", wrong.ForSession(&session.Session{UserID: "alice", AuthMode: session.External}), auth.CodeInvalid},
		{"server without a backend secret", none.AsBackend(), auth.CodeDisabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.h.All(ctxT(t), mustQuery(t, `{"table":"notes"}`))
			var ae *backend.AuthError
			if !errors.As(err, &ae) || ae.Code != tc.code {
				t.Fatalf("All = %v, want AuthError %s", err, tc.code)
			}
		})
	}
}

func TestClose_FlushesUnacknowledgedWrites(t *testing.T) {
	f := newFixture(t, nil)
	c := f.newContext(nil)
	w, err := c.WithAttribution("user_9").Insert(ctxT(t), "notes", note("flushed", "bob", false))
	if err != nil || w.ChangeID == "" {
		t.Fatalf("insert = %+v, %v", w, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.authorOf(t, w.Row.ID()); c != "user_9" {
		t.Fatalf("after Close the row is authored %q", c)
	}
	if _, err := c.AsBackend().All(ctxT(t), mustQuery(t, allNotes)); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("All after Close = %v", err)
	}
}

func TestVerifyLocalFirstIdentityProof(t *testing.T) {
	id := localUser(t)
	proof, err := id.MintProof("https://auth.example.com", time.Now(), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := backend.VerifyLocalFirstIdentityProof(proof, "https://auth.example.com")
	if err != nil || got != id.UserID {
		t.Fatalf("verify = %q, %v; want %q", got, err, id.UserID)
	}
	if _, err := backend.VerifyLocalFirstIdentityProof(proof, "https://other.example.com"); !errors.Is(err, identity.ErrWrongAudience) {
		t.Fatalf("wrong audience = %v", err)
	}
	tok, _ := id.MintToken("https://auth.example.com", time.Now(), time.Minute)
	if _, err := backend.VerifyLocalFirstIdentityProof(tok, "https://auth.example.com"); !errors.Is(err, identity.ErrNotLocalFirst) {
		t.Fatalf("a session token as a proof = %v", err)
	}
	old, _ := id.MintProof("https://auth.example.com", time.Now().Add(-time.Hour), time.Minute)
	if _, err := backend.VerifyLocalFirstIdentityProof(old, "https://auth.example.com"); !errors.Is(err, identity.ErrTokenExpired) {
		t.Fatalf("expired proof = %v", err)
	}
}

func TestNew_LoadsTheBundleWithTheAdminSecret(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.ctx.Schema().Table("notes"); err != nil {
		t.Fatalf("schema from the server: %v", err)
	}
	_, err := backend.New(bg, backend.Options{AppID: testApp, ServerURL: f.hs.URL, BackendSecret: backendSecret, AdminSecret: "wrong"})
	if !errors.Is(err, backend.ErrConfig) || !strings.Contains(err.Error(), "AdminSecret") {
		t.Fatalf("wrong admin secret = %v", err)
	}
	// Without a bundle or admin secret, tables come from UseSchema.
	c := f.newContext(func(o *backend.Options) { o.AdminSecret = "" })
	if _, err := c.AsBackend().All(ctxT(t), mustQuery(t, allNotes)); err == nil {
		t.Fatal("a read of an unknown table succeeded")
	}
	if err := c.UseSchema(bg, f.ctx.Schema()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AsBackend().All(ctxT(t), mustQuery(t, allNotes)); err != nil {
		t.Fatalf("after UseSchema: %v", err)
	}
}

func TestForRequest_ExternalJWTAgainstJWKS(t *testing.T) {
	f := newFixture(t, nil)
	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"keys":[` + extJWK() + `]}`))
	}))
	defer jwks.Close()
	c := f.newContext(func(o *backend.Options) { o.JWTPublicKey, o.JWKSURL = "", jwks.URL })
	h, err := c.ForRequest(request(map[string]string{"Authorization": "Bearer " + extToken(t, "jwks-user", time.Hour)}))
	if err != nil {
		t.Fatal(err)
	}
	if s := h.Session(); s.UserID != "jwks-user" || s.AuthMode != session.External || s.Claims["org"] != "acme" {
		t.Fatalf("session = %+v", s)
	}
	row, err := h.InsertAndWait(ctxT(t), "notes", note("via jwks", "jwks-user", false))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := f.authorOf(t, row.ID()); c != "jwks-user" {
		t.Fatalf("authored %q", c)
	}
	if fetches.Load() == 0 {
		t.Fatal("the JWKS was never fetched")
	}
}

func TestUnreachableServer_WaitsAreBoundedByWaitTimeout(t *testing.T) {
	b, err := bundle.Decode([]byte(notesBundle))
	if err != nil {
		t.Fatal(err)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close() // nothing listens there any more
	c, err := backend.New(bg, backend.Options{AppID: testApp, ServerURL: url, BackendSecret: backendSecret, Bundle: b,
		WaitTimeout: 200 * time.Millisecond, CloseTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.AsBackend().All(bg, mustQuery(t, allNotes)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("All = %v, want a deadline error", err)
	}
	if _, err := c.AsBackend().InsertAndWait(bg, "notes", note("queued", "x", false)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("InsertAndWait = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

// Through a backend acting for a user, a write to a row that user may not
// read fails as one to an id that does not exist.
func TestForSession_UnreadableRowAnswersLikeAMissingOne(t *testing.T) {
	f := newFixture(t, nil)
	secret, err := f.ctx.AsBackend().InsertAndWait(ctxT(t), "notes", note("bob's secret", "bob", false))
	if err != nil {
		t.Fatal(err)
	}
	missing := "0190b2a0-0000-7000-8000-000000000000"
	alice := f.ctx.ForSession(&session.Session{UserID: "alice", AuthMode: session.External})
	cases := []struct {
		name string
		do   func(id string) error
	}{
		{"update", func(id string) error {
			_, err := alice.UpdateAndWait(ctxT(t), "notes", id, map[string]any{"owner_id": "alice"})
			return err
		}},
		{"delete", func(id string) error { return alice.DeleteAndWait(ctxT(t), "notes", id) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			unreadable, absent := tc.do(secret.ID()), tc.do(missing)
			if !errors.Is(unreadable, engine.ErrNotFound) || !errors.Is(absent, engine.ErrNotFound) {
				t.Fatalf("unreadable row: %v; missing row: %v; want ErrNotFound for both", unreadable, absent)
			}
			if a, b := strings.ReplaceAll(unreadable.Error(), secret.ID(), "ID"), strings.ReplaceAll(absent.Error(), missing, "ID"); a != b {
				t.Fatalf("messages differ beyond the id: %q vs %q", a, b)
			}
		})
	}
}
