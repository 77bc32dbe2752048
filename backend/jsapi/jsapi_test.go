package jsapi

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/backend"
	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/client/jsapi"
	"github.com/jazzgo/jazz-tools/server"
	"github.com/jazzgo/jazz-tools/server/auth"
)

const (
	testApp       = "backend-jsapi-test"
	backendSecret = "backend-secret-0123456789"
	adminSecret   = "admin-secret-0123456789"
)

// notesBundle: notes are readable and writable by their owner only.
const notesBundle = `{"version":1,
 "schema":{"tables":[{"name":"notes","columns":[
   {"name":"title","type":"string"},
   {"name":"owner_id","type":"string"}]}]},
 "policies":{"notes":{
   "read":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "insert":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "updateOld":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "updateNew":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "delete":{"eq":[{"col":"owner_id"},{"session":"user_id"}]}}}}`

const (
	asBackend = `{"kind":"backend"}`
	asAlice   = `{"kind":"session","session":{"user_id":"alice","authMode":"external","claims":{}}}`
	allNotes  = `{"table":"notes","orderBy":[{"col":"title"}]}`
)

// serverURL starts a real server on loopback with notesBundle.
func serverURL(t *testing.T) string {
	t.Helper()
	b, err := bundle.Decode([]byte(notesBundle))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		AppID: testApp, InMemory: true, Bundle: b, AdminSecret: adminSecret,
		Resolver: &auth.Resolver{BackendSecret: backendSecret},
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return hs.URL
}

// newHandle is createBackend against a fresh server; console collects
// what the handle logs.
func newHandle(t *testing.T) (*Handle, *console) {
	t.Helper()
	c := &console{}
	cfg, _ := json.Marshal(Config{AppID: testApp, ServerURL: serverURL(t), BackendSecret: backendSecret, AdminSecret: adminSecret})
	h, err := New(ctxT(t), string(cfg), Env{Console: c.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, c
}

type console struct {
	mu    gosync.Mutex
	lines []string
}

func (c *console) log(level, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, level+": "+msg)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantErr checks that err reaches JavaScript as name and code.
func wantErr(t *testing.T, what string, err error, name, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s/%s", what, name, code)
	}
	if b := jsapi.Describe(err); b.Name != name || b.Code != code {
		t.Fatalf("%s: %s/%s (%v), want %s/%s", what, b.Name, b.Code, err, name, code)
	}
}

func TestNew_ConfigErrors(t *testing.T) {
	cases := map[string]string{
		"not json":      `{`,
		"unknown field": `{"appId":"a","serverUrl":"http://127.0.0.1:1","backendSecret":"s","jwtAudiences":["x"]}`,
		"trailing data": `{"appId":"a","serverUrl":"http://127.0.0.1:1","backendSecret":"s"} {}`,
		"wrong type":    `{"appId":"a","serverUrl":"http://127.0.0.1:1","backendSecret":"s","maxConnections":"8"}`,
		"no app":        `{"serverUrl":"http://127.0.0.1:1","backendSecret":"s"}`,
		"no secret":     `{"appId":"a","serverUrl":"http://127.0.0.1:1"}`,
		"too large":     `{"appId":"` + strings.Repeat("a", jsapi.MaxConfig) + `"}`,
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			h, err := New(context.Background(), cfg, Env{})
			if h != nil {
				h.Close()
			}
			wantErr(t, "New", err, jsapi.Config, "invalid_config")
		})
	}
}

func TestNew_LogsConfigWarnings(t *testing.T) {
	c := &console{}
	// Production without an audience for external JWTs is allowed, with a warning.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := `{"kty":"OKP","crv":"Ed25519","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	cfg, _ := json.Marshal(Config{AppID: "a", ServerURL: "http://127.0.0.1:1", BackendSecret: "s", Production: true, JWTPublicKey: jwk})
	h, err := New(context.Background(), string(cfg), Env{Console: c.log})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if len(c.lines) == 0 || !strings.HasPrefix(c.lines[0], "warn: jazz-tools/backend: ") {
		t.Fatalf("console: %q, want a configuration warning", c.lines)
	}
}

