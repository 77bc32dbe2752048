//go:build js && wasm

package bridge

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall/js"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/wasm/idbstore"
	"github.com/jazzgo/jazz-tools/wasm/internal/jsutil"
)

func TestMain(m *testing.M) {
	Install()
	os.Exit(m.Run())
}

const todosSchema = `{"tables":[{"name":"todos","columns":[{"name":"title","type":"string"},{"name":"done","type":"boolean","optional":true},{"name":"owner_id","type":"string","optional":true}]}]}`

var appSeq atomic.Int64

// freshApp is an app id no other test uses (IndexedDB outlives a test).
func freshApp(t *testing.T) string {
	return fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e9, appSeq.Add(1))
}

func jazz() js.Value { return js.Global().Get(GlobalName) }

// await waits for a Promise; a rejection is returned as *jsutil.JSError.
func await(t *testing.T, p js.Value) (js.Value, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := jsutil.Await(ctx, p)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("promise did not settle in 20 s")
	}
	return v, err
}

func mustAwait(t *testing.T, p js.Value) js.Value {
	t.Helper()
	v, err := await(t, p)
	if err != nil {
		t.Fatalf("rejected: %v", err)
	}
	return v
}

// call calls a sync method; a thrown Error is returned as *jsutil.JSError.
func callSync(obj js.Value, method string, args ...any) (v js.Value, err error) {
	err = jsutil.Catch(func() { v = obj.Call(method, args...) })
	return v, err
}

// errFields reads name, code and the other fields of a rejected Error.
func errFields(t *testing.T, err error) map[string]string {
	t.Helper()
	var je *jsutil.JSError
	if !errors.As(err, &je) {
		t.Fatalf("want a JS Error, got %v", err)
	}
	if !je.Value.InstanceOf(js.Global().Get("Error")) {
		t.Fatalf("rejection is not an Error: %v", js.Global().Get("String").Invoke(je.Value))
	}
	out := map[string]string{}
	for _, k := range []string{"name", "code", "table", "operation", "column", "message"} {
		if v := je.Value.Get(k); v.Type() == js.TypeString {
			out[k] = v.String()
		}
	}
	return out
}

func wantErr(t *testing.T, err error, name, code string) map[string]string {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s/%s, got success", name, code)
	}
	f := errFields(t, err)
	if f["name"] != name || f["code"] != code {
		t.Fatalf("error = %s/%s (%s), want %s/%s", f["name"], f["code"], f["message"], name, code)
	}
	return f
}

func cfgJSON(t *testing.T, fields map[string]any) string {
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newSecret(t *testing.T) string {
	v, err := callSync(jazz(), "newSecret")
	if err != nil {
		t.Fatal(err)
	}
	return v.String()
}

// openDb creates a Db and closes it at the end of the test.
func openDb(t *testing.T, fields map[string]any) js.Value {
	t.Helper()
	db := mustAwait(t, jazz().Call("createDb", cfgJSON(t, fields)))
	t.Cleanup(func() { await(t, db.Call("close")) })
	return db
}

func useSchema(t *testing.T, db js.Value, s string) {
	t.Helper()
	if _, err := callSync(db, "useSchema", s); err != nil {
		t.Fatal(err)
	}
}

// recorder is a JS callback collecting the strings it is called with. A
// subscription's deltas are applied, as the package does, to the result
// the recorder keeps, and recorded as a subUpdate with that result.
type recorder struct {
	fn   js.Func
	mu   gosync.Mutex
	got  []string
	ch   chan string
	rows []map[string]any
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{ch: make(chan string, 100)}
	r.fn = jsutil.FuncOf(func(this js.Value, args []js.Value) any {
		s := args[0].String()
		r.mu.Lock()
		if strings.Contains(s, `"steps":`) {
			s = r.applyLocked(t, s)
		}
		r.got = append(r.got, s)
		r.mu.Unlock()
		r.ch <- s
		return nil
	})
	t.Cleanup(func() { jsutil.Release(r.fn) })
	return r
}

// next waits for the next call.
func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("callback not called within 10 s")
		return ""
	}
}

// until waits for a call whose JSON satisfies ok.
func (r *recorder) until(t *testing.T, what string, ok func(s string) bool) string {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case s := <-r.ch:
			if ok(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("callback never saw %s", what)
			return ""
		}
	}
}

func (r *recorder) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case s := <-r.ch:
		t.Fatalf("unexpected callback: %s", s)
	case <-time.After(d):
	}
}

// delta is the JSON of a live.Delta.
type delta struct {
	Rows  []map[string]any `json:"rows"`
	Reset bool             `json:"reset"`
	Order []int            `json:"order"`
	Steps []struct {
		Del []int    `json:"del"`
		Ins [][2]int `json:"ins"`
		Set [][2]int `json:"set"`
	} `json:"steps"`
	Added   []int    `json:"added"`
	Updated []int    `json:"updated"`
	Removed []string `json:"removed"`
}

// applyLocked applies a delta to r.rows and returns the subUpdate JSON of
// the change and the new result.
func (r *recorder) applyLocked(t *testing.T, s string) string {
	var d delta
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		t.Errorf("delta %q: %v", s, err)
		return s
	}
	rows := slices.Clone(r.rows)
	if d.Reset {
		rows = make([]map[string]any, len(d.Order))
		for i, j := range d.Order {
			rows[i] = d.Rows[j]
		}
	}
	for _, st := range d.Steps {
		for _, at := range st.Del {
			rows = slices.Delete(rows, at, at+1)
		}
		for _, p := range st.Ins {
			rows = slices.Insert(rows, p[0], d.Rows[p[1]])
		}
		for _, p := range st.Set {
			rows[p[0]] = d.Rows[p[1]]
		}
	}
	r.rows = rows
	u := subUpdate{Added: []map[string]any{}, Updated: []map[string]any{}, Removed: d.Removed, Rows: rows}
	for _, i := range d.Added {
		u.Added = append(u.Added, d.Rows[i])
	}
	for _, i := range d.Updated {
		u.Updated = append(u.Updated, d.Rows[i])
	}
	b, _ := json.Marshal(u)
	return string(b)
}

type subUpdate struct {
	Added   []map[string]any `json:"added"`
	Updated []map[string]any `json:"updated"`
	Removed []string         `json:"removed"`
	Rows    []map[string]any `json:"rows"`
}

func decodeUpdate(t *testing.T, s string) subUpdate {
	t.Helper()
	var u subUpdate
	if err := json.Unmarshal([]byte(s), &u); err != nil {
		t.Fatalf("update %q: %v", s, err)
	}
	return u
}

func rowsOf(t *testing.T, s string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		t.Fatalf("rows %q: %v", s, err)
	}
	return rows
}

func titlesOf(rows []map[string]any) map[string]bool {
	out := map[string]bool{}
	for _, r := range rows {
		out[fmt.Sprint(r["title"])] = true
	}
	return out
}

// allTitles reads todos and returns their titles.
func allTitles(t *testing.T, db js.Value) map[string]bool {
	t.Helper()
	return titlesOf(rowsOf(t, mustAwait(t, db.Call("all", `{"table":"todos"}`)).String()))
}

// eventually retries cond for up to 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func unsignedJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + ".c2ln"
}

func needBrowser(t *testing.T) {
	t.Helper()
	if !idbstore.Available() || !tabsAvailable() {
		t.Skip("needs IndexedDB, BroadcastChannel and Web Locks: runs in headless Chromium (wasmbrowsertest), not in Node")
	}
}
