package integration

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/server"
)

// todoBundleV2 is todoBundle after a release: "priority" added with a
// default, "tag" added as optional, "done" dropped.
const todoBundleV2 = `{"version":1,
 "schema":{"tables":[{"name":"todos","columns":[
   {"name":"title","type":"string"},{"name":"owner_id","type":"string"},
   {"name":"priority","type":"int","default":2},{"name":"tag","type":"string","optional":true}]}]},
 "policies":{"todos":{
   "read":{"or":[{"eq":[{"col":"owner_id"},{"session":"user_id"}]},{"eq":[{"col":"title"},{"value":"public"}]}]},
   "insert":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "updateOld":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "delete":{"eq":[{"col":"owner_id"},{"session":"user_id"}]}}}}`

// A client that keeps running the previous bundle after a publish keeps
// working: its inserts get the new column's default on the server, the
// value it writes to the dropped column is ignored rather than rolling its
// insert back, and rows stored before the publish read the default too.
// The drop itself is refused until forced, because rows hold values in it.
func TestSchemaChange_OldClientKeepsWorkingAfterPublish(t *testing.T) {
	e := newEnv(t, envOpts{})
	secret := newSecret(t)
	old := e.open(client.Config{Secret: secret}, nil) // holds todoBundle for its whole life
	uid := old.GetAuthState().Session.UserID
	before := e.write(t, old, engine.Op{Kind: engine.KindInsert, Table: "todos", Values: todo(uid, "before")})
	if before.err != nil {
		t.Fatal(before.err)
	}

	next, err := bundle.Decode([]byte(todoBundleV2))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.srv.PublishWith(ctx, next, server.PublishOptions{})
	var ue *schema.UnsafeChangeError
	if !errors.As(err, &ue) || len(ue.Breaks) != 1 || ue.Breaks[0].Code != schema.ColumnDropped || ue.Breaks[0].Column != "done" {
		t.Fatalf("unforced publish: %v", err)
	}
	if rows := e.serverRows(t); rows[0]["priority"] != nil {
		t.Fatalf("a refused publish changed rows: %v", rows)
	}
	res, err := e.srv.PublishWith(ctx, next, server.PublishOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Filled) != 1 || res.Filled[0] != (schema.Fill{Table: "todos", Column: "priority", Rows: 1}) || len(res.Forced) != 1 {
		t.Fatalf("published = %+v", res)
	}

	// The old client reconnects (the publish closed its socket) and writes
	// as it always did, "done" included.
	after := e.write(t, old, engine.Op{Kind: engine.KindInsert, Table: "todos", Values: todo(uid, "after")})
	if after.err != nil {
		t.Fatalf("the server refused the old client's insert: %v", after.err)
	}
	byTitle := map[string]engine.Row{}
	for _, r := range e.serverRows(t) {
		byTitle[r["title"].(string)] = r
	}
	for _, title := range []string{"before", "after"} {
		r := byTitle[title]
		if r == nil || r["priority"] != int64(2) || r["done"] != nil && title == "after" {
			t.Fatalf("server row %q = %v", title, r)
		}
	}
	if got, _ := old.All(&query.Query{Table: "todos"}); len(got) != 2 {
		t.Fatalf("the old client holds %d rows, want both (nothing rolled back)", len(got))
	}
	// An update of the dropped column alone is refused, naming it.
	err = e.write(t, old, engine.Op{Kind: engine.KindUpdate, Table: "todos", Row: after.row.ID(), Values: map[string]any{"done": true}}).err
	if err == nil || !strings.Contains(err.Error(), "done") || !strings.Contains(err.Error(), "dropped") {
		t.Fatalf("update of the dropped column only: %v", err)
	}

	// A client running the new bundle reads both rows with the default.
	owner := e.open(client.Config{Secret: secret}, func(o *client.Options) { o.Bundle = next })
	q := &query.Query{Table: "todos"}
	var got []engine.Row
	eventually(t, "the new client reads both rows", func() bool {
		got, _ = owner.All(q)
		return len(got) == 2
	})
	for _, r := range got {
		if r["priority"] != int64(2) || (r["id"] != before.row.ID() && r["id"] != after.row.ID()) {
			t.Fatalf("new client read %v", r)
		}
	}
}

type written struct {
	row engine.Row
	err error // the server's verdict
}

// write writes op on db and waits for the server's verdict, moving the
// fake clock on meanwhile so that a reconnect backoff (after a publish
// closed the socket) fires.
func (e *env) write(t *testing.T, db *client.Db, op engine.Op) written {
	t.Helper()
	row, id, err := db.Write(ctx, "", op)
	if err != nil {
		t.Fatal(err)
	}
	verdict := make(chan error, 1)
	go func() { verdict <- db.Wait(bounded(t), id, client.TierEdge) }()
	for {
		select {
		case err := <-verdict:
			return written{row, err}
		case <-time.After(2 * time.Millisecond):
			e.clock.Advance(time.Second)
		}
	}
}
