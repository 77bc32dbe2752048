package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/protocol"
)

func TestInspector_EveryRouteWantsTheAdminSecret(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"inspect/tables", "inspect/rows?q=" + url.QueryEscape(`{"table":"notes"}`), "inspect/row?table=notes&id=x", "inspect/connections"} {
		for _, hdr := range []map[string]string{nil, {HeaderAdminSecret: "wrong"}} {
			if code, body := f.get(t, "/apps/"+testApp+"/admin/"+path, hdr); code != http.StatusUnauthorized {
				t.Errorf("%s with %v: %d %s, want 401", path, hdr, code, body)
			}
		}
	}
	// The page itself holds no data, so it loads without the secret.
	code, body := f.get(t, "/apps/"+testApp+"/admin/inspector", nil)
	if code != http.StatusOK || !strings.Contains(string(body), "X-Jazz-Admin-Secret") {
		t.Fatalf("inspector page: %d", code)
	}
}

func TestInspector_ShowsTablesRowsCellsAndConnections(t *testing.T) {
	f := newFixture(t)
	admin := map[string]string{HeaderAdminSecret: testAdminSecret}
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	w := newWriter(f.clk, "c")
	milk, bread := w.insert("milk", alice.UserID, true), w.insert("bread", alice.UserID, false)
	push(t, cl, milk, bread)
	subscribe(t, cl, "mine", 0)

	get := func(path string, into any) {
		t.Helper()
		code, body := f.get(t, "/apps/"+testApp+"/admin/"+path, admin)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("%s: %v in %s", path, err, body)
		}
	}
	var tables []struct {
		Name string `json:"name"`
		Rows int    `json:"rows"`
	}
	get("inspect/tables", &tables)
	if len(tables) != 1 || tables[0].Name != "notes" || tables[0].Rows != 2 {
		t.Fatalf("tables = %+v", tables)
	}
	var rows []map[string]any
	get("inspect/rows?q="+url.QueryEscape(`{"table":"notes","where":{"eq":[{"col":"title"},{"value":"bread"}]}}`), &rows)
	if len(rows) != 1 || rows[0]["id"] != bread.Row || rows[0]["$createdBy"] != alice.UserID {
		t.Fatalf("filtered rows = %v", rows)
	}
	var st struct {
		Cells map[string]struct {
			V any    `json:"v"`
			T string `json:"t"`
		} `json:"cells"`
		Seq uint64 `json:"seq"`
	}
	get("inspect/row?table=notes&id="+bread.Row, &st)
	if c := st.Cells["title"]; c.V != "bread" || c.T == "" || st.Seq == 0 {
		t.Fatalf("row state = %+v", st)
	}
	var conns []struct {
		UserID string `json:"userId"`
		Subs   []struct {
			ID    string          `json:"id"`
			Query json.RawMessage `json:"query"`
		} `json:"subscriptions"`
	}
	get("inspect/connections", &conns)
	if len(conns) != 1 || conns[0].UserID != alice.UserID || len(conns[0].Subs) != 1 || conns[0].Subs[0].ID != "mine" ||
		!strings.Contains(string(conns[0].Subs[0].Query), `"notes"`) {
		t.Fatalf("connections = %+v", conns)
	}
	if code, body := f.get(t, "/apps/"+testApp+"/admin/inspect/rows?q="+url.QueryEscape(`{"table":"nope"}`), admin); code != http.StatusBadRequest {
		t.Fatalf("a query of an unknown table: %d %s", code, body)
	}
}
