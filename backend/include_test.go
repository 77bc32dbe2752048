package backend_test

import (
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/session"
	"github.com/jazzgo/jazz-tools/server"
)

// projectsBundle: projects readable unless secret; todos by anyone.
const projectsBundle = `{"version":1,
 "schema":{"tables":[
   {"name":"projects","columns":[{"name":"name","type":"string"},{"name":"secret","type":"boolean"}]},
   {"name":"todos","columns":[{"name":"title","type":"string"},{"name":"projectId","type":"ref","ref":"projects","optional":true}]}]},
 "policies":{
   "projects":{"read":{"eq":[{"col":"secret"},{"value":false}]}},
   "todos":{"read":{"eq":[{"value":true},{"value":true}]}}}}`

// TestIncludes_FromGoWithTheSessionsPolicies reads a query with includes
// through a backend context: for a user, a todo whose project the user may
// not read is left out (the inner join), the others carry their project.
func TestIncludes_FromGoWithTheSessionsPolicies(t *testing.T) {
	b, err := bundle.Decode([]byte(projectsBundle))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil, func(c *server.Config) { c.Bundle = b })
	sys := f.ctx.AsBackend()
	open, err := sys.InsertAndWait(ctxT(t), "projects", map[string]any{"name": "open", "secret": false})
	if err != nil {
		t.Fatal(err)
	}
	hidden, err := sys.InsertAndWait(ctxT(t), "projects", map[string]any{"name": "hidden", "secret": true})
	if err != nil {
		t.Fatal(err)
	}
	for title, p := range map[string]any{"a": open.ID(), "b": hidden.ID(), "c": nil} {
		if _, err := sys.InsertAndWait(ctxT(t), "todos", map[string]any{"title": title, "projectId": p}); err != nil {
			t.Fatal(err)
		}
	}
	q := mustQuery(t, `{"table":"todos","include":{"project":{"table":"projects","select":["name"]}},"orderBy":[{"col":"title"}]}`)
	alice := f.ctx.ForSession(&session.Session{UserID: "alice", AuthMode: session.External})
	rows, err := alice.All(ctxT(t), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["title"] != "a" || rows[1]["title"] != "c" || rows[1]["project"] != nil {
		t.Fatalf("alice reads %v", rows)
	}
	if p, _ := rows[0]["project"].(engine.Row); p["name"] != "open" || len(p) != 2 {
		t.Fatalf("a's project: %v", rows[0]["project"])
	}
	all, err := sys.All(ctxT(t), q)
	if err != nil || len(all) != 3 {
		t.Fatalf("the backend itself reads every todo: %v, %v", all, err)
	}
}
