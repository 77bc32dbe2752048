package engine_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/session"
)

// relBundle has a forward relation (todos.project), its reverse
// (projects.todosViaProject), a self relation (todos.parent and
// todos.todosViaParent), and read policies that hide some rows of each
// table from the reader.
const relBundle = `{
  "version": 1,
  "schema": {"tables": [
    {"name": "projects", "columns": [
      {"name": "name", "type": "string"},
      {"name": "secret", "type": "boolean"}]},
    {"name": "todos", "columns": [
      {"name": "title", "type": "string"},
      {"name": "done", "type": "boolean"},
      {"name": "rank", "type": "int"},
      {"name": "secret", "type": "boolean"},
      {"name": "projectId", "type": "ref", "ref": "projects", "optional": true},
      {"name": "parent_id", "type": "ref", "ref": "todos", "optional": true}]}]},
  "policies": {
    "projects": {"read": {"eq": [{"col": "secret"}, {"value": false}]},
      "updateOld": {"eq": [{"col": "secret"}, {"value": false}]}},
    "todos": {"read": {"eq": [{"col": "secret"}, {"value": false}]},
      "updateOld": {"eq": [{"col": "done"}, {"value": false}]},
      "delete": {"eq": [{"col": "rank"}, {"value": 1}]}}
  }
}`

func relDB(t testing.TB) *engine.DB {
	t.Helper()
	return openEnforcing(t, []byte(relBundle))
}

var (
	reader = engine.Actor{Session: &session.Session{UserID: "r", AuthMode: session.External}}
	system = engine.Actor{Backend: true}
)

// relQueries cover forward, nested, reverse (with where, order and
// window), self relations, select and requireIncludes, windowed or not.
var relQueries = []string{
	`{"table":"todos","include":{"project":{"table":"projects"}}}`,
	`{"table":"todos","include":{"project":{"table":"projects"}},"requireIncludes":true,"orderBy":[{"col":"rank"}],"limit":5,"offset":2}`,
	`{"table":"todos","where":{"eq":[{"col":"done"},{"value":false}]},"include":{"parent":{"table":"todos","include":{"project":{"table":"projects","select":["name"]}}}},"orderBy":[{"col":"title","desc":true}]}`,
	`{"table":"projects","include":{"todosViaProject":{"table":"todos","where":{"eq":[{"col":"done"},{"value":false}]},"orderBy":[{"col":"rank"}],"limit":3}}}`,
	`{"table":"projects","orderBy":[{"col":"name"}],"limit":3,"include":{"todosViaProject":{"table":"todos","include":{"parent":{"table":"todos"}},"requireIncludes":true}}}`,
	`{"table":"todos","select":["title","$canRead","$canEdit","$canDelete"],"include":{"todosViaParent":{"table":"todos","select":["rank"]},"project":{"table":"projects"}}}`,
}

