//go:build js && wasm

package bridge

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

// These tests talk to a real sync server. wasm/internal/e2e starts one
// in-process and runs them with its address in JAZZ_TEST_SERVER_URL, serving
// app "e2e" with tables todos (anyone signed in may write) and locked (no
// insert policy: every insert is rejected).

const e2eApp = "e2e"

const e2eSchema = `{"tables":[{"name":"todos","columns":[{"name":"title","type":"string"},{"name":"done","type":"boolean","optional":true},{"name":"owner_id","type":"string","optional":true}]},{"name":"locked","columns":[{"name":"title","type":"string"}]}]}`

func serverURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("JAZZ_TEST_SERVER_URL")
	if u == "" {
		t.Skip("JAZZ_TEST_SERVER_URL is not set: wasm/internal/e2e runs these against a real server")
	}
	return u
}

func serverDb(t *testing.T, secret, storage string) js.Value {
	cfg := map[string]any{"appId": e2eApp, "serverUrl": serverURL(t)}
	if secret != "" {
		cfg["secret"] = secret
	}
	if storage != "" {
		cfg["storage"] = storage
	}
	db := openDb(t, cfg)
	useSchema(t, db, e2eSchema)
	return db
}

// sessions asks the harness how many WebSocket sessions userID started.
func sessions(t *testing.T, userID string) int {
	t.Helper()
	u := serverURL(t) + "/test/sessions?user_id=" + url.QueryEscape(userID)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := jsutil.Await(ctx, js.Global().Call("fetch", u))
	if err != nil {
		t.Fatal(err)
	}
	text, err := jsutil.Await(ctx, resp.Call("text"))
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Count int }
	if err := json.Unmarshal([]byte(text.String()), &out); err != nil {
		t.Fatalf("%s: %v", text.String(), err)
	}
	return out.Count
}

func userID(t *testing.T, db js.Value) string {
	t.Helper()
	v, err := callSync(db, "getAuthState")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Session struct {
			UserID string `json:"user_id"`
		} `json:"session"`
	}
	json.Unmarshal([]byte(v.String()), &st)
	return st.Session.UserID
}

func TestServer_WritesReachOtherDevicesAndAnonymousReaders(t *testing.T) {
	serverURL(t)
	secret := newSecret(t)
	d1 := serverDb(t, secret, "memory")
	d2 := serverDb(t, secret, "memory") // the same user on another device
	rec := newRecorder(t)
	unsub, err := callSync(d2, "subscribe", `{"table":"todos"}`, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer unsub.Invoke()
	title := "synced " + newSecret(t)[:8]
	mustAwait(t, d1.Call("insert", "todos", cfgJSON(t, map[string]any{"title": title})))
	rec.until(t, "the other device's write", func(s string) bool { return strings.Contains(s, title) })

	anon := serverDb(t, "", "memory")
	eventually(t, "an anonymous reader to get the row", func() bool { return allTitles(t, anon)[title] })
	_, err = await(t, anon.Call("insert", "todos", `{"title":"nope"}`))
	wantErr(t, err, "AnonymousWriteDeniedError", "anonymous_write_denied")
}

func TestServer_RejectedWriteRollsBackAndReportsOnError(t *testing.T) {
	db := serverDb(t, newSecret(t), "memory")
	errs := newRecorder(t)
	stop, _ := callSync(db, "onError", errs.fn)
	defer stop.Invoke()
	rec := newRecorder(t)
	unsub, _ := callSync(db, "subscribe", `{"table":"locked"}`, rec.fn)
	defer unsub.Invoke()
	rec.next(t)
	mustAwait(t, db.Call("insert", "locked", `{"title":"optimistic"}`)) // applies locally at once
	got := errs.next(t)
	var b map[string]string
	json.Unmarshal([]byte(got), &b)
	if b["name"] != "PermissionDeniedError" || b["table"] != "locked" || b["operation"] != "insert" {
		t.Fatalf("onError got %s", got)
	}
	eventually(t, "the rejected row to be rolled back", func() bool {
		return len(rowsOf(t, mustAwait(t, db.Call("all", `{"table":"locked"}`)).String())) == 0
	})
}

// Two tabs of one user: only the leader connects; the follower's writes
// and the server's rows flow through it.
func TestServer_TabsShareOneConnection(t *testing.T) {
	serverURL(t)
	needBrowser(t)
	secret := newSecret(t)
	a := serverDb(t, secret, "")
	b := serverDb(t, secret, "")
	if roleOf(t, a) != "leader" || roleOf(t, b) != "follower" {
		t.Fatalf("roles = %v, %v", roleOf(t, a), roleOf(t, b))
	}
	other := serverDb(t, newSecret(t), "memory") // another user
	rec := newRecorder(t)
	unsub, _ := callSync(b, "subscribe", `{"table":"todos"}`, rec.fn)
	defer unsub.Invoke()
	remote := "remote " + newSecret(t)[:8]
	mustAwait(t, other.Call("insert", "todos", cfgJSON(t, map[string]any{"title": remote})))
	rec.until(t, "a row from the server in the follower", func(s string) bool { return strings.Contains(s, remote) })

	mine := "from follower " + newSecret(t)[:8]
	mustAwait(t, b.Call("insert", "todos", cfgJSON(t, map[string]any{"title": mine})))
	eventually(t, "the follower's write to reach another user", func() bool { return allTitles(t, other)[mine] })
	if n := sessions(t, userID(t, a)); n != 1 {
		t.Fatalf("two tabs of one user opened %d sessions, want 1 (the leader's)", n)
	}

	// A rejected write made through the follower disappears there too.
	errs := newRecorder(t)
	stop, _ := callSync(b, "onError", errs.fn)
	defer stop.Invoke()
	mustAwait(t, b.Call("insert", "locked", `{"title":"denied"}`))
	errs.until(t, "the rejection", func(s string) bool { return strings.Contains(s, "PermissionDeniedError") })
	eventually(t, "the rejected row to vanish in the follower", func() bool {
		return len(rowsOf(t, mustAwait(t, b.Call("all", `{"table":"locked"}`)).String())) == 0
	})
}
