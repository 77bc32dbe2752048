//go:build js && wasm

package bridge

import (
	"testing"
	"time"
)

// hooks records the bridge's test hooks by name until the test ends.
func hooks(t *testing.T) chan string {
	ch := make(chan string, 100)
	testHook = func(m string) {
		select {
		case ch <- m:
		default:
		}
	}
	t.Cleanup(func() { testHook = nil })
	return ch
}

func waitHook(t *testing.T, ch chan string, name string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-ch:
			if m == name {
				return
			}
		case <-deadline:
			t.Fatalf("hook %q never ran", name)
		}
	}
}

const openQuery = `{"table":"todos","where":{"eq":[{"col":"done"},{"value":false}]},"orderBy":[{"col":"title"}],"limit":10}`

// A reopened page gets a subscription's first result from the result the
// last page saved, before the table is read; the computed result, being
// the same, is not sent again; later changes arrive as usual. After a
// change, the next page never sees the older saved result.
func TestResultCache_ReopenedPageShowsTheSavedResultOnce(t *testing.T) {
	needBrowser(t)
	cfg := map[string]any{"appId": freshApp(t), "secret": newSecret(t)}

	db1 := mustAwait(t, jazz().Call("createDb", cfgJSON(t, cfg)))
	useSchema(t, db1, todosSchema)
	for _, title := range []string{"a", "b", "c"} {
		mustAwait(t, db1.Call("insert", "todos", `{"title":"`+title+`","done":false}`))
	}
	mustAwait(t, db1.Call("insert", "todos", `{"title":"done","done":true}`))
	rec1 := newRecorder(t)
	if _, err := callSync(db1, "subscribe", openQuery, rec1.fn); err != nil {
		t.Fatal(err)
	}
	rec1.until(t, "3 open todos", func(s string) bool { return len(decodeUpdate(t, s).Rows) == 3 })
	mustAwait(t, db1.Call("close")) // saves the result not saved yet

	h := hooks(t)
	db2 := openDb(t, cfg)
	useSchema(t, db2, todosSchema)
	rec2 := newRecorder(t)
	if _, err := callSync(db2, "subscribe", openQuery, rec2.fn); err != nil {
		t.Fatal(err)
	}
	first := decodeUpdate(t, rec2.next(t))
	if got := titlesOf(first.Rows); len(got) != 3 || !got["a"] || !got["b"] || !got["c"] {
		t.Fatalf("first result %v", first.Rows)
	}
	if len(first.Added) != 3 {
		t.Fatalf("first result added %d rows, want 3", len(first.Added))
	}
	waitHook(t, h, "subscribe: from cache")
	waitHook(t, h, "subscribe: cache confirmed")
	rec2.quiet(t, 100*time.Millisecond)

	mustAwait(t, db2.Call("insert", "todos", `{"title":"d","done":false}`))
	u := decodeUpdate(t, rec2.until(t, "the new todo", func(s string) bool { return len(decodeUpdate(t, s).Rows) == 4 }))
	if len(u.Added) != 1 || u.Added[0]["title"] != "d" {
		t.Fatalf("after the insert: added %v", u.Added)
	}
	mustAwait(t, db2.Call("close"))

	// Closed at once after a change: whether or not its result was saved,
	// the next page's first result has the change.
	db3 := mustAwait(t, jazz().Call("createDb", cfgJSON(t, cfg)))
	useSchema(t, db3, todosSchema)
	mustAwait(t, db3.Call("insert", "todos", `{"title":"e","done":false}`))
	mustAwait(t, db3.Call("close"))
	db4 := openDb(t, cfg)
	useSchema(t, db4, todosSchema)
	rec4 := newRecorder(t)
	if _, err := callSync(db4, "subscribe", openQuery, rec4.fn); err != nil {
		t.Fatal(err)
	}
	if got := titlesOf(decodeUpdate(t, rec4.next(t)).Rows); len(got) != 5 || !got["e"] {
		t.Fatalf("first result after a change: %v", got)
	}
}
