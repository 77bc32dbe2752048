package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/core/storage"
)

const todosBundle = `{
  "version": 1,
  "schema": {"tables": [
    {"name": "lists", "columns": [{"name": "name", "type": "string"}]},
    {"name": "todos", "columns": [
      {"name": "title", "type": "string"},
      {"name": "done", "type": "boolean"},
      {"name": "owner_id", "type": "string"},
      {"name": "rank", "type": "int", "optional": true},
      {"name": "list", "type": "ref", "ref": "lists", "optional": true},
      {"name": "meta", "type": "json", "optional": true}]}]},
  "policies": {
    "todos": {
      "read": {"or": [{"eq": [{"col": "owner_id"}, {"session": "user_id"}]}, {"eq": [{"col": "title"}, {"value": "public"}]}]},
      "insert": {"eq": [{"col": "owner_id"}, {"session": "user_id"}]},
      "updateOld": {"eq": [{"col": "$createdBy"}, {"session": "user_id"}]},
      "updateNew": {"eq": [{"col": "owner_id"}, {"session": "user_id"}]},
      "delete": {"eq": [{"col": "owner_id"}, {"session": "user_id"}]}
    }
  }
}`

var (
	alice = &session.Session{UserID: "alice", AuthMode: session.LocalFirst}
	bob   = &session.Session{UserID: "bob", AuthMode: session.External}
	anon  = &session.Session{UserID: "anonymous:1", AuthMode: session.Anonymous}
	ctx   = context.Background()
	t0    = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
)

func mustBundle(t testing.TB) *bundle.Bundle {
	t.Helper()
	b, err := bundle.Decode([]byte(todosBundle))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type fixture struct {
	db    *engine.DB
	clock *clock.Fake
	store storage.Store
}

func open(t testing.TB, mod func(*engine.Options)) *fixture {
	t.Helper()
	f := &fixture{clock: clock.NewFake(t0), store: storage.NewMemory()}
	opts := engine.Options{Bundle: mustBundle(t), Store: f.store, Clock: f.clock, Node: "n1", EnforcePolicies: true}
	if mod != nil {
		mod(&opts)
	}
	f.store = opts.Store
	db, err := engine.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f.db = db
	return f
}

func as(s *session.Session) engine.Actor { return engine.Actor{Session: s} }

func todo(owner, title string) map[string]any {
	return map[string]any{"title": title, "done": false, "owner_id": owner}
}

func q(t testing.TB, js string) *query.Query {
	t.Helper()
	qq, err := query.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return qq
}

func TestInsert_StampsEditMetadata(t *testing.T) {
	f := open(t, nil)
	r, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", "milk"))
	if err != nil {
		t.Fatal(err)
	}
	if r["$createdBy"] != "alice" || r["$updatedBy"] != "alice" {
		t.Fatalf("authorship = %v / %v", r["$createdBy"], r["$updatedBy"])
	}
	if r["$createdAt"] != t0.UnixMilli() || r["$updatedAt"] != t0.UnixMilli() {
		t.Fatalf("times = %v / %v, want %d", r["$createdAt"], r["$updatedAt"], t0.UnixMilli())
	}
	if r["rank"] != nil || r["title"] != "milk" || len(r.ID()) != 36 {
		t.Fatalf("row = %v", r)
	}
}

func TestUpdate_KeepsCreatedColumnsAndRestampsUpdated(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.EnforcePolicies = false })
	r, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "milk"))
	f.clock.Advance(time.Minute)
	u, err := f.db.Update(ctx, engine.Actor{Session: bob}, "todos", r.ID(), map[string]any{"done": true})
	if err != nil {
		t.Fatal(err)
	}
	if u["$createdBy"] != "alice" || u["$createdAt"] != t0.UnixMilli() {
		t.Fatalf("created columns changed: %v", u)
	}
	if u["$updatedBy"] != "bob" || u["$updatedAt"] != t0.Add(time.Minute).UnixMilli() || u["done"] != true {
		t.Fatalf("updated columns: %v", u)
	}
}

