//go:build js && wasm

package bridge

import (
	"encoding/json"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

func TestCore_Shape(t *testing.T) {
	c := jazz()
	if c.Get("version").String() != Version {
		t.Fatalf("version = %v", c.Get("version"))
	}
	for _, m := range []string{"createDb", "newSecret"} {
		if c.Get(m).Type() != js.TypeFunction {
			t.Errorf("%s is not a function", m)
		}
	}
	// Verifying proofs is for servers (jazz-backend.wasm): the browser build
	// does not link signature verification.
	if !c.Get("verifyLocalFirstIdentityProof").IsUndefined() {
		t.Error("the browser core has verifyLocalFirstIdentityProof")
	}
	s := newSecret(t)
	if len(s) != 43 || strings.ContainsAny(s, "+/=") {
		t.Fatalf("secret %q is not 32 bytes of unpadded base64url", s)
	}
}

func TestCreateDb_BadConfigRejectsWithConfigError(t *testing.T) {
	for name, cfg := range map[string]string{
		"secret and jwtToken": cfgJSON(t, map[string]any{"appId": "a", "secret": newSecret(t), "jwtToken": unsignedJWT(map[string]any{"sub": "u"})}),
		"no appId":            `{}`,
		"not JSON":            `{`,
		"unknown field":       `{"appId":"a","colour":"red"}`,
		"bad storage":         `{"appId":"a","storage":"floppy"}`,
		"bad secret":          `{"appId":"a","secret":"nope"}`,
		"bad serverUrl":       `{"appId":"a","serverUrl":"ftp://x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := await(t, jazz().Call("createDb", cfg))
			wantErr(t, err, "ConfigError", "invalid_config")
		})
	}
	_, err := await(t, jazz().Call("createDb", 42))
	wantErr(t, err, "ValidationError", "bad_argument")
}

func TestAnonymous_InsertRejectsWithTableAndOperation(t *testing.T) {
	db := openDb(t, map[string]any{"appId": freshApp(t), "storage": "memory"})
	useSchema(t, db, todosSchema)
	_, err := await(t, db.Call("insert", "todos", `{"title":"milk"}`))
	f := wantErr(t, err, "AnonymousWriteDeniedError", "anonymous_write_denied")
	if f["table"] != "todos" || f["operation"] != "insert" {
		t.Fatalf("fields = %v", f)
	}
	_, err = await(t, db.Call("delete", "todos", "0190d1b6-7c4e-7000-8000-000000000000"))
	f = wantErr(t, err, "AnonymousWriteDeniedError", "anonymous_write_denied")
	if f["operation"] != "delete" {
		t.Fatalf("fields = %v", f)
	}
	var st struct {
		AuthMode string `json:"authMode"`
	}
	v, _ := callSync(db, "getAuthState")
	json.Unmarshal([]byte(v.String()), &st)
	if st.AuthMode != "anonymous" {
		t.Fatalf("authMode = %q", st.AuthMode)
	}
}

func TestLocalFirst_InsertAllOneSubscribeUnsubscribe(t *testing.T) {
	db := openDb(t, map[string]any{"appId": freshApp(t), "secret": newSecret(t), "storage": "memory"})
	useSchema(t, db, todosSchema)
	rec := newRecorder(t)
	unsub, err := callSync(db, "subscribe", `{"table":"todos","where":{"eq":[{"col":"done"},{"value":false}]}}`, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	if first := decodeUpdate(t, rec.next(t)); len(first.Rows) != 0 || len(first.Added) != 0 {
		t.Fatalf("initial result = %+v", first)
	}
	rowJSON := mustAwait(t, db.Call("insert", "todos", `{"title":"milk","done":false}`)).String()
	var row map[string]any
	if err := json.Unmarshal([]byte(rowJSON), &row); err != nil {
		t.Fatal(err)
	}
	id, _ := row["id"].(string)
	if id == "" || row["$createdBy"] == nil {
		t.Fatalf("insert resolved with %s", rowJSON)
	}
	u := decodeUpdate(t, rec.next(t))
	if len(u.Added) != 1 || u.Added[0]["title"] != "milk" || len(u.Rows) != 1 {
		t.Fatalf("update after insert = %+v", u)
	}
	if got := allTitles(t, db); !got["milk"] || len(got) != 1 {
		t.Fatalf("all = %v", got)
	}
	one := mustAwait(t, db.Call("one", `{"table":"todos","where":{"eq":[{"col":"title"},{"value":"milk"}]}}`)).String()
	if !strings.Contains(one, id) {
		t.Fatalf("one = %s", one)
	}
	if none := mustAwait(t, db.Call("one", `{"table":"todos","where":{"eq":[{"col":"title"},{"value":"bread"}]}}`)).String(); none != "null" {
		t.Fatalf("one with no match = %s", none)
	}
	mustAwait(t, db.Call("update", "todos", id, `{"done":true}`))
	if u := decodeUpdate(t, rec.next(t)); len(u.Removed) != 1 || u.Removed[0] != id {
		t.Fatalf("update leaving the filter = %+v", u)
	}
	unsub.Invoke()
	unsub.Invoke() // calling it again is harmless
	mustAwait(t, db.Call("update", "todos", id, `{"done":false}`))
	rec.quiet(t, 200*time.Millisecond)
	_, err = await(t, db.Call("update", "todos", "0190d1b6-7c4e-7000-8000-000000000000", `{"done":true}`))
	wantErr(t, err, "NotFoundError", "not_found")
	_, err = await(t, db.Call("insert", "todos", `{"title":7}`))
	f := wantErr(t, err, "ValidationError", "validation_failed")
	if f["table"] != "todos" || f["column"] != "title" {
		t.Fatalf("validation fields = %v", f)
	}
	if _, err := callSync(db, "subscribe", `{"table":"nope"}`, rec.fn); err == nil {
		t.Fatal("subscribe to an unknown table did not throw")
	} else {
		wantErr(t, err, "ValidationError", "invalid_query")
	}
	if _, err := callSync(db, "useSchema", `{"tables":[{"name":"todos","columns":[{"name":"title","type":"int"}]}]}`); err == nil {
		t.Fatal("conflicting useSchema did not throw")
	} else {
		wantErr(t, err, "ValidationError", "invalid_schema")
	}
	useSchema(t, db, todosSchema) // the same again is fine
}

func TestGetAuthState_IsSynchronous(t *testing.T) {
	db := openDb(t, map[string]any{"appId": freshApp(t), "secret": newSecret(t), "storage": "memory"})
	v, err := callSync(db, "getAuthState")
	if err != nil || v.Type() != js.TypeString {
		t.Fatalf("getAuthState = %v, %v", v, err)
	}
	var st struct {
		AuthMode string `json:"authMode"`
		Session  struct {
			UserID string `json:"user_id"`
		} `json:"session"`
	}
	if err := json.Unmarshal([]byte(v.String()), &st); err != nil {
		t.Fatal(err)
	}
	if st.AuthMode != "local-first" || st.Session.UserID == "" {
		t.Fatalf("auth state = %s", v.String())
	}
}

func TestUpdateAuthToken_NullThrowsAuthError(t *testing.T) {
	db := openDb(t, map[string]any{"appId": freshApp(t), "secret": newSecret(t), "storage": "memory"})
	_, err := callSync(db, "updateAuthToken", js.Null())
	wantErr(t, err, "AuthError", "null_token")
	_, err = callSync(db, "updateAuthToken", unsignedJWT(map[string]any{"sub": "x"}))
	wantErr(t, err, "AuthError", "not_external")
}

func TestOnAuthChanged_StopEndsCallbacksAndReleases(t *testing.T) {
	jwt := func(n int) string { return unsignedJWT(map[string]any{"sub": "alice", "n": n}) }
	db := openDb(t, map[string]any{"appId": freshApp(t), "jwtToken": jwt(0), "storage": "memory"})
	rec := newRecorder(t)
	before := LiveFuncs()
	stop, err := callSync(db, "onAuthChanged", rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := callSync(db, "updateAuthToken", jwt(1)); err != nil {
		t.Fatal(err)
	}
	if got := rec.next(t); !strings.Contains(got, `"n":1`) {
		t.Fatalf("auth change = %s", got)
	}
	_, err = callSync(db, "updateAuthToken", unsignedJWT(map[string]any{"sub": "bob"}))
	wantErr(t, err, "AuthError", "principal_changed")
	stop.Invoke()
	stop.Invoke()
	if LiveFuncs() != before {
		t.Fatalf("live funcs %d after stop, %d before onAuthChanged", LiveFuncs(), before)
	}
	if _, err := callSync(db, "updateAuthToken", jwt(2)); err != nil {
		t.Fatal(err)
	}
	rec.quiet(t, 100*time.Millisecond)
}

func TestOnJWTExpired_HookPromiseRenewsTheToken(t *testing.T) {
	// A 3 s token: renewal comes half-way through its life (the margin is
	// at most a minute and at most half the lifetime).
	exp := time.Now().Add(3 * time.Second).Unix()
	jwt := func(n int, exp int64) string { return unsignedJWT(map[string]any{"sub": "alice", "n": n, "exp": exp}) }
	db := openDb(t, map[string]any{"appId": freshApp(t), "jwtToken": jwt(0, exp), "storage": "memory", "serverUrl": "ws://127.0.0.1:9"})
	calls := make(chan struct{}, 10)
	fresh := jwt(1, time.Now().Add(time.Hour).Unix())
	var hook js.Func
	hook = jsutil.FuncOf(func(this js.Value, args []js.Value) any {
		calls <- struct{}{}
		return js.Global().Get("Promise").Call("resolve", fresh)
	})
	t.Cleanup(func() { jsutil.Release(hook) })
	rec := newRecorder(t)
	stop, _ := callSync(db, "onAuthChanged", rec.fn)
	defer stop.Invoke()
	if _, err := callSync(db, "onJWTExpired", hook); err != nil {
		t.Fatal(err)
	}
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("onJWTExpired was not called before the token expired")
	}
	rec.until(t, "the renewed token's session", func(s string) bool { return strings.Contains(s, `"n":1`) })
	if _, err := callSync(db, "onJWTExpired", js.Null()); err != nil {
		t.Fatal(err)
	}
}

func TestPanic_BecomesRejectionAndInstanceKeepsWorking(t *testing.T) {
	db := openDb(t, map[string]any{"appId": freshApp(t), "secret": newSecret(t), "storage": "memory"})
	useSchema(t, db, todosSchema)
	testHook = func(m string) {
		if m == "insert" || m == "useSchema" {
			panic("boom in " + m)
		}
	}
	_, err := await(t, db.Call("insert", "todos", `{"title":"x"}`))
	f := wantErr(t, err, "InternalError", "panic")
	if !strings.Contains(f["message"], "boom in insert") {
		t.Fatalf("message = %q", f["message"])
	}
	_, err = callSync(db, "useSchema", todosSchema)
	wantErr(t, err, "InternalError", "panic")
	testHook = nil
	mustAwait(t, db.Call("insert", "todos", `{"title":"after"}`))
	if got := allTitles(t, db); !got["after"] {
		t.Fatalf("after the panic all = %v", got)
	}
}

func TestIdentityProof_RoundTrip(t *testing.T) {
	db := openDb(t, map[string]any{"appId": freshApp(t), "secret": newSecret(t), "storage": "memory"})
	proof := mustAwait(t, db.Call("getLocalFirstIdentityProof", 60, "https://auth.example")).String()
	uid, err := identity.VerifyProof(proof, "https://auth.example", time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := callSync(db, "getAuthState")
	if !strings.Contains(st.String(), uid) {
		t.Fatalf("proof names %q, session is %s", uid, st.String())
	}
	anon := openDb(t, map[string]any{"appId": freshApp(t), "storage": "memory"})
	_, err = await(t, anon.Call("getLocalFirstIdentityProof", 60, "x"))
	wantErr(t, err, "ConfigError", "invalid_config")
}

func TestManyDbs_CloseFreesEverything(t *testing.T) {
	rec := newRecorder(t)
	funcsBefore, handlesBefore := LiveFuncs(), LiveHandles()
	var dbs []js.Value
	for i := 0; i < 3; i++ {
		db := mustAwait(t, jazz().Call("createDb", cfgJSON(t, map[string]any{"appId": freshApp(t), "secret": newSecret(t), "storage": "memory"})))
		useSchema(t, db, todosSchema)
		mustAwait(t, db.Call("insert", "todos", `{"title":"row"}`))
		callSync(db, "subscribe", `{"table":"todos"}`, rec.fn)
		callSync(db, "onAuthChanged", rec.fn)
		callSync(db, "onError", rec.fn)
		dbs = append(dbs, db)
	}
	if LiveHandles() != handlesBefore+3 {
		t.Fatalf("live handles = %d", LiveHandles())
	}
	// Instances are independent.
	mustAwait(t, dbs[0].Call("insert", "todos", `{"title":"only in 0"}`))
	if got := allTitles(t, dbs[1]); got["only in 0"] {
		t.Fatal("one Db's write showed in another")
	}
	for _, db := range dbs {
		mustAwait(t, db.Call("close"))
		mustAwait(t, db.Call("close")) // twice is fine
	}
	if LiveHandles() != handlesBefore {
		t.Fatalf("live handles after close = %d, want %d", LiveHandles(), handlesBefore)
	}
	eventually(t, "js.Funcs to be released", func() bool { return LiveFuncs() == funcsBefore })
	_, err := await(t, dbs[0].Call("insert", "todos", `{"title":"late"}`))
	wantErr(t, err, "ClosedError", "closed")
	_, err = callSync(dbs[0], "getAuthState")
	wantErr(t, err, "ClosedError", "closed")
}

func TestStorage_MemoryWhenAskedOrWithoutIndexedDB(t *testing.T) {
	db := openDb(t, map[string]any{"appId": freshApp(t), "storage": "memory"})
	if v, _ := callSync(db, "storageMode"); v.String() != "memory" {
		t.Fatalf("storageMode = %v", v)
	}
	def := openDb(t, map[string]any{"appId": freshApp(t)})
	want := "indexeddb"
	if js.Global().Get("indexedDB").IsUndefined() {
		want = "memory" // Node: falls back, with a console warning
	}
	if v, _ := callSync(def, "storageMode"); v.String() != want {
		t.Fatalf("default storageMode = %v, want %s", v, want)
	}
	if v, _ := callSync(db, "storageName"); v.String() != "" {
		t.Fatalf("storageName in memory = %q, want \"\"", v)
	}
}

// React and Vue clean up effects after a provider closed its Db: calling a
// stop or unsubscribe function then must do nothing, not hit a released
// Go function.
func TestStopFunctions_AfterCloseAreNoOps(t *testing.T) {
	db := openDb(t, map[string]any{"appId": freshApp(t), "secret": newSecret(t), "storage": "memory"})
	useSchema(t, db, todosSchema)
	rec := newRecorder(t)
	stopAuth, err := callSync(db, "onAuthChanged", rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	unsub, err := callSync(db, "subscribe", `{"table":"todos"}`, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := await(t, db.Call("close")); err != nil {
		t.Fatal(err)
	}
	// Go's runtime reports a call to a released function on console.error
	// rather than throwing, so watch that too.
	console := js.Global().Get("console")
	orig := console.Get("error")
	var complaints []string
	spy := js.FuncOf(func(_ js.Value, args []js.Value) any {
		for _, a := range args {
			complaints = append(complaints, a.String())
		}
		return nil
	})
	console.Set("error", spy)
	defer func() { console.Set("error", orig); spy.Release() }()
	for name, f := range map[string]js.Value{"onAuthChanged stop": stopAuth, "unsubscribe": unsub} {
		if err := jsutil.Catch(func() { f.Invoke() }); err != nil {
			t.Fatalf("%s after close: %v", name, err)
		}
	}
	if len(complaints) > 0 {
		t.Fatalf("console.error after close: %v", complaints)
	}
}