// TestIncludes_LiveEqualsRecomputed runs a random history of writes (single
// ones and batches) to projects and todos, with references that dangle,
// point at hidden rows, or are null, and checks after every commit that
// each live result with includes, kept only from its updates' Steps,
// equals the query run from scratch.
func TestIncludes_LiveEqualsRecomputed(t *testing.T) {
	s := seed(t)
	t.Logf("seed %d (replay with JAZZ_SEED)", s)
	rng := rand.New(rand.NewPCG(s, 19))
	db := relDB(t)
	type kept struct {
		q    *query.Query
		sub  *engine.Subscription
		rows []engine.Row
	}
	subs := make([]*kept, len(relQueries))
	for i, js := range relQueries {
		k := &kept{q: q(t, js)}
		subs[i] = k
		var err error
		k.sub, err = db.Subscribe(reader, k.q, func(u engine.Update) {
			if u.First {
				k.rows = append([]engine.Row(nil), u.Added...)
				return
			}
			k.rows = applySteps(k.rows, u.Steps)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	exists, dead := map[string]bool{}, map[string]bool{}
	gen := 0 // ids move on, so deleted ones are left behind
	pid := func() string { return uid(fmt.Sprint("p", rng.IntN(8)+gen/8)) }
	tid := func() string { return uid(fmt.Sprint("t", rng.IntN(30)+gen)) }
	ref := func(id func() string) any {
		switch rng.IntN(8) {
		case 0:
			return nil
		case 1:
			return uid("missing")
		}
		return id()
	}
	op := func() engine.Op {
		table, id := "todos", tid()
		if rng.IntN(3) == 0 {
			table, id = "projects", pid()
		}
		if dead[id] { // a deleted id is not reused
			return engine.Op{}
		}
		if exists[id] && rng.IntN(8) == 0 {
			dead[id] = true
			return engine.Op{Kind: engine.KindDelete, Table: table, Row: id}
		}
		var vals map[string]any
		if table == "projects" {
			vals = map[string]any{"name": fmt.Sprint("n", rng.IntN(5)), "secret": rng.IntN(5) == 0}
		} else {
			vals = map[string]any{"title": fmt.Sprint("t", rng.IntN(5)), "done": rng.IntN(2) == 0, "rank": rng.IntN(4),
				"secret": rng.IntN(6) == 0, "projectId": ref(pid), "parent_id": ref(tid)}
		}
		if exists[id] {
			for k := range vals { // a patch of some columns
				if rng.IntN(2) == 0 {
					delete(vals, k)
				}
			}
			if len(vals) == 0 {
				vals["secret"] = rng.IntN(4) == 0
			}
			return engine.Op{Kind: engine.KindUpdate, Table: table, Row: id, Values: vals}
		}
		exists[id] = true
		return engine.Op{Kind: engine.KindInsert, Table: table, Row: id, Values: vals}
	}
	for step := 0; step < 1500; step++ {
		gen = step / 20
		n := 1
		if rng.IntN(5) == 0 {
			n = 2 + rng.IntN(40)
		}
		var ops []engine.Op
		touched := map[string]bool{}
		for tries := 0; len(ops) < n && tries < 10*n; tries++ {
			before, beforeDead := maps(exists), maps(dead)
			o := op()
			if o.Row == "" || touched[o.Row] { // one op per row in a batch
				exists, dead = before, beforeDead
				continue
			}
			touched[o.Row] = true
			ops = append(ops, o)
		}
		if len(ops) == 0 {
			continue
		}
		if _, err := db.WriteBatch(ctx, system, "", ops); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		for i, k := range subs {
			want, err := db.All(reader, k.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 && len(k.rows) == 0 {
				continue
			}
			if !reflect.DeepEqual(k.rows, want) {
				t.Fatalf("query %d after step %d: live result\n%v\nrecomputed\n%v", i, step, k.rows, want)
			}
			if got := k.sub.Rows(); !reflect.DeepEqual(got, want) {
				t.Fatalf("query %d after step %d: Rows()\n%v\nrecomputed\n%v", i, step, got, want)
			}
		}
	}
}

func maps(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func mustWrite(t *testing.T, db *engine.DB, ops ...engine.Op) {
	t.Helper()
	if _, err := db.WriteBatch(ctx, system, "", ops); err != nil {
		t.Fatal(err)
	}
}

func ins(table, id string, vals map[string]any) engine.Op {
	return engine.Op{Kind: engine.KindInsert, Table: table, Row: uid(id), Values: vals}
}

// uid is a row id (a UUID) made from a short name, so tests can name rows.
func uid(name string) string {
	return fmt.Sprintf("01900000-0000-7000-8000-%012x", []byte(name))
}

func relTodo(title string, rank int, project, parent any) map[string]any {
	if s, ok := project.(string); ok {
		project = uid(s)
	}
	if s, ok := parent.(string); ok {
		parent = uid(s)
	}
	return map[string]any{"title": title, "done": false, "rank": rank, "secret": false, "projectId": project, "parent_id": parent}
}

func titles(rows []engine.Row) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r["title"]
	}
	return out
}

// TestIncludes_InnerJoin checks Jazz's rule: a reference that does not
// resolve (missing, deleted or hidden) drops the row; a null one keeps it,
// with null, unless requireIncludes; a reverse relation never drops its row.
func TestIncludes_InnerJoin(t *testing.T) {
	db := relDB(t)
	mustWrite(t, db,
		ins("projects", "p1", map[string]any{"name": "open", "secret": false}),
		ins("projects", "p2", map[string]any{"name": "hidden", "secret": true}),
		ins("todos", "a", relTodo("a", 1, "p1", nil)),
		ins("todos", "b", relTodo("b", 2, "p2", nil)),   // hidden project
		ins("todos", "c", relTodo("c", 3, "gone", nil)), // missing project
		ins("todos", "d", relTodo("d", 4, nil, nil)),    // no project
		ins("todos", "e", relTodo("e", 5, "p1", "c")),   // parent drops out (its project is missing)
		ins("todos", "f", relTodo("f", 6, "p1", "a")),
	)
	all := func(js string) []engine.Row {
		t.Helper()
		rows, err := db.All(reader, q(t, js))
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	rows := all(`{"table":"todos","include":{"project":{"table":"projects"}},"orderBy":[{"col":"rank"}]}`)
	if got := titles(rows); !reflect.DeepEqual(got, []any{"a", "d", "e", "f"}) {
		t.Fatalf("include project: %v", got)
	}
	if rows[0]["project"].(engine.Row)["name"] != "open" || rows[0]["projectId"] != uid("p1") || rows[1]["project"] != nil {
		t.Fatalf("include keeps the column and adds the row (null for a null ref): %v", rows[:2])
	}
	rows = all(`{"table":"todos","include":{"project":{"table":"projects"}},"requireIncludes":true,"orderBy":[{"col":"rank"}]}`)
	if got := titles(rows); !reflect.DeepEqual(got, []any{"a", "e", "f"}) {
		t.Fatalf("requireIncludes: %v", got)
	}
	rows = all(`{"table":"todos","include":{"parent":{"table":"todos","include":{"project":{"table":"projects"}}}},"orderBy":[{"col":"rank"}]}`)
	if got := titles(rows); !reflect.DeepEqual(got, []any{"a", "b", "c", "d", "f"}) {
		t.Fatalf("nested include: a parent missing its own include does not resolve: %v", got)
	}
	rows = all(`{"table":"projects","include":{"todosViaProject":{"table":"todos","where":{"gt":[{"col":"rank"},{"value":1}]},"orderBy":[{"col":"rank","desc":true}],"limit":2,"select":["title"]}}}`)
	if len(rows) != 1 || !reflect.DeepEqual(rows[0]["todosViaProject"], []engine.Row{{"id": uid("f"), "title": "f"}, {"id": uid("e"), "title": "e"}}) {
		t.Fatalf("reverse relation with where, orderBy, limit and select: %v", rows)
	}
	if _, ok := rows[0]["todosViaProject"]; !ok {
		t.Fatal("reverse relation missing")
	}
	rows = all(`{"table":"todos","select":["title","$canRead","$canEdit","$canDelete"],"where":{"eq":[{"col":"title"},{"value":"a"}]}}`)
	if want := (engine.Row{"id": uid("a"), "title": "a", "$canRead": true, "$canEdit": true, "$canDelete": true}); !reflect.DeepEqual(rows[0], want) {
		t.Fatalf("select with permission columns: %v, want %v", rows[0], want)
	}
	rows, _ = db.All(engine.Actor{}, q(t, `{"table":"todos","select":["$canEdit"],"where":{"eq":[{"col":"title"},{"value":"a"}]}}`))
	if rows[0]["$canEdit"] != nil {
		t.Fatalf("without a session $canEdit is null, got %v", rows[0]["$canEdit"])
	}
	if _, err := db.AllStaged(reader, q(t, `{"table":"todos","include":{"project":{"table":"projects"}}}`), []engine.Op{ins("todos", "z", relTodo("z", 1, nil, nil))}); !errors.Is(err, query.ErrInvalid) {
		t.Fatalf("includes in a transaction's read: %v", err)
	}
}

// TestIncludes_LiveUpdates checks that an included row's change, arrival,
// deletion and hiding reach a subscription as updates of the rows that
// include it.
func TestIncludes_LiveUpdates(t *testing.T) {
	db := relDB(t)
	mustWrite(t, db, ins("todos", "a", relTodo("a", 1, "p1", nil)))
	var last engine.Update
	sub, err := db.Subscribe(reader, q(t, `{"table":"todos","include":{"project":{"table":"projects"}}}`), func(u engine.Update) { last = u })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	if len(last.Added) != 0 {
		t.Fatalf("a todo whose project is not here is not in the result: %v", last.Added)
	}
	mustWrite(t, db, ins("projects", "p1", map[string]any{"name": "one", "secret": false}))
	if len(last.Added) != 1 || last.Added[0]["project"].(engine.Row)["name"] != "one" || last.Related != nil {
		t.Fatalf("project arrives: %+v", last)
	}
	last = engine.Update{}
	mustWrite(t, db, engine.Op{Kind: engine.KindUpdate, Table: "projects", Row: uid("p1"), Values: map[string]any{"name": "uno"}})
	if len(last.Updated) != 1 || last.Updated[0]["project"].(engine.Row)["name"] != "uno" {
		t.Fatalf("project renamed: %+v", last)
	}
	mustWrite(t, db, engine.Op{Kind: engine.KindUpdate, Table: "projects", Row: uid("p1"), Values: map[string]any{"secret": true}})
	if !reflect.DeepEqual(last.Removed, []string{uid("a")}) {
		t.Fatalf("project hidden: %+v", last)
	}
	mustWrite(t, db, engine.Op{Kind: engine.KindUpdate, Table: "projects", Row: uid("p1"), Values: map[string]any{"secret": false}})
	mustWrite(t, db, engine.Op{Kind: engine.KindDelete, Table: "projects", Row: uid("p1")})
	if !reflect.DeepEqual(last.Removed, []string{uid("a")}) {
		t.Fatalf("project deleted: %+v", last)
	}

	// A reverse relation: a todo moving between projects updates both.
	mustWrite(t, db,
		ins("projects", "p2", map[string]any{"name": "two", "secret": false}),
		ins("projects", "p3", map[string]any{"name": "three", "secret": false}),
		ins("todos", "b", relTodo("b", 1, "p2", nil)))
	var rev engine.Update
	sub2, err := db.Subscribe(reader, q(t, `{"table":"projects","include":{"todosViaProject":{"table":"todos"}}}`), func(u engine.Update) { rev = u })
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Cancel()
	mustWrite(t, db, engine.Op{Kind: engine.KindUpdate, Table: "todos", Row: uid("b"), Values: map[string]any{"projectId": uid("p3")}})
	lists := map[string]int{}
	for _, r := range rev.Updated {
		lists[r["name"].(string)] = len(r["todosViaProject"].([]engine.Row))
	}
	if !reflect.DeepEqual(lists, map[string]int{"two": 0, "three": 1}) {
		t.Fatalf("a todo moved from two to three: %+v", rev)
	}

	// A server's watch hears of every change to an included table, with
	// the rows that include it (as Added: it keeps no result).
	var watched []engine.Update
	w, err := db.Watch(reader, q(t, `{"table":"todos","include":{"project":{"table":"projects"}}}`), func(u engine.Update) { watched = append(watched, u) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	mustWrite(t, db, ins("projects", "p9", map[string]any{"name": "unused", "secret": false}))
	mustWrite(t, db, engine.Op{Kind: engine.KindUpdate, Table: "projects", Row: uid("p3"), Values: map[string]any{"name": "drei"}})
	want := []engine.RowRef{{Table: "projects", ID: uid("p9")}}
	if len(watched) != 2 || !reflect.DeepEqual(watched[0].Related, want) || len(watched[0].Added) != 0 ||
		len(watched[1].Added) != 1 || watched[1].Added[0].ID() != uid("b") {
		t.Fatalf("watch: %+v", watched)
	}
}

// BenchmarkInclude reads 10k todos spread over 100 projects, each with its
// project included, against the same query without the include: what
// resolving a forward relation costs a full read (goal: at most 2x).
func BenchmarkInclude(b *testing.B) {
	bn, err := bundle.Decode([]byte(relBundle))
	if err != nil {
		b.Fatal(err)
	}
	db, err := engine.Open(ctx, engine.Options{Bundle: bn, Node: "bench", EnforcePolicies: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var ops []engine.Op
	flush := func() {
		if _, err := db.WriteBatch(ctx, system, "", ops); err != nil {
			b.Fatal(err)
		}
		ops = ops[:0]
	}
	for i := range 100 {
		ops = append(ops, ins("projects", fmt.Sprint("p", i), map[string]any{"name": fmt.Sprint("project ", i), "secret": false}))
	}
	flush()
	for i := range 10_000 {
		ops = append(ops, ins("todos", fmt.Sprint("t", i), relTodo(fmt.Sprint("todo ", i), i, fmt.Sprint("p", i%100), nil)))
		if len(ops) == 500 {
			flush()
		}
	}
	for name, js := range map[string]string{
		"plain":   `{"table":"todos"}`,
		"include": `{"table":"todos","include":{"project":{"table":"projects"}}}`,
	} {
		b.Run(name, func(b *testing.B) {
			qq := q(b, js)
			for b.Loop() {
				rows, err := db.All(reader, qq)
				if err != nil || len(rows) != 10_000 {
					b.Fatalf("%d rows, %v", len(rows), err)
				}
			}
		})
	}
}