func TestActor_Errors(t *testing.T) {
	h, _ := newHandle(t)
	cases := []struct{ actor, name, code string }{
		{`nope`, jsapi.Validation, "bad_argument"},
		{`{"kind":"user"}`, jsapi.Validation, "bad_argument"},
		{`{"kind":"backend","extra":1}`, jsapi.Validation, "bad_argument"},
		{`{"kind":"backend"} {}`, jsapi.Validation, "bad_argument"},
		{`{"kind":"attribution"}`, jsapi.Config, "invalid_config"}, // no userId
		{`{"kind":"session"}`, jsapi.Config, "invalid_config"},     // no session
	}
	for _, tc := range cases {
		_, err := h.All(ctxT(t), tc.actor, allNotes)
		wantErr(t, tc.actor, err, tc.name, tc.code)
	}
}

func TestWritesThenReads_AsJSON(t *testing.T) {
	h, _ := newHandle(t)
	ctx := ctxT(t)
	// Alice may only write her own notes: the server's verdict comes back typed.
	_, err := h.Insert(ctx, asAlice, "notes", `{"title":"x","owner_id":"bob"}`)
	wantErr(t, "insert for bob as alice", err, jsapi.PermissionDenied, "permission_denied")
	_, err = h.Insert(ctx, asAlice, "notes", `[1]`)
	wantErr(t, "insert of an array", err, jsapi.Validation, "bad_argument")

	out, err := h.Insert(ctx, asAlice, "notes", `{"title":"b","owner_id":"alice"}`)
	if err != nil {
		t.Fatal(err)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(out), &row); err != nil || row["title"] != "b" || row["$createdBy"] != "alice" {
		t.Fatalf("insert returned %s (%v)", out, err)
	}
	id, _ := row["id"].(string)
	if _, err := h.Update(ctx, asAlice, "notes", id, `{"title":"a"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Insert(ctx, asBackend, "notes", `{"title":"c","owner_id":"bob"}`); err != nil {
		t.Fatal(err)
	}
	if got := titles(t, h, asAlice, allNotes); got != "a" {
		t.Fatalf("alice reads %q, want a (her own note only)", got)
	}
	if got := titles(t, h, asBackend, allNotes); got != "a,c" {
		t.Fatalf("the backend reads %q, want a,c", got)
	}
	staged, err := h.AllStaged(ctx, asAlice, allNotes, `[{"kind":"insert","table":"notes","values":{"title":"z","owner_id":"alice"}}]`)
	if err != nil || !strings.Contains(staged, `"title":"z"`) {
		t.Fatalf("allStaged = %s, %v", staged, err)
	}
	rows, err := h.Batch(ctx, asAlice, "01930000-0000-7000-8000-000000000001", `[{"kind":"update","table":"notes","row":"`+id+`","values":{"title":"d"}}]`)
	if err != nil || !strings.Contains(rows, `"title":"d"`) {
		t.Fatalf("batch = %s, %v", rows, err)
	}
	if err := h.Delete(ctx, asAlice, "notes", id); err != nil {
		t.Fatal(err)
	}
	one, err := h.One(ctx, asAlice, allNotes)
	if err != nil || one != "null" {
		t.Fatalf("one after the delete = %s, %v; want null", one, err)
	}
	if all, err := h.All(ctx, asAlice, allNotes); err != nil || all != "[]" {
		t.Fatalf("all after the delete = %s, %v; want []", all, err)
	}
}

// titles reads queryJSON as actor and joins the titles.
func titles(t *testing.T, h *Handle, actor, queryJSON string) string {
	t.Helper()
	out, err := h.All(ctxT(t), actor, queryJSON)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("all returned %s: %v", out, err)
	}
	var ts []string
	for _, r := range rows {
		ts = append(ts, r["title"].(string))
	}
	return strings.Join(ts, ",")
}

// updates collects a subscription's callbacks.
type updates struct {
	mu   gosync.Mutex
	got  []string
	errs []string
	more chan struct{}
}

func newUpdates() *updates { return &updates{more: make(chan struct{}, 100)} }

func (u *updates) cb(j string)    { u.add(&u.got, j) }
func (u *updates) onErr(j string) { u.add(&u.errs, j) }

func (u *updates) add(to *[]string, j string) {
	u.mu.Lock()
	*to = append(*to, j)
	u.mu.Unlock()
	u.more <- struct{}{}
}

// waitFor waits until some callback contains s.
func (u *updates) waitFor(t *testing.T, s string) {
	t.Helper()
	ctx := ctxT(t)
	for {
		u.mu.Lock()
		all := strings.Join(append(append([]string{}, u.got...), u.errs...), "\n")
		u.mu.Unlock()
		if strings.Contains(all, s) {
			return
		}
		select {
		case <-u.more:
		case <-ctx.Done():
			t.Fatalf("no callback contains %q; got %s", s, all)
		}
	}
}

func (u *updates) joined() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return strings.Join(u.got, "\n")
}

func TestSubscribe_DeliversDeltasUntilStopped(t *testing.T) {
	h, _ := newHandle(t)
	first, second := newUpdates(), newUpdates()
	ended := 0
	stop, err := h.Subscribe(asAlice, allNotes, first.cb, first.onErr, func() { ended++ })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Insert(ctxT(t), asAlice, "notes", `{"title":"one","owner_id":"alice"}`); err != nil {
		t.Fatal(err)
	}
	first.waitFor(t, `"title":"one"`)
	if !strings.Contains(first.joined(), `"added"`) {
		t.Fatalf("update JSON %s has no added", first.joined())
	}

	stop()
	stop() // harmless
	if ended != 1 {
		t.Fatalf("ended ran %d times, want 1", ended)
	}
	h.mu.Lock()
	n := len(h.subs)
	h.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d subscriptions left after stop", n)
	}
	// A later write reaches a new subscription, never the stopped one.
	if _, err := h.Subscribe(asAlice, allNotes, second.cb, second.onErr, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Insert(ctxT(t), asAlice, "notes", `{"title":"two","owner_id":"alice"}`); err != nil {
		t.Fatal(err)
	}
	second.waitFor(t, `"title":"two"`)
	if strings.Contains(first.joined(), `"title":"two"`) {
		t.Fatalf("the stopped subscription got %s", first.joined())
	}
}

func TestSubscribe_ReportsAFailureToStart(t *testing.T) {
	h, _ := newHandle(t)
	u := newUpdates()
	// The query decodes but names no table the replicas know.
	if _, err := h.Subscribe(asBackend, `{"table":"ghosts"}`, u.cb, u.onErr, nil); err != nil {
		t.Fatal(err)
	}
	u.waitFor(t, `"name":"`)
	var b jsapi.ErrorBody
	if err := json.Unmarshal([]byte(u.errs[0]), &b); err != nil || b.Name == "" || b.Code == "" || !strings.Contains(b.Message, "ghosts") {
		t.Fatalf("onError got %s (%v)", u.errs[0], err)
	}
	_, err := h.Subscribe(asBackend, `{"table":`, u.cb, u.onErr, nil)
	wantErr(t, "subscribe with bad query JSON", err, jsapi.Validation, "invalid_query")
}

func TestUseSchema_LaterCallsWaitAndAConflictIsRefusedAtOnce(t *testing.T) {
	// Without the admin secret the replicas start with no tables: useSchema
	// alone lets the backend write notes.
	cfg, _ := json.Marshal(Config{AppID: testApp, ServerURL: serverURL(t), BackendSecret: backendSecret})
	h, err := New(ctxT(t), string(cfg), Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	const note = `{"title":"x","owner_id":"alice"}`
	_, err = h.Insert(ctxT(t), asBackend, "notes", note)
	wantErr(t, "insert before useSchema", err, jsapi.Validation, "unknown_table")

	if err := h.UseSchema(`{"tables":[{"name":"notes","columns":[{"name":"title","type":"string"},{"name":"owner_id","type":"string"}]}]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Insert(ctxT(t), asBackend, "notes", note); err != nil {
		t.Fatalf("insert right after useSchema: %v", err)
	}
	err = h.UseSchema(`{"tables":[{"name":"notes","columns":[{"name":"title","type":"int"}]}]}`)
	wantErr(t, "a conflicting notes", err, jsapi.Validation, "invalid_schema")
	err = h.UseSchema(`{"tables":[],"extra":1}`)
	wantErr(t, "unknown field", err, jsapi.Validation, "invalid_schema")
}

func TestResolveRequest(t *testing.T) {
	h, _ := newHandle(t)
	ctx := ctxT(t)
	s, err := h.ResolveRequest(ctx, `{}`, false)
	if err != nil || !strings.Contains(s, `"authMode":"anonymous"`) {
		t.Fatalf("no credentials: %s, %v; want an anonymous session", s, err)
	}
	_, err = h.ResolveRequest(ctx, `{}`, true)
	wantErr(t, "no credentials for attribution", err, jsapi.Auth, "missing")
	_, err = h.ResolveRequest(ctx, `{"Authorization":["Bearer nope"]}`, false)
	wantErr(t, "a token with no key configured", err, jsapi.Auth, "disabled")
	_, err = h.ResolveRequest(ctx, `{"Authorization":"Bearer x"}`, false)
	wantErr(t, "headers not arrays", err, jsapi.Validation, "bad_argument")
}

func TestClose_LaterCallsFailClosed(t *testing.T) {
	h, _ := newHandle(t)
	ended := 0
	if _, err := h.Subscribe(asBackend, allNotes, func(string) {}, func(string) {}, func() { ended++ }); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if ended != 1 {
		t.Fatalf("close ended the subscription %d times, want 1", ended)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	ctx := ctxT(t)
	_, err := h.All(ctx, asBackend, allNotes)
	wantErr(t, "all", err, jsapi.Closed, "closed")
	_, err = h.Insert(ctx, asBackend, "notes", `{"title":"x","owner_id":"a"}`)
	wantErr(t, "insert", err, jsapi.Closed, "closed")
	wantErr(t, "delete", h.Delete(ctx, asBackend, "notes", "x"), jsapi.Closed, "closed")
	_, err = h.ResolveRequest(ctx, `{}`, false)
	wantErr(t, "resolveRequest", err, jsapi.Closed, "closed")
	wantErr(t, "useSchema", h.UseSchema(`{"tables":[]}`), jsapi.Closed, "closed")
	_, err = h.Subscribe(asBackend, allNotes, func(string) {}, func(string) {}, nil)
	wantErr(t, "subscribe", err, jsapi.Closed, "closed")
}

func TestErr_MapsBackendAndAuthErrors(t *testing.T) {
	cases := []struct {
		err        error
		name, code string
	}{
		{&auth.Error{Code: auth.CodeMissing, Message: "m"}, jsapi.Auth, "missing"},
		{errors.Join(errors.New("ctx"), &auth.Error{Code: "expired"}), jsapi.Auth, "expired"},
		{fmt.Errorf("all: %w", backend.ErrClosed), jsapi.Closed, "closed"},
		{fmt.Errorf("%w: no user id", backend.ErrConfig), jsapi.Config, "invalid_config"},
		{errors.New("other"), jsapi.Internal, "internal"},
	}
	for _, tc := range cases {
		wantErr(t, tc.err.Error(), Err(tc.err), tc.name, tc.code)
	}
	if Err(nil) != nil {
		t.Fatal("Err(nil) != nil")
	}
}

// JavaScript gets [] for no rows, whatever package backend returns.
func TestRows_NoneIsAnEmptyArray(t *testing.T) {
	v, err := rows(nil, nil)
	if j, _ := jsapi.Marshal(v); err != nil || j != "[]" {
		t.Fatalf("rows(nil) marshals to %s, %v", j, err)
	}
}
