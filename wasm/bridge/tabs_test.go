//go:build js && wasm

package bridge

import (
	"strings"
	"syscall/js"
	"testing"
)

// handleOf finds the handle behind a DbHandle object.
func handleOf(t *testing.T, db js.Value) *handle {
	t.Helper()
	liveMu.Lock()
	defer liveMu.Unlock()
	for h := range handles {
		if h.obj.Equal(db) {
			return h
		}
	}
	t.Fatal("no live handle for this Db")
	return nil
}

func roleOf(t *testing.T, db js.Value) string { return handleOf(t, db).core.Role() }

func TestTabs_LeaderAndFollowerSeeEachOthersWrites(t *testing.T) {
	needBrowser(t)
	cfg := map[string]any{"appId": freshApp(t), "secret": newSecret(t)}
	a := openDb(t, cfg)
	b := openDb(t, cfg)
	if roleOf(t, a) != "leader" || roleOf(t, b) != "follower" {
		t.Fatalf("roles = %v, %v; want leader, follower", roleOf(t, a), roleOf(t, b))
	}
	if v, _ := callSync(b, "storageMode"); v.String() != "indexeddb" {
		t.Fatalf("storageMode = %v", v)
	}
	useSchema(t, a, todosSchema)
	useSchema(t, b, todosSchema)
	rec := newRecorder(t)
	unsub, err := callSync(b, "subscribe", `{"table":"todos"}`, rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	defer unsub.Invoke()
	rec.next(t) // initial, empty
	mustAwait(t, a.Call("insert", "todos", `{"title":"from a"}`))
	rec.until(t, "the leader's write", func(s string) bool { return strings.Contains(s, "from a") })

	row := mustAwait(t, b.Call("insert", "todos", `{"title":"from b"}`)).String()
	// Resolved means the follower already shows it (the batch precedes the reply).
	if got := allTitles(t, b); !got["from a"] || !got["from b"] {
		t.Fatalf("follower sees %v", got)
	}
	if got := allTitles(t, a); !got["from b"] {
		t.Fatalf("leader sees %v", got)
	}
	id := rowID(t, row)
	mustAwait(t, b.Call("update", "todos", id, `{"title":"from b, edited"}`))
	if got := allTitles(t, a); !got["from b, edited"] {
		t.Fatalf("leader after the follower's update sees %v", got)
	}
	mustAwait(t, b.Call("delete", "todos", id))
	if got := allTitles(t, a); len(got) != 1 {
		t.Fatalf("leader after the follower's delete sees %v", got)
	}
	_, err = await(t, b.Call("update", "todos", id, `{"title":"gone"}`))
	wantErr(t, err, "NotFoundError", "not_found")
}

func rowID(t *testing.T, rowJSON string) string {
	t.Helper()
	i := strings.Index(rowJSON, `"id":"`)
	if i < 0 {
		t.Fatalf("no id in %s", rowJSON)
	}
	rest := rowJSON[i+6:]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestTabs_FollowerTakesOverWhenLeaderCloses(t *testing.T) {
	needBrowser(t)
	cfg := map[string]any{"appId": freshApp(t), "secret": newSecret(t)}
	a := mustAwait(t, jazz().Call("createDb", cfgJSON(t, cfg)))
	b := openDb(t, cfg)
	useSchema(t, a, todosSchema)
	useSchema(t, b, todosSchema)
	rec := newRecorder(t)
	unsub, _ := callSync(b, "subscribe", `{"table":"todos"}`, rec.fn)
	defer unsub.Invoke()
	rec.next(t)
	mustAwait(t, a.Call("insert", "todos", `{"title":"x"}`))
	rec.until(t, "x", func(s string) bool { return strings.Contains(s, `"x"`) })
	mustAwait(t, a.Call("close"))
	eventually(t, "the follower to lead", func() bool { return roleOf(t, b) == "leader" })
	// The subscription continued across the reopen: x is not added twice.
	u := decodeUpdate(t, rec.next(t))
	if len(u.Added) != 0 || len(u.Rows) != 1 {
		t.Fatalf("first update after taking over = %+v", u)
	}
	mustAwait(t, b.Call("insert", "todos", `{"title":"y"}`))
	rec.until(t, "y", func(s string) bool { return strings.Contains(s, `"y"`) })
	c := openDb(t, cfg)
	if roleOf(t, c) != "follower" {
		t.Fatalf("a third tab is %v", roleOf(t, c))
	}
	useSchema(t, c, todosSchema)
	if got := allTitles(t, c); !got["x"] || !got["y"] {
		t.Fatalf("new tab sees %v", got)
	}
}

func TestTabs_LeaderLearnsTablesFromFollowers(t *testing.T) {
	needBrowser(t)
	cfg := map[string]any{"appId": freshApp(t), "secret": newSecret(t)}
	a := openDb(t, cfg) // never calls useSchema
	b := openDb(t, cfg)
	useSchema(t, b, todosSchema)
	mustAwait(t, b.Call("insert", "todos", `{"title":"t"}`))
	useSchema(t, a, todosSchema)
	if got := allTitles(t, a); !got["t"] {
		t.Fatalf("leader sees %v", got)
	}
}

func TestTabs_StorageIsPerUserAndPersists(t *testing.T) {
	needBrowser(t)
	app := freshApp(t)
	s1, s2 := newSecret(t), newSecret(t)
	u1 := mustAwait(t, jazz().Call("createDb", cfgJSON(t, map[string]any{"appId": app, "secret": s1})))
	useSchema(t, u1, todosSchema)
	mustAwait(t, u1.Call("insert", "todos", `{"title":"private"}`))
	u2 := openDb(t, map[string]any{"appId": app, "secret": s2})
	if roleOf(t, u2) != "leader" {
		t.Fatal("another user's Db is not on its own database")
	}
	useSchema(t, u2, todosSchema)
	if got := allTitles(t, u2); len(got) != 0 {
		t.Fatalf("user 2 sees user 1's rows: %v", got)
	}
	mustAwait(t, u1.Call("close"))
	again := openDb(t, map[string]any{"appId": app, "secret": s1})
	useSchema(t, again, todosSchema)
	if got := allTitles(t, again); !got["private"] {
		t.Fatalf("after reopening user 1 sees %v", got)
	}
}
