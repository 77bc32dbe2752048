package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/policy/policytest"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
)

func TestPolicyMatrix_Server(t *testing.T) {
	users, ids := map[string]user{}, map[string]string{}
	for _, name := range policytest.Users {
		users[name] = newUser(t)
		ids[name] = users[name].UserID
	}
	m, err := policytest.Load(ids)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, withBundle(string(m.Bundle)))
	w := newWriter(f.clk, "m")
	change := func(kind engine.Kind, table, row string, values map[string]any) *engine.Change {
		return &engine.Change{ID: w.ids.New(), Table: table, Row: row, Kind: kind, TS: w.hlc.Now(), By: "x", Values: values}
	}
	backend, _ := f.hello(t, backendAuth(""))
	for _, r := range m.Rows {
		if ack := push(t, backend, change(engine.KindInsert, r.Table, r.ID, r.Values)); len(ack.IDs) != 1 {
			t.Fatalf("seeding %s/%s: %s", r.Table, r.ID, mustJSON(ack))
		}
	}
	conns := map[string]*client{}
	for name, u := range users {
		conns[name], _ = f.hello(t, protocol.Auth{Bearer: f.token(t, u, time.Hour)})
	}
	n := 0
	for name, tables := range m.Reads {
		for table, want := range tables {
			n++
			id := fmt.Sprint("read", n)
			conns[name].send(protocol.TSub, protocol.Sub{ID: id, Query: mustQuery(t, `{"table":"`+table+`"}`)})
			r := expectFrame(t, conns[name], protocol.TRows, wait).Body.(*protocol.Rows)
			if !r.Complete || r.Sub != id {
				t.Fatalf("initial rows = %s", mustJSON(r))
			}
			got := []string{}
			for _, st := range r.Rows {
				got = append(got, fmt.Sprint(cellValue(t, st, policytest.Display[table])))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s reads %s %v, want %v", name, table, got, want)
			}
			conns[name].send(protocol.TUnsub, protocol.Unsub{ID: id})
		}
	}
	for i, wr := range m.Writes {
		cl := conns[wr.User]
		cl.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{change(engine.Kind(wr.Kind), wr.Table, wr.ID, wr.Values)}})
		got := ""
		for got == "" {
			switch fr := cl.next(t, wait); fr.Type {
			case protocol.TAck:
				got = "ok"
			case protocol.TReject:
				switch e := fr.Body.(*protocol.Reject).Error; e.Name {
				case protocol.NamePermissionDenied:
					got = "denied"
				case protocol.NameNotFound:
					got = "not_found"
				default:
					got = "error: " + mustJSON(e)
				}
			}
		}
		if got != wr.Want {
			t.Fatalf("write %d (%s): %s %s: %s, want %s", i, wr.About, wr.User, wr.Kind, got, wr.Want)
		}
	}

	// Live: bob follows the todos; the team's owner takes his membership
	// away, and the server tells him to forget every todo he read through it.
	bob := conns["bob"]
	bob.send(protocol.TSub, protocol.Sub{ID: "live", Query: mustQuery(t, `{"table":"todos"}`)})
	var shown []string
	for {
		fr := expectFrame(t, bob, protocol.TRows, wait).Body.(*protocol.Rows)
		if fr.Sub != "live" {
			continue
		}
		shown = append(shown, rowIDs(fr.Rows)...)
		if fr.Complete {
			break
		}
	}
	if len(shown) == 0 {
		t.Fatal("bob sees no todos before the revoke")
	}
	push(t, backend, change(engine.KindDelete, "members", "01900000-0000-7000-8000-00000000b001", nil))
	hidden := map[string]bool{}
	for len(hidden) < len(shown) {
		fr := expectFrame(t, bob, protocol.TRows, wait).Body.(*protocol.Rows)
		for _, st := range fr.Rows {
			if !st.Hidden || len(st.Cells) != 0 {
				t.Fatalf("after the revoke bob got %s, want only hidden states", mustJSON(st))
			}
			hidden[st.ID] = true
		}
	}
	for _, id := range shown {
		if !hidden[id] {
			t.Errorf("todo %s was not hidden from bob", id)
		}
	}
}