func TestAuthor_AttributionThenSessionThenSystem(t *testing.T) {
	cases := []struct {
		name  string
		actor engine.Actor
		want  string
	}{
		{"attribution wins", engine.Actor{Session: alice, Attribution: "carol", Backend: true}, "carol"},
		{"session user", engine.Actor{Session: alice}, "alice"},
		{"system", engine.Actor{Backend: true}, session.SystemUser},
		{"system with attribution", engine.Actor{Backend: true, Attribution: "dave"}, "dave"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := open(t, func(o *engine.Options) { o.EnforcePolicies = false })
			r, err := f.db.Insert(ctx, c.actor, "todos", todo("x", "t"))
			if err != nil {
				t.Fatal(err)
			}
			if r["$createdBy"] != c.want || r["$updatedBy"] != c.want {
				t.Fatalf("author = %v, want %s", r["$createdBy"], c.want)
			}
		})
	}
}

func TestWrite_AnonymousDeniedBeforeAnythingElse(t *testing.T) {
	f := open(t, nil)
	existing, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "a"))
	cases := []struct {
		name  string
		op    policy.Operation
		table string
		do    func() error
	}{
		{"insert", policy.Insert, "todos", func() error { _, err := f.db.Insert(ctx, as(anon), "todos", todo("anonymous:1", "x")); return err }},
		// invalid values and unknown tables still give the anonymous error:
		// the check runs before the schema is consulted.
		{"insert bad values", policy.Insert, "todos", func() error { _, err := f.db.Insert(ctx, as(anon), "todos", map[string]any{"nope": 1}); return err }},
		{"insert unknown table", policy.Insert, "nope", func() error { _, err := f.db.Insert(ctx, as(anon), "nope", nil); return err }},
		{"update", policy.Update, "todos", func() error {
			_, err := f.db.Update(ctx, as(anon), "todos", existing.ID(), map[string]any{"done": true})
			return err
		}},
		{"delete", policy.Delete, "todos", func() error { return f.db.Delete(ctx, as(anon), "todos", existing.ID()) }},
		{"backend acting for anonymous", policy.Insert, "todos", func() error {
			_, err := f.db.Insert(ctx, engine.Actor{Session: anon, Backend: true}, "todos", todo("x", "x"))
			return err
		}},
		{"remote change", policy.Delete, "todos", func() error {
			return f.db.Authorize(as(anon), &engine.Change{ID: f.db.NewID(), Table: "todos", Row: existing.ID(), Kind: engine.KindDelete, TS: f.db.Timestamp()})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.do()
			var ae *policy.AnonymousWriteDeniedError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want AnonymousWriteDeniedError", err)
			}
			if ae.Table != c.table || ae.Operation != c.op {
				t.Fatalf("error names %s/%s, want %s/%s", ae.Table, ae.Operation, c.table, c.op)
			}
		})
	}
	rows, _ := f.db.All(engine.Actor{Backend: true}, q(t, `{"table":"todos"}`))
	if len(rows) != 1 {
		t.Fatalf("anonymous writes changed data: %d rows", len(rows))
	}
}

