package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/policy/policytest"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/session"
)

func loadMatrix(t *testing.T, ids map[string]string) *policytest.Matrix {
	t.Helper()
	m, err := policytest.Load(ids)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// openEnforcing opens an in-memory engine that enforces the policies of
// bundle JSON js, as a server's does.
func openEnforcing(t testing.TB, js []byte) *engine.DB {
	t.Helper()
	b, err := bundle.Decode(js)
	if err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(context.Background(), engine.Options{Bundle: b, Clock: clock.NewFake(t0), Node: "n", EnforcePolicies: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPolicyMatrix_Engine(t *testing.T) {
	users := map[string]string{"alice": "alice", "bob": "bob", "carol": "carol"}
	m := loadMatrix(t, users)
	db := openEnforcing(t, m.Bundle)
	for _, r := range m.Rows {
		mustWrite(t, db, engine.Op{Kind: engine.KindInsert, Table: r.Table, Row: r.ID, Values: r.Values})
	}
	as := func(user string) engine.Actor {
		return engine.Actor{Session: &session.Session{UserID: users[user], AuthMode: session.External}}
	}
	for user, tables := range m.Reads {
		for table, want := range tables {
			rows, err := db.All(as(user), &query.Query{Table: table})
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, r := range rows {
				got = append(got, fmt.Sprint(r[policytest.Display[table]]))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s reads %s %v, want %v", user, table, got, want)
			}
		}
	}
	for i, w := range m.Writes {
		_, _, err := db.WriteOp(ctx, as(w.User), "", engine.Op{Kind: engine.Kind(w.Kind), Table: w.Table, Row: w.ID, Values: w.Values})
		if got := verdict(err); got != w.Want {
			t.Fatalf("write %d (%s): %s %s: %v, want %s", i, w.About, w.User, w.Kind, err, w.Want)
		}
	}
	// A batch's later writes are judged with its earlier ones: the todo's
	// allowedTo.insert finds the project staged before it.
	if _, err := db.WriteBatch(ctx, as("alice"), "", []engine.Op{
		ins("projects", "stg", map[string]any{"name": "S", "owner_id": "alice"}),
		ins("todos", "stgt", map[string]any{"title": "s", "projectId": uid("stg")}),
	}); err != nil {
		t.Fatalf("a batch inserting a project and its todo: %v", err)
	}
}

func verdict(err error) string {
	var denied *policy.DeniedError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &denied):
		return "denied"
	case errors.Is(err, engine.ErrNotFound):
		return "not_found"
	}
	return "error: " + err.Error()
}

// TestRelationalPolicies_LiveEqualsRecomputed changes memberships, teams,
// parents and projects at random and checks after every commit that each
// user's live results (kept from the updates' Steps) equal the queries run
// from scratch: a row shown or hidden by a change to another row reaches
// the subscription as it does the recomputed query.
func TestRelationalPolicies_LiveEqualsRecomputed(t *testing.T) {
	s := seed(t)
	t.Logf("seed %d (replay with JAZZ_SEED)", s)
	rng := rand.New(rand.NewPCG(s, 23))
	db := openEnforcing(t, loadMatrix(t, map[string]string{"alice": "alice", "bob": "bob", "carol": "carol"}).Bundle)
	queries := []string{
		`{"table":"todos"}`,
		`{"table":"projects","orderBy":[{"col":"name"}],"limit":3,"offset":1}`,
		`{"table":"todos","include":{"project":{"table":"projects"}}}`,
		`{"table":"teams"}`,
		`{"table":"projects","include":{"todosViaProject":{"table":"todos"}}}`,
	}
	type kept struct {
		a    engine.Actor
		q    *query.Query
		rows []engine.Row
	}
	var subs []*kept
	for _, user := range []string{"alice", "bob", "carol"} {
		for _, js := range queries {
			k := &kept{a: engine.Actor{Session: &session.Session{UserID: user, AuthMode: session.External}}, q: q(t, js)}
			subs = append(subs, k)
			if _, err := db.Subscribe(k.a, k.q, func(u engine.Update) {
				if u.First {
					k.rows = append([]engine.Row(nil), u.Added...)
					return
				}
				k.rows = applySteps(k.rows, u.Steps)
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	users := []string{"alice", "bob", "carol", "zed"}
	team := func() any { return uid(fmt.Sprint("team", rng.IntN(3))) }
	project := func() any {
		if rng.IntN(6) == 0 {
			return nil
		}
		return uid(fmt.Sprint("proj", rng.IntN(6)))
	}
	live := map[string]bool{}
	for step := 0; step < 600; step++ {
		var op engine.Op
		switch rng.IntN(4) {
		case 0:
			id := uid(fmt.Sprint("team", rng.IntN(3)))
			op = engine.Op{Kind: engine.KindUpsert, Table: "teams", Row: id, Values: map[string]any{"name": "t", "owner_id": users[rng.IntN(4)]}}
		case 1:
			id := uid(fmt.Sprint("member", rng.IntN(6)))
			if live[id] && rng.IntN(2) == 0 {
				op = engine.Op{Kind: engine.KindDelete, Table: "members", Row: id}
				delete(live, id)
			} else if !live[id] {
				op = engine.Op{Kind: engine.KindRestore, Table: "members", Row: id, Values: map[string]any{"teamId": team(), "user_id": users[rng.IntN(4)]}}
				if step == 0 || rng.IntN(2) == 0 {
					op.Kind = engine.KindUpsert
				}
				live[id] = true
			} else {
				op = engine.Op{Kind: engine.KindUpdate, Table: "members", Row: id, Values: map[string]any{"user_id": users[rng.IntN(4)]}}
			}
		case 2:
			id := uid(fmt.Sprint("proj", rng.IntN(6)))
			vals := map[string]any{"name": fmt.Sprint("p", rng.IntN(4)), "owner_id": users[rng.IntN(4)], "teamId": nil, "parentId": project()}
			if rng.IntN(2) == 0 {
				vals["teamId"] = team()
			}
			op = engine.Op{Kind: engine.KindUpsert, Table: "projects", Row: id, Values: vals}
		default:
			id := uid(fmt.Sprint("todo", rng.IntN(12)))
			p := project()
			if p == nil {
				p = uid("proj0")
			}
			op = engine.Op{Kind: engine.KindUpsert, Table: "todos", Row: id, Values: map[string]any{"title": fmt.Sprint("t", rng.IntN(3)), "projectId": p}}
		}
		if _, _, err := db.WriteOp(ctx, system, "", op); err != nil {
			if errors.Is(err, engine.ErrNotFound) || errors.Is(err, engine.ErrExists) {
				delete(live, op.Row)
				continue
			}
			t.Fatalf("step %d: %v", step, err)
		}
		for i, k := range subs {
			want, err := db.All(k.a, k.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 && len(k.rows) == 0 {
				continue
			}
			if !reflect.DeepEqual(k.rows, want) {
				t.Fatalf("subscription %d (%s, %v) after step %d (%s %s): live\n%v\nrecomputed\n%v", i, k.a.Session.UserID, k.q.Table, step, op.Kind, op.Table, k.rows, want)
			}
		}
	}
}

// chainBundle has a 3-level allowedTo chain: a todo is readable through
// its project, the project through its team, the team through its org, and
// the org by its members (exists).
const chainBundle = `{
  "version": 1,
  "schema": {"tables": [
    {"name": "orgs", "columns": [{"name": "name", "type": "string"}]},
    {"name": "members", "columns": [{"name": "orgId", "type": "ref", "ref": "orgs"}, {"name": "user_id", "type": "string"}]},
    {"name": "teams", "columns": [{"name": "orgId", "type": "ref", "ref": "orgs"}]},
    {"name": "projects", "columns": [{"name": "teamId", "type": "ref", "ref": "teams"}]},
    {"name": "todos", "columns": [{"name": "title", "type": "string"}, {"name": "projectId", "type": "ref", "ref": "projects"}]}]},
  "policies": {
    "orgs": {"read": {"exists": {"table": "members", "where": {"and": [
      {"eq": [{"col": "orgId"}, {"outer": "id"}]}, {"eq": [{"col": "user_id"}, {"session": "user_id"}]}]}}}},
    "teams": {"read": {"allowedTo": {"op": "read", "via": "orgId"}}},
    "projects": {"read": {"allowedTo": {"op": "read", "via": "teamId"}}},
    "todos": {"read": {"allowedTo": {"op": "read", "via": "projectId"}},
      "insert": {"allowedTo": {"op": "read", "via": "projectId"}}}
  }
}`

// BenchmarkAllowedToChain: 100k todos under 1,000 projects, 100 teams and
// 10 orgs, the reader a member of half the orgs. "read" reads every todo
// the reader may see (each judged through the chain); "write" authorizes
// one insert of a todo, the policy check a server makes per written row.
func BenchmarkAllowedToChain(b *testing.B) {
	db := openEnforcing(b, []byte(chainBundle))
	var ops []engine.Op
	flush := func() {
		if len(ops) > 0 {
			if _, err := db.WriteBatch(ctx, system, "", ops); err != nil {
				b.Fatal(err)
			}
		}
		ops = ops[:0]
	}
	add := func(table, id string, vals map[string]any) {
		ops = append(ops, ins(table, id, vals))
		if len(ops) == 500 {
			flush()
		}
	}
	for o := range 10 {
		add("orgs", fmt.Sprint("o", o), map[string]any{"name": fmt.Sprint("org ", o)})
		if o%2 == 0 {
			add("members", fmt.Sprint("m", o), map[string]any{"orgId": uid(fmt.Sprint("o", o)), "user_id": "r"})
		}
	}
	for t := range 100 {
		add("teams", fmt.Sprint("t", t), map[string]any{"orgId": uid(fmt.Sprint("o", t%10))})
	}
	for p := range 1000 {
		add("projects", fmt.Sprint("p", p), map[string]any{"teamId": uid(fmt.Sprint("t", p%100))})
	}
	flush()
	const n = 100_000
	for i := range n {
		ops = append(ops, engine.Op{Kind: engine.KindInsert, Table: "todos", Row: fmt.Sprintf("01900000-0000-7000-9000-%012d", i),
			Values: map[string]any{"title": "t", "projectId": uid(fmt.Sprint("p", i%1000))}})
		if len(ops) == 500 {
			flush()
		}
	}
	flush()
	b.Run("read", func(b *testing.B) {
		qq := &query.Query{Table: "todos"}
		for b.Loop() {
			rows, err := db.All(reader, qq)
			if err != nil || len(rows) != n/2 {
				b.Fatalf("%d rows, %v", len(rows), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
	})
	b.Run("read-unchecked", func(b *testing.B) {
		// The same read by the backend, which no policy binds: the floor.
		qq := &query.Query{Table: "todos"}
		for b.Loop() {
			rows, err := db.All(system, qq)
			if err != nil || len(rows) != n {
				b.Fatalf("%d rows, %v", len(rows), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
	})
	b.Run("write", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			c := &engine.Change{ID: fmt.Sprintf("01900000-0000-7000-a000-%012d", i), Table: "todos", Row: fmt.Sprintf("01900000-0000-7000-b000-%012d", i),
				Kind: engine.KindInsert, TS: hlc.Timestamp{Wall: 1, Node: "w"}, Values: map[string]any{"title": "new", "projectId": uid(fmt.Sprint("p", 2*(i%500)))}}
			if err := db.Authorize(reader, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
