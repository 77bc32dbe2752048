package engine_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// itemsBundle has a column of each type added for Jazz parity, with
// defaults, and policies that let a user write only their own items.
const itemsBundle = `{
  "version": 1,
  "schema": {"tables": [
    {"name": "items", "columns": [
      {"name": "name", "type": "string"},
      {"name": "owner", "type": "string"},
      {"name": "status", "type": "enum", "enum": ["draft", "live"], "default": "draft"},
      {"name": "tags", "type": "array", "items": "string", "default": []},
      {"name": "scores", "type": "array", "items": "int", "optional": true},
      {"name": "blob", "type": "bytes", "optional": true},
      {"name": "level", "type": "int", "default": 3}]}]},
  "policies": {
    "items": {
      "read": true,
      "insert": {"eq": [{"col": "owner"}, {"session": "user_id"}]},
      "updateOld": {"eq": [{"col": "owner"}, {"session": "user_id"}]},
      "updateNew": {"eq": [{"col": "owner"}, {"session": "user_id"}]},
      "delete": {"eq": [{"col": "owner"}, {"session": "user_id"}]}
    }
  }
}`

func openItems(t *testing.T, store storage.Store) *engine.DB {
	t.Helper()
	b, err := bundle.Decode([]byte(itemsBundle))
	if err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(ctx, engine.Options{Bundle: b, Store: store, Clock: clock.NewFake(t0), Node: "n1", EnforcePolicies: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestTypes_DefaultsEnumArrayBytesRoundTripThroughStorage(t *testing.T) {
	store := storage.NewMemory()
	db := openItems(t, store)
	r, err := db.Insert(ctx, as(alice), "items", map[string]any{
		"name": "a", "owner": "alice", "scores": []any{float64(5), int64(7)}, "blob": "AAH/",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name": "a", "owner": "alice", "status": "draft", "tags": []any{}, "level": int64(3),
		"scores": []any{int64(5), int64(7)}, "blob": []byte{0, 1, 255},
	}
	check := func(where string, got engine.Row) {
		t.Helper()
		for k, v := range want {
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("%s: %s = %#v (%T), want %#v (%T)", where, k, got[k], got[k], v, v)
			}
		}
	}
	check("insert", r)
	got, _ := db.Get(as(alice), "items", r.ID())
	check("read", got)
	// A second engine over the same store decodes what the first wrote.
	db2 := openItems(t, store)
	got, err = db2.Get(as(alice), "items", r.ID())
	if err != nil {
		t.Fatal(err)
	}
	check("reloaded", got)

	live, _ := db2.Insert(ctx, as(alice), "items", map[string]any{"name": "b", "owner": "alice", "status": "live", "tags": []any{"red", "big"}})
	for where, ids := range map[string][]string{
		`{"table":"items","where":{"eq":[{"col":"status"},{"value":"live"}]}}`:       {live.ID()},
		`{"table":"items","where":{"eq":[{"col":"status"},{"value":"draft"}]}}`:      {r.ID()},
		`{"table":"items","where":{"contains":[{"col":"tags"},{"value":"red"}]}}`:    {live.ID()},
		`{"table":"items","where":{"contains":[{"col":"scores"},{"value":7}]}}`:      {r.ID()},
		`{"table":"items","where":{"in":[{"col":"status"},{"value":["live","x"]}]}}`: {live.ID()},
	} {
		rows, err := db2.All(as(alice), q(t, where))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, row := range rows {
			got = append(got, row.ID())
		}
		if !reflect.DeepEqual(got, ids) {
			t.Errorf("%s: got %v, want %v", where, got, ids)
		}
	}
}

func TestTypes_BadValuesAreValidationErrorsNamingColumnAndType(t *testing.T) {
	db := openItems(t, storage.NewMemory())
	for col, v := range map[string]any{"status": "gone", "tags": []any{1}, "blob": 3, "level": "x"} {
		_, err := db.Insert(ctx, as(alice), "items", map[string]any{"name": "a", "owner": "alice", col: v})
		var ve *schema.ValidationError
		if !errors.As(err, &ve) || ve.Table != "items" || ve.Column != col {
			t.Errorf("%s = %#v: err = %v, want a ValidationError naming items.%s", col, v, err, col)
		}
	}
	_, err := db.Insert(ctx, as(alice), "items", map[string]any{"owner": "alice"})
	var ve *schema.ValidationError
	if !errors.As(err, &ve) || ve.Column != "name" || ve.Problem != "required column is missing" {
		t.Fatalf("err = %v, want the missing column named", err)
	}
}

func TestUpsert_InsertsThenUpdates(t *testing.T) {
	db := openItems(t, storage.NewMemory())
	id := db.NewID()
	r, _, err := db.WriteOp(ctx, as(alice), "", engine.Op{Kind: engine.KindUpsert, Table: "items", Row: id, Values: map[string]any{"name": "first", "owner": "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID() != id || r["name"] != "first" || r["level"] != int64(3) || r["$createdBy"] != "alice" {
		t.Fatalf("upsert of a new id = %v", r)
	}
	r, _, err = db.WriteOp(ctx, as(alice), "", engine.Op{Kind: engine.KindUpsert, Table: "items", Row: id, Values: map[string]any{"name": "second", "owner": "alice", "level": 9}})
	if err != nil {
		t.Fatal(err)
	}
	if r["name"] != "second" || r["level"] != int64(9) || r["status"] != "draft" {
		t.Fatalf("upsert of an existing id = %v", r)
	}
	// As an update it is held to the update policy: bob may not take it.
	_, _, err = db.WriteOp(ctx, as(bob), "", engine.Op{Kind: engine.KindUpsert, Table: "items", Row: id, Values: map[string]any{"name": "mine", "owner": "bob"}})
	var denied *policy.DeniedError
	if !errors.As(err, &denied) || denied.Operation != policy.Update {
		t.Fatalf("bob's upsert: err = %v, want an update denial", err)
	}
	if _, _, err := db.WriteOp(ctx, as(alice), "", engine.Op{Kind: engine.KindUpsert, Table: "items", Values: map[string]any{"name": "x", "owner": "alice"}}); !errors.Is(err, engine.ErrBadChange) {
		t.Fatalf("upsert without an id: err = %v", err)
	}
}

// The server resolves an upsert against its own rows: two clients that
// both upserted one id offline, each as an insert, both land.
func TestUpsert_ServerResolvesAgainstItsOwnRows(t *testing.T) {
	server := openItems(t, storage.NewMemory())
	id := server.NewID()
	ts := hlc.Timestamp{Wall: t0.UnixMilli(), Node: "c1"}
	first := &engine.Change{ID: server.NewID(), Table: "items", Row: id, Kind: engine.KindInsert, Upsert: true, TS: ts, Values: map[string]any{"name": "one", "owner": "alice"}}
	second := &engine.Change{ID: server.NewID(), Table: "items", Row: id, Kind: engine.KindInsert, Upsert: true, TS: ts, Values: map[string]any{"name": "two", "owner": "alice"}}
	v, err := server.Submit(ctx, as(alice), []*engine.Change{first, second})
	if err != nil || v[0].Err != nil || v[1].Err != nil {
		t.Fatalf("verdicts %+v, %v", v, err)
	}
	got, _ := server.Get(as(alice), "items", id)
	if got["name"] != "two" || second.Kind != engine.KindUpdate {
		t.Fatalf("row = %v, second applied as %s", got, second.Kind)
	}
	plain := &engine.Change{ID: server.NewID(), Table: "items", Row: id, Kind: engine.KindInsert, TS: ts, Values: map[string]any{"name": "three", "owner": "alice"}}
	if v, _ := server.Submit(ctx, as(alice), []*engine.Change{plain}); !errors.Is(v[0].Err, engine.ErrExists) {
		t.Fatalf("a plain insert of a taken id: %v", v[0].Err)
	}
}

func TestRestore_BringsADeletedRowBackWithNewValues(t *testing.T) {
	store := storage.NewMemory()
	db := openItems(t, store)
	r, _ := db.Insert(ctx, as(alice), "items", map[string]any{"name": "a", "owner": "alice", "level": 8, "tags": []any{"x"}})
	restore := func(a engine.Actor, id string, vals map[string]any) (engine.Row, error) {
		row, _, err := db.WriteOp(ctx, a, "", engine.Op{Kind: engine.KindRestore, Table: "items", Row: id, Values: vals})
		return row, err
	}
	if _, err := restore(as(alice), r.ID(), map[string]any{"name": "b", "owner": "alice"}); !errors.Is(err, engine.ErrExists) {
		t.Fatalf("restore of a live row: err = %v, want ErrExists", err)
	}
	if _, err := restore(as(alice), db.NewID(), map[string]any{"name": "b", "owner": "alice"}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("restore of a missing row: err = %v, want ErrNotFound", err)
	}
	if err := db.Delete(ctx, as(alice), "items", r.ID()); err != nil {
		t.Fatal(err)
	}
	// Every other write of a deleted row fails.
	if _, err := db.Update(ctx, as(alice), "items", r.ID(), map[string]any{"name": "c"}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("update of a deleted row: %v", err)
	}
	if _, _, err := db.WriteOp(ctx, as(alice), "", engine.Op{Kind: engine.KindUpsert, Table: "items", Row: r.ID(), Values: map[string]any{"name": "c", "owner": "alice"}}); !errors.Is(err, engine.ErrExists) {
		t.Fatalf("upsert of a deleted row: %v", err)
	}
	// The insert policy applies to the row that comes back.
	var denied *policy.DeniedError
	if _, err := restore(as(bob), r.ID(), map[string]any{"name": "b", "owner": "alice"}); !errors.As(err, &denied) || denied.Operation != policy.Insert {
		t.Fatalf("bob restoring alice's row: err = %v, want an insert denial", err)
	}
	got, err := restore(as(alice), r.ID(), map[string]any{"name": "back", "owner": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	// Left-out columns get their defaults, not the deleted row's values.
	if got["name"] != "back" || got["level"] != int64(3) || !reflect.DeepEqual(got["tags"], []any{}) || got["$createdBy"] != "alice" {
		t.Fatalf("restored row = %v", got)
	}
	if _, ok := got["$deleted"]; ok {
		t.Fatal("the tombstone shows as a column")
	}
	rows, _ := db.All(as(alice), q(t, `{"table":"items"}`))
	if len(rows) != 1 {
		t.Fatalf("all = %v", rows)
	}
	// It stays restored across a reload, and can be deleted again.
	db2 := openItems(t, store)
	if _, err := db2.Get(as(alice), "items", r.ID()); err != nil {
		t.Fatalf("restored row after reload: %v", err)
	}
	if err := db2.Delete(ctx, as(alice), "items", r.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := db2.Get(as(alice), "items", r.ID()); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("deleted again: %v", err)
	}
}

func TestWriteOp_TakesTheCallersChangeID(t *testing.T) {
	db := openItems(t, storage.NewMemory())
	id := db.NewID()
	_, got, err := db.WriteOp(ctx, as(alice), id, engine.Op{Kind: engine.KindInsert, Table: "items", Values: map[string]any{"name": "a", "owner": "alice"}})
	if err != nil || got != id {
		t.Fatalf("change id %q, %v; want %q", got, err, id)
	}
	if _, _, err := db.WriteOp(ctx, as(alice), id, engine.Op{Kind: engine.KindInsert, Table: "items", Values: map[string]any{"name": "b", "owner": "alice"}}); !errors.Is(err, engine.ErrExists) {
		t.Fatalf("a used change id: err = %v", err)
	}
	if _, _, err := db.WriteOp(ctx, as(alice), "nope", engine.Op{Kind: engine.KindInsert, Table: "items", Values: map[string]any{"name": "b", "owner": "alice"}}); !errors.Is(err, engine.ErrBadChange) {
		t.Fatalf("a malformed change id: err = %v", err)
	}
	if rows, _ := db.All(as(alice), q(t, `{"table":"items"}`)); len(rows) != 1 {
		t.Fatalf("refused writes left rows: %v", rows)
	}
}

// A row of plain cells is kept encoded when loaded (lazyrow.go): its
// restored tombstone must read as restored there too.
func TestRestore_SurvivesReloadOfAnEncodedRow(t *testing.T) {
	store := storage.NewMemory()
	f := open(t, func(o *engine.Options) { o.Store = store })
	r, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "milk"))
	f.db.Delete(ctx, as(alice), "todos", r.ID())
	if _, _, err := f.db.WriteOp(ctx, as(alice), "", engine.Op{Kind: engine.KindRestore, Table: "todos", Row: r.ID(), Values: todo("alice", "eggs")}); err != nil {
		t.Fatal(err)
	}
	db2, err := engine.Open(ctx, engine.Options{Bundle: mustBundle(t), Store: store, Clock: f.clock, Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	rows, _ := db2.All(as(alice), q(t, `{"table":"todos"}`))
	if len(rows) != 1 || rows[0]["title"] != "eggs" {
		t.Fatalf("after reload: %v", rows)
	}
}
