package schema_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/jazzgo/jazz-tools/core/schema"
)

func TestRelations_DerivedByJazzNamingRule(t *testing.T) {
	s, err := schema.New(
		&schema.Table{Name: "projects", Columns: []schema.Column{{Name: "name", Type: schema.String}}},
		&schema.Table{Name: "todos", Columns: []schema.Column{
			{Name: "projectId", Type: schema.Ref, Ref: "projects", Optional: true},
			{Name: "owner_id", Type: schema.Ref, Ref: "projects"},
			{Name: "parent_id", Type: schema.Ref, Ref: "todos", Optional: true},
			{Name: "list", Type: schema.Ref, Ref: "projects"}, // no suffix: no relation
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	names := func(table string) map[string]schema.Relation {
		out := map[string]schema.Relation{}
		for n, r := range s.Relations(table) {
			out[n] = *r
		}
		return out
	}
	wantTodos := map[string]schema.Relation{
		"project":        {Name: "project", From: "todos", To: "projects", Column: "projectId", Optional: true},
		"owner":          {Name: "owner", From: "todos", To: "projects", Column: "owner_id"},
		"parent":         {Name: "parent", From: "todos", To: "todos", Column: "parent_id", Optional: true},
		"todosViaParent": {Name: "todosViaParent", From: "todos", To: "todos", Column: "parent_id", Reverse: true},
	}
	if got := names("todos"); !reflect.DeepEqual(got, wantTodos) {
		t.Errorf("todos relations:\n%v\nwant\n%v", got, wantTodos)
	}
	wantProjects := map[string]schema.Relation{
		"todosViaProject": {Name: "todosViaProject", From: "projects", To: "todos", Column: "projectId", Reverse: true},
		"todosViaOwner":   {Name: "todosViaOwner", From: "projects", To: "todos", Column: "owner_id", Reverse: true},
	}
	if got := names("projects"); !reflect.DeepEqual(got, wantProjects) {
		t.Errorf("projects relations:\n%v\nwant\n%v", got, wantProjects)
	}
	for col, want := range map[string]string{"projectId": "project", "owner_id": "owner", "Id": "", "_id": "", "list": "", "userid": ""} {
		if got := schema.ForwardName(col); got != want {
			t.Errorf("ForwardName(%q) = %q, want %q", col, got, want)
		}
	}
}

func TestRelations_NameClashIsInvalid(t *testing.T) {
	for name, tables := range map[string][]*schema.Table{
		"relation named like a column": {{Name: "todos", Columns: []schema.Column{
			{Name: "project", Type: schema.String}, {Name: "projectId", Type: schema.Ref, Ref: "todos"}}}},
		"two relations of one name": {{Name: "todos", Columns: []schema.Column{
			{Name: "projectId", Type: schema.Ref, Ref: "todos"}, {Name: "project_id", Type: schema.Ref, Ref: "todos"}}}},
	} {
		if _, err := schema.New(tables...); !errors.Is(err, schema.ErrInvalidSchema) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