func TestWrite_PoliciesEnforced(t *testing.T) {
	f := open(t, nil)
	mine, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", "mine"))
	if err != nil {
		t.Fatal(err)
	}
	// Bob may read this one (title "public"), so he is told he may not
	// change it; a row he may not read answers NotFound (the next test).
	shown, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", "public"))
	if err != nil {
		t.Fatal(err)
	}
	deny := func(t *testing.T, err error, op policy.Operation) {
		t.Helper()
		var de *policy.DeniedError
		if !errors.As(err, &de) || de.Operation != op || de.Table != "todos" {
			t.Fatalf("err = %v, want DeniedError for %s", err, op)
		}
	}
	t.Run("insert for someone else", func(t *testing.T) {
		_, err := f.db.Insert(ctx, as(alice), "todos", todo("bob", "forged"))
		deny(t, err, policy.Insert)
	})
	t.Run("update someone else's row", func(t *testing.T) {
		_, err := f.db.Update(ctx, as(bob), "todos", shown.ID(), map[string]any{"owner_id": "bob"})
		deny(t, err, policy.Update)
	})
	t.Run("update giving the row away", func(t *testing.T) {
		_, err := f.db.Update(ctx, as(alice), "todos", mine.ID(), map[string]any{"owner_id": "bob"})
		deny(t, err, policy.Update)
	})
	t.Run("delete someone else's row", func(t *testing.T) {
		deny(t, f.db.Delete(ctx, as(bob), "todos", shown.ID()), policy.Delete)
	})
	t.Run("table without policies", func(t *testing.T) {
		_, err := f.db.Insert(ctx, as(alice), "lists", map[string]any{"name": "x"})
		var de *policy.DeniedError
		if !errors.As(err, &de) || de.Reason != "no policy" {
			t.Fatalf("err = %v, want no-policy denial", err)
		}
	})
	t.Run("backend bypasses policies", func(t *testing.T) {
		if _, err := f.db.Insert(ctx, engine.Actor{Backend: true}, "lists", map[string]any{"name": "x"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("owner may update and delete", func(t *testing.T) {
		if _, err := f.db.Update(ctx, as(alice), "todos", mine.ID(), map[string]any{"done": true}); err != nil {
			t.Fatal(err)
		}
		if err := f.db.Delete(ctx, as(alice), "todos", mine.ID()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.Get(as(alice), "todos", mine.ID()); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("deleted row still readable: %v", err)
		}
	})
}

func TestWrite_UnreadableRowAnswersLikeAMissingOne(t *testing.T) {
	f := open(t, nil)
	private, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", "private"))
	if err != nil {
		t.Fatal(err)
	}
	const missing = "0190b2a0-0000-7000-8000-000000000000"
	cases := []struct {
		name string
		do   func(id string) error
	}{
		{"update", func(id string) error {
			_, err := f.db.Update(ctx, as(bob), "todos", id, map[string]any{"owner_id": "bob"})
			return err
		}},
		// An invalid patch must not reach validation either: a
		// ValidationError would tell the id exists.
		{"update with an invalid patch", func(id string) error {
			_, err := f.db.Update(ctx, as(bob), "todos", id, map[string]any{"done": "not a boolean"})
			return err
		}},
		{"delete", func(id string) error { return f.db.Delete(ctx, as(bob), "todos", id) }},
		{"remote update", func(id string) error {
			return f.db.Authorize(as(bob), &engine.Change{ID: f.db.NewID(), Table: "todos", Row: id, Kind: engine.KindUpdate,
				TS: f.db.Timestamp(), Values: map[string]any{"title": "x"}})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			unreadable, absent := c.do(private.ID()), c.do(missing)
			if !errors.Is(unreadable, engine.ErrNotFound) || !errors.Is(absent, engine.ErrNotFound) {
				t.Fatalf("unreadable row: %v; missing row: %v; want ErrNotFound for both", unreadable, absent)
			}
			if a, b := strings.ReplaceAll(unreadable.Error(), private.ID(), "ID"), strings.ReplaceAll(absent.Error(), missing, "ID"); a != b {
				t.Fatalf("messages differ beyond the id: %q vs %q", a, b)
			}
		})
	}
	if got, err := f.db.Get(as(alice), "todos", private.ID()); err != nil || got["title"] != "private" {
		t.Fatalf("the row changed: %v, %v", got, err)
	}
}

func TestRead_PolicyFiltersRows(t *testing.T) {
	f := open(t, nil)
	sys := engine.Actor{Backend: true}
	for _, r := range []map[string]any{todo("alice", "a1"), todo("bob", "b1"), todo("bob", "public")} {
		if _, err := f.db.Insert(ctx, sys, "todos", r); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		who  *session.Session
		want int
	}{{alice, 2}, {bob, 2}, {anon, 1}}
	for _, c := range cases {
		rows, err := f.db.All(as(c.who), q(t, `{"table":"todos"}`))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != c.want {
			t.Errorf("%s sees %d rows, want %d", c.who.UserID, len(rows), c.want)
		}
	}
}

func TestWrite_ValidationErrorNamesColumn(t *testing.T) {
	f := open(t, nil)
	_, err := f.db.Insert(ctx, as(alice), "todos", map[string]any{"title": 3, "done": false, "owner_id": "alice"})
	var ve *schema.ValidationError
	if !errors.As(err, &ve) || ve.Table != "todos" || ve.Column != "title" {
		t.Fatalf("err = %v", err)
	}
	if _, err := f.db.Update(ctx, as(alice), "todos", "0190b2a0-0000-7000-8000-000000000000", map[string]any{"done": true}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("update of missing row: %v", err)
	}
}

func TestQuery_Operators(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.EnforcePolicies = false })
	sys := engine.Actor{Backend: true}
	for i, title := range []string{"apple", "banana", "cherry", "date"} {
		v := todo("alice", title)
		v["rank"] = i
		v["meta"] = map[string]any{"tags": []any{"x"}}
		if i == 3 {
			v["rank"] = nil
			v["owner_id"] = "bob"
		}
		if _, err := f.db.Insert(ctx, sys, "todos", v); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		where string
		want  []string
	}{
		{`{"eq":[{"col":"owner_id"},{"value":"alice"}]}`, []string{"apple", "banana", "cherry"}},
		{`{"ne":[{"col":"owner_id"},{"value":"alice"}]}`, []string{"date"}},
		{`{"lt":[{"col":"rank"},{"value":1}]}`, []string{"apple"}},
		{`{"lte":[{"col":"rank"},{"value":1}]}`, []string{"apple", "banana"}},
		{`{"gt":[{"col":"rank"},{"value":1}]}`, []string{"cherry"}},
		{`{"gte":[{"col":"rank"},{"value":1.0}]}`, []string{"banana", "cherry"}},
		{`{"in":[{"col":"title"},{"value":["date","apple","zzz"]}]}`, []string{"apple", "date"}},
		{`{"contains":[{"col":"title"},{"value":"an"}]}`, []string{"banana"}},
		{`{"isNull":{"col":"rank"}}`, []string{"date"}},
		{`{"and":[{"eq":[{"col":"owner_id"},{"value":"alice"}]},{"gt":[{"col":"rank"},{"value":0}]}]}`, []string{"banana", "cherry"}},
		{`{"or":[{"eq":[{"col":"title"},{"value":"apple"}]},{"eq":[{"col":"title"},{"value":"date"}]}]}`, []string{"apple", "date"}},
		{`{"not":{"eq":[{"col":"owner_id"},{"value":"alice"}]}}`, []string{"date"}},
		{`{"eq":[{"col":"$createdBy"},{"value":"jazz:system"}]}`, []string{"apple", "banana", "cherry", "date"}},
		{`{"eq":[{"col":"owner_id"},{"value":"nobody"}]}`, nil},
	}
	for _, c := range cases {
		t.Run(c.where, func(t *testing.T) {
			rows, err := f.db.All(sys, q(t, `{"table":"todos","where":`+c.where+`,"orderBy":[{"col":"title"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r["title"].(string))
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestQuery_OrderLimitOffsetAndOne(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.EnforcePolicies = false })
	sys := engine.Actor{Backend: true}
	for i, title := range []string{"c", "a", "d", "b", "e"} {
		v := todo("alice", title)
		v["rank"] = i
		f.db.Insert(ctx, sys, "todos", v)
	}
	rows, err := f.db.All(sys, q(t, `{"table":"todos","orderBy":[{"col":"title","desc":true}],"limit":2,"offset":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["title"] != "d" || rows[1]["title"] != "c" {
		t.Fatalf("rows = %v", rows)
	}
	one, err := f.db.One(sys, q(t, `{"table":"todos","orderBy":[{"col":"rank"}]}`))
	if err != nil || one["title"] != "c" {
		t.Fatalf("one = %v, %v", one, err)
	}
	none, err := f.db.One(sys, q(t, `{"table":"todos","where":{"eq":[{"col":"title"},{"value":"zz"}]}}`))
	if err != nil || none != nil {
		t.Fatalf("one of nothing = %v, %v", none, err)
	}
	if _, err := f.db.All(sys, q(t, `{"table":"todos","where":{"eq":[{"col":"nope"},{"value":1}]}}`)); !errors.Is(err, query.ErrInvalid) {
		t.Fatalf("unknown column: %v", err)
	}
}

func TestStorage_ReopenRestoresRowsAndTypes(t *testing.T) {
	store := storage.NewMemory()
	f := open(t, func(o *engine.Options) { o.Store = store; o.EnforcePolicies = false })
	v := todo("alice", "milk")
	v["rank"] = 7
	r, _ := f.db.Insert(ctx, as(alice), "todos", v)
	deleted, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "gone"))
	f.db.Delete(ctx, as(alice), "todos", deleted.ID())
	// Reopen over the same data (a second engine on the same store).
	db2, err := engine.Open(ctx, engine.Options{Bundle: mustBundle(t), Store: store, Clock: f.clock, Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db2.Get(as(alice), "todos", r.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got["rank"] != int64(7) || got["$createdAt"] != t0.UnixMilli() || got["done"] != false {
		t.Fatalf("reloaded row = %#v", got)
	}
	if _, err := db2.Get(as(alice), "todos", deleted.ID()); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("tombstone lost on reload: %v", err)
	}
	rows, _ := db2.All(as(alice), q(t, `{"table":"todos","where":{"eq":[{"col":"rank"},{"value":7}]}}`))
	if len(rows) != 1 {
		t.Fatalf("index not rebuilt on reload: %d rows", len(rows))
	}
}

func TestStorage_FailedWriteLosesNothingAndChangesNothing(t *testing.T) {
	faulty := storage.NewFaulty(storage.NewMemory())
	f := open(t, func(o *engine.Options) { o.Store = faulty; o.EnforcePolicies = false })
	r, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "milk"))
	var updates int
	sub, err := f.db.Subscribe(as(alice), q(t, `{"table":"todos"}`), func(engine.Update) { updates++ })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	faulty.FailApplyAfter(0)
	if _, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", "x")); !errors.Is(err, storage.ErrInjected) {
		t.Fatalf("insert on failing store: %v", err)
	}
	if _, err := f.db.Update(ctx, as(alice), "todos", r.ID(), map[string]any{"title": "changed"}); !errors.Is(err, storage.ErrInjected) {
		t.Fatalf("update on failing store: %v", err)
	}
	faulty.FailApplyAfter(-1)
	rows, _ := f.db.All(as(alice), q(t, `{"table":"todos"}`))
	if len(rows) != 1 || rows[0]["title"] != "milk" {
		t.Fatalf("memory diverged from store after failed writes: %v", rows)
	}
	if updates != 1 {
		t.Fatalf("subscription saw %d updates, want only the initial one", updates)
	}
	if _, err := f.db.Insert(ctx, as(alice), "todos", todo("alice", "after")); err != nil {
		t.Fatalf("healed store: %v", err)
	}
}

func TestPolicy_ClaimsArrayMembership(t *testing.T) {
	b := mustBundle(t)
	read, err := expr.Decode([]byte(`{"in":[{"value":"admin"},{"session":"claims.roles"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b.Policies["lists"] = &policy.Table{Read: read}
	f := open(t, func(o *engine.Options) { o.Bundle = b })
	f.db.Insert(ctx, engine.Actor{Backend: true}, "lists", map[string]any{"name": "x"})
	admin := &session.Session{UserID: "a", AuthMode: session.External, Claims: map[string]any{"roles": []any{"user", "admin"}}}
	user := &session.Session{UserID: "u", AuthMode: session.External, Claims: map[string]any{"roles": []any{"user"}}}
	for who, want := range map[*session.Session]int{admin: 1, user: 0, anon: 0} {
		rows, _ := f.db.All(as(who), q(t, `{"table":"lists"}`))
		if len(rows) != want {
			t.Errorf("%s sees %d lists, want %d", who.UserID, len(rows), want)
		}
	}
}

func TestExtend_AddsTablesAndLoadsTheirStoredRows(t *testing.T) {
	store := storage.NewMemory()
	f := open(t, func(o *engine.Options) { o.Store = store; o.EnforcePolicies = false })
	r, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", "milk"))
	// A client that has not seen its schema yet starts empty.
	empty, _ := schema.New()
	db2, err := engine.Open(ctx, engine.Options{Bundle: &bundle.Bundle{Schema: empty}, Store: store, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db2.Get(as(alice), "todos", r.ID()); !errors.Is(err, schema.ErrUnknownTable) {
		t.Fatalf("before Extend: %v", err)
	}
	full := mustBundle(t).Schema
	if err := db2.Extend(ctx, full); err != nil {
		t.Fatal(err)
	}
	if err := db2.Extend(ctx, full); err != nil {
		t.Fatalf("extending twice with the same schema: %v", err)
	}
	if got, err := db2.Get(as(alice), "todos", r.ID()); err != nil || got["title"] != "milk" {
		t.Fatalf("after Extend: %v %v", got, err)
	}
	other, _ := schema.New(&schema.Table{Name: "todos", Columns: []schema.Column{{Name: "title", Type: schema.Int}}})
	if err := db2.Extend(ctx, other); !errors.Is(err, schema.ErrInvalidSchema) {
		t.Fatalf("conflicting table: %v", err)
	}
}

// ackedByServer acknowledges the pending changes ids as the server does,
// stamping each with the time the server's clock gives it: here the time
// the change was made, as for a server whose clock agrees with the client's.
func ackedByServer(db *engine.DB, ids ...string) []engine.Acked {
	ts := map[string]hlc.Timestamp{}
	for _, c := range db.Pending() {
		ts[c.ID] = c.TS
	}
	out := make([]engine.Acked, len(ids))
	for i, id := range ids {
		out[i] = engine.Acked{ID: id, Stamp: ts[id]}
	}
	return out
}
