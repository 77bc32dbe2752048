package server

import (
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

// pushRejected sends one change and returns its reject, failing on an ack.
func pushRejected(t *testing.T, cl *client, ch *engine.Change) *protocol.Reject {
	t.Helper()
	cl.send(protocol.TPush, protocol.Push{Changes: []*engine.Change{ch}})
	r := expectFrame(t, cl, protocol.TReject, wait).Body.(*protocol.Reject)
	if r.ID != ch.ID {
		t.Fatalf("reject for %s, want %s", r.ID, ch.ID)
	}
	return r
}

// Under whereOld({owner_id: session.user_id}).whereNew({owner_id:
// session.user_id}) a row someone else owns cannot be taken over by setting
// owner_id to oneself: the new row satisfies whereNew, the old one does not.
// The row is public, so bob may read it and is told he may not change it.
func TestWS_NonOwnerCannotTakeARowOverBySettingOwnerToThemselves(t *testing.T) {
	f := newFixture(t)
	alice, bob := newUser(t), newUser(t)
	w := newWriter(f.clk, "c")
	ac, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	note := w.insert("alice's", alice.UserID, true)
	push(t, ac, note)
	seq := f.seq(t)

	bc, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, bob, time.Hour)})
	r := pushRejected(t, bc, w.update(note.Row, map[string]any{"owner_id": bob.UserID, "title": "bob's now"}))
	if r.Error.Name != protocol.NamePermissionDenied || r.Error.Table != "notes" || r.Error.Operation != "update" {
		t.Fatalf("reject = %s, want PermissionDeniedError for the update", mustJSON(r))
	}
	if f.seq(t) != seq {
		t.Fatal("the takeover was applied")
	}
	rows := subscribe(t, ac, "mine", 0).Rows
	if len(rows) != 1 || rows[0].Cells["owner_id"].V != alice.UserID || rows[0].Cells["title"].V != "alice's" {
		t.Fatalf("alice's row = %s", mustJSON(rows))
	}
}

// A write to a row the session may not read is refused exactly as one to
// an id that does not exist, so rejects do not reveal which ids exist.
func TestWS_UnreadableRowIsRefusedLikeAMissingOne(t *testing.T) {
	f := newFixture(t)
	alice, bob := newUser(t), newUser(t)
	w := newWriter(f.clk, "c")
	ac, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	private := w.insert("alice private", alice.UserID, false)
	push(t, ac, private)
	missing := w.ids.New()

	bc, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, bob, time.Hour)})
	cases := []struct {
		name   string
		change func(row string) *engine.Change
	}{
		{"update", func(row string) *engine.Change { return w.update(row, map[string]any{"owner_id": bob.UserID}) }},
		{"update with an invalid patch", func(row string) *engine.Change { return w.update(row, map[string]any{"public": "yes"}) }},
		{"delete", w.delete},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			unreadable := pushRejected(t, bc, tc.change(private.Row)).Error
			absent := pushRejected(t, bc, tc.change(missing)).Error
			unreadable.Message = strings.ReplaceAll(unreadable.Message, private.Row, "ID")
			absent.Message = strings.ReplaceAll(absent.Message, missing, "ID")
			if unreadable.Name != protocol.NameNotFound || unreadable != absent {
				t.Fatalf("unreadable row: %s; missing row: %s; want the same NotFoundError", mustJSON(unreadable), mustJSON(absent))
			}
		})
	}
}

// The anonymous check comes before anything else on the push path: the
// table, the row and the values are not looked at, so an anonymous caller
// learns nothing about them from the answer.
func TestWS_AnonymousWriteIsRefusedBeforeTheRowIsLookedUp(t *testing.T) {
	f := newFixture(t)
	alice := newUser(t)
	w := newWriter(f.clk, "c")
	ac, _ := f.hello(t, protocol.Auth{Bearer: f.token(t, alice, time.Hour)})
	private, public := w.insert("alice private", alice.UserID, false), w.insert("alice public", alice.UserID, true)
	push(t, ac, private, public)
	seq := f.seq(t)

	anon, _ := f.hello(t, protocol.Auth{})
	badValues, unknownTable := w.insert("x", "x", false), w.insert("x", "x", false)
	badValues.Values = map[string]any{"nope": 1}
	unknownTable.Table = "no_such_table"
	cases := []struct {
		name   string
		change *engine.Change
		table  string
		op     string
	}{
		{"update of a missing row", w.update(w.ids.New(), map[string]any{"title": "x"}), "notes", "update"},
		{"delete of a missing row", w.delete(w.ids.New()), "notes", "delete"},
		{"update of an unreadable row", w.update(private.Row, map[string]any{"title": "x"}), "notes", "update"},
		{"delete of an unreadable row", w.delete(private.Row), "notes", "delete"},
		{"update of a readable row with an invalid patch", w.update(public.Row, map[string]any{"public": "yes"}), "notes", "update"},
		{"insert with invalid values", badValues, "notes", "insert"},
		{"insert into an unknown table", unknownTable, "no_such_table", "insert"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := pushRejected(t, anon, tc.change)
			if r.Error.Name != protocol.NameAnonymousWriteDenied || r.Error.Table != tc.table || r.Error.Operation != tc.op {
				t.Fatalf("reject = %s, want AnonymousWriteDeniedError for %s on %s", mustJSON(r), tc.op, tc.table)
			}
		})
	}
	if f.seq(t) != seq {
		t.Fatal("an anonymous write was applied")
	}
}