// cellValue is the value of column col in st.
func cellValue(t *testing.T, st engine.RowState, col string) any {
	t.Helper()
	var out struct {
		Cells map[string]struct {
			V any `json:"v"`
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(mustJSON(st)), &out); err != nil {
		t.Fatal(err)
	}
	return out.Cells[col].V
}

func mustQuery(t *testing.T, js string) *query.Query {
	t.Helper()
	q, err := query.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// A todo moves out of the includes of a live result (to a project the
// query does not select): with relational policies the subscription keeps
// its result, and the moved todo still reaches the client as it is now,
// so the client stops including its old state.
func TestIncludes_MovedRowIsSentWithRelationalPolicies(t *testing.T) {
	f := newFixture(t, withBundle(`{"version": 1,
	  "schema": {"tables": [
	    {"name": "projects", "columns": [{"name": "name", "type": "string"}]},
	    {"name": "todos", "columns": [{"name": "title", "type": "string"}, {"name": "projectId", "type": "ref", "ref": "projects"}]}]},
	  "policies": {
	    "projects": {"read": true},
	    "todos": {"read": {"allowedTo": {"op": "read", "via": "projectId"}}}}}`))
	w := newWriter(f.clk, "m")
	change := func(kind engine.Kind, table, row string, values map[string]any) *engine.Change {
		return &engine.Change{ID: w.ids.New(), Table: table, Row: row, Kind: kind, TS: w.hlc.Now(), By: "x", Values: values}
	}
	backend, _ := f.hello(t, backendAuth(""))
	a, b, todo := w.ids.New(), w.ids.New(), w.ids.New()
	push(t, backend, change(engine.KindInsert, "projects", a, map[string]any{"name": "A"}),
		change(engine.KindInsert, "projects", b, map[string]any{"name": "B"}),
		change(engine.KindInsert, "todos", todo, map[string]any{"title": "t", "projectId": a}))
	bob, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, newUser(t), time.Hour)})
	bob.send(protocol.TSub, protocol.Sub{ID: "s", Query: mustQuery(t, `{"table":"projects","where":{"eq":[{"col":"name"},{"value":"A"}]},"include":{"todosViaProject":{"table":"todos"}}}`)})
	if r := expectFrame(t, bob, protocol.TRows, wait).Body.(*protocol.Rows); !r.Complete || !slices.Contains(rowIDs(r.Rows), todo) {
		t.Fatalf("initial rows %v, want project A with its todo", rowIDs(r.Rows))
	}
	push(t, backend, change(engine.KindUpdate, "todos", todo, map[string]any{"projectId": b}))
	for {
		r := expectFrame(t, bob, protocol.TRows, wait).Body.(*protocol.Rows)
		for _, st := range r.Rows {
			if st.ID == todo {
				if got := cellValue(t, st, "projectId"); got != b {
					t.Fatalf("the moved todo came as projectId %v, want %v", got, b)
				}
				return
			}
		}
	}
}

// A write that leaves its row unreadable to its writer (a note given
// away) is acknowledged with the row hidden: the writer's client forgets
// it rather than keep the state it can no longer see.
func TestAck_NamesARowTheWriterCanNoLongerReadHidden(t *testing.T) {
	f := newFixture(t, withBundle(strings.Replace(notesBundle,
		`"updateNew":{"eq":[{"col":"owner_id"},{"session":"user_id"}]}`, `"updateNew":true`, 1)))
	alice := newUser(t)
	cl, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	w := newWriter(f.clk, "c")
	note := w.insert("mine", alice.UserID, false)
	push(t, cl, note)
	ack := push(t, cl, w.update(note.Row, map[string]any{"owner_id": "someone-else"}))
	if len(ack.Rows) != 1 || !ack.Rows[0].Hidden || ack.Rows[0].ID != note.Row || len(ack.Rows[0].Cells) != 0 {
		t.Fatalf("ack rows = %s, want the note hidden, with no cells", mustJSON(ack.Rows))
	}
}
