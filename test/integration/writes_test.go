package integration

import (
	"errors"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// notesBundle has the column types and defaults added for Jazz parity;
// owners write their own notes, everyone reads.
const notesBundle = `{"version":1,
 "schema":{"tables":[{"name":"notes","columns":[
   {"name":"owner_id","type":"string"},
   {"name":"title","type":"string"},
   {"name":"status","type":"enum","enum":["draft","live"],"default":"draft"},
   {"name":"tags","type":"array","items":"string","default":[]},
   {"name":"body","type":"bytes","optional":true}]}]},
 "policies":{"notes":{
   "read":true,
   "insert":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "updateOld":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "delete":{"eq":[{"col":"owner_id"},{"session":"user_id"}]}}}}`

func note(owner, title string) map[string]any {
	return map[string]any{"owner_id": owner, "title": title}
}

// A write's change waits like a batch: Wait(edge) returns once the server
// stored it, with the server's defaults and types, and a second client
// reads the same values.
func TestWrites_NewTypesAndDefaultsReachTheServerAndOtherClients(t *testing.T) {
	e := newEnv(t, envOpts{bundle: notesBundle})
	db := e.open(client.Config{Secret: newSecret(t)}, nil)
	uid := db.GetAuthState().Session.UserID
	v := note(uid, "a")
	v["body"] = "AAH/" // base64, as JSON (and JavaScript) sends bytes
	v["tags"] = []any{"x", "y"}
	row, id, err := db.Write(ctx, "", engine.Op{Kind: engine.KindInsert, Table: "notes", Values: v})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Wait(bounded(t), id, client.TierEdge); err != nil {
		t.Fatalf("wait: %v", err)
	}
	rows := e.serverNotes(t)
	if len(rows) != 1 || rows[0]["status"] != "draft" || !reflect.DeepEqual(rows[0]["body"], []byte{0, 1, 255}) || !reflect.DeepEqual(rows[0]["tags"], []any{"x", "y"}) {
		t.Fatalf("server rows = %v", rows)
	}
	other := e.open(client.Config{Secret: newSecret(t)}, nil)
	q := &query.Query{Table: "notes"}
	q.Where = mustWhere(t, `{"contains":[{"col":"tags"},{"value":"y"}]}`)
	var got []engine.Row
	eventually(t, "the other client reads the note", func() bool {
		got, _ = other.All(q)
		return len(got) == 1
	})
	if got[0]["id"] != row.ID() || got[0]["status"] != "draft" || !reflect.DeepEqual(got[0]["body"], []byte{0, 1, 255}) {
		t.Fatalf("other client read %v", got[0])
	}
}

// The server applies a default itself: a change that reaches it without
// the column (an older client) still stores it.
func TestWrites_ServerAppliesDefaultsAndRefusesMissingRequiredColumns(t *testing.T) {
	e := newEnv(t, envOpts{bundle: notesBundle})
	db := e.open(client.Config{Secret: newSecret(t)}, nil)
	uid := db.GetAuthState().Session.UserID
	eng, err := e.srv.Engine()
	if err != nil {
		t.Fatal(err)
	}
	c := &engine.Change{ID: eng.NewID(), Table: "notes", Row: eng.NewID(), Kind: engine.KindInsert, TS: eng.Timestamp(), Values: note(uid, "raw")}
	if err := eng.Authorize(engine.Actor{Session: db.GetAuthState().Session}, c); err != nil {
		t.Fatal(err)
	}
	if c.Values["status"] != "draft" || !reflect.DeepEqual(c.Values["tags"], []any{}) {
		t.Fatalf("authorized values = %v", c.Values)
	}
	_, err = db.Insert(ctx, "notes", map[string]any{"owner_id": uid})
	var ve *schema.ValidationError
	if !errors.As(err, &ve) || ve.Column != "title" {
		t.Fatalf("insert without title: %v", err)
	}
}

// Upsert and restore go through the server: the second upsert of an id
// updates it there, a restore brings a deleted row back for everyone, and
// a restore the server refuses rejects the wait with the typed error and
// reaches onError.
func TestWrites_UpsertAndRestoreThroughTheServer(t *testing.T) {
	e := newEnv(t, envOpts{bundle: notesBundle})
	var reports atomic.Int32
	db := e.open(client.Config{Secret: newSecret(t)}, func(o *client.Options) { o.OnError = func(error) { reports.Add(1) } })
	uid := db.GetAuthState().Session.UserID
	eventually(t, "connected", connected(db))
	id := db.Engine().NewID()
	wait := func(op engine.Op) error {
		t.Helper()
		_, cid, err := db.Write(ctx, "", op)
		if err != nil {
			return err
		}
		return db.Wait(bounded(t), cid, client.TierEdge)
	}
	if err := wait(engine.Op{Kind: engine.KindUpsert, Table: "notes", Row: id, Values: note(uid, "one")}); err != nil {
		t.Fatal(err)
	}
	if err := wait(engine.Op{Kind: engine.KindUpsert, Table: "notes", Row: id, Values: map[string]any{"owner_id": uid, "title": "two", "status": "live"}}); err != nil {
		t.Fatal(err)
	}
	if rows := e.serverNotes(t); len(rows) != 1 || rows[0]["title"] != "two" || rows[0]["status"] != "live" {
		t.Fatalf("server rows after two upserts = %v", rows)
	}
	if err := wait(engine.Op{Kind: engine.KindDelete, Table: "notes", Row: id}); err != nil {
		t.Fatal(err)
	}
	if rows := e.serverNotes(t); len(rows) != 0 {
		t.Fatalf("server rows after delete = %v", rows)
	}
	if err := wait(engine.Op{Kind: engine.KindRestore, Table: "notes", Row: id, Values: note(uid, "back")}); err != nil {
		t.Fatal(err)
	}
	rows := e.serverNotes(t)
	if len(rows) != 1 || rows[0]["title"] != "back" || rows[0]["status"] != "draft" {
		t.Fatalf("server rows after restore = %v", rows)
	}

	// Another user upserts the same id. Their replica never read the row,
	// so it applies the upsert as an insert of their own note; the server
	// has the row and takes it as an update of someone else's note, which
	// the policy refuses: the wait rejects with the typed error, onError
	// hears of it, and their replica rolls it back.
	var theirs atomic.Int32
	var theirErr atomic.Value
	mallory := e.open(client.Config{Secret: newSecret(t)}, func(o *client.Options) {
		o.OnError = func(err error) { theirErr.Store(err); theirs.Add(1) }
	})
	mid := mallory.GetAuthState().Session.UserID
	row, cid, err := mallory.Write(ctx, "", engine.Op{Kind: engine.KindUpsert, Table: "notes", Row: id, Values: note(mid, "mine now")})
	if err != nil || row["$createdBy"] != mid {
		t.Fatalf("local upsert: %v, %v", row, err)
	}
	err = mallory.Wait(bounded(t), cid, client.TierEdge)
	var denied *policy.DeniedError
	if !errors.As(err, &denied) || denied.Operation != policy.Update {
		t.Fatalf("wait: %v, want the server's update denial", err)
	}
	eventually(t, "onError told", func() bool { return theirs.Load() == 1 })
	if !errors.As(theirErr.Load().(error), &denied) {
		t.Fatalf("onError got %v", theirErr.Load())
	}
	if rows := e.serverNotes(t); len(rows) != 1 || rows[0]["title"] != "back" {
		t.Fatalf("server rows after the refused upsert = %v", rows)
	}
	if reports.Load() != 0 {
		t.Fatal("the owner's client reported a failure")
	}
}

func mustWhere(t *testing.T, js string) *expr.Expr {
	t.Helper()
	e, err := expr.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// serverNotes reads the server's confirmed notes as the system.
func (e *env) serverNotes(t *testing.T) []engine.Row {
	t.Helper()
	db, err := e.srv.Engine()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.All(engine.Actor{Backend: true}, &query.Query{Table: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
