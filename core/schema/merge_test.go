package schema

import (
	"errors"
	"testing"
)

func TestMerge_AddsNewTablesAndRefusesAnotherDeclaration(t *testing.T) {
	users := &Table{Name: "users", Columns: []Column{{Name: "name", Type: String}}}
	cur, err := New(users)
	if err != nil {
		t.Fatal(err)
	}
	todos := &Table{Name: "todos", Columns: []Column{{Name: "owner", Type: Ref, Ref: "users"}}}
	// add refers to a table only cur declares: the union must still check.
	add := &Schema{Tables: []*Table{{Name: "users", Columns: []Column{{Name: "name", Type: String}}}, todos}}
	merged, added, err := Merge(cur, add)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 || added[0].Name != "todos" {
		t.Fatalf("added = %v, want only todos", added)
	}
	if got := merged.TableNames(); len(got) != 2 {
		t.Fatalf("merged tables = %v", got)
	}
	if len(cur.Tables) != 1 {
		t.Fatal("Merge changed cur")
	}
	other := &Schema{Tables: []*Table{{Name: "users", Columns: []Column{{Name: "name", Type: Int}}}}}
	if _, _, err := Merge(merged, other); !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("another declaration of users: err = %v, want ErrInvalidSchema", err)
	}
	if m, added, err := Merge(nil, cur); err != nil || len(added) != 1 || len(m.Tables) != 1 {
		t.Fatalf("Merge(nil, cur) = %v, %v, %v", m, added, err)
	}
}

func TestClosure_IsTheTableAndWhatItRefersTo(t *testing.T) {
	s, err := New(
		&Table{Name: "orgs", Columns: []Column{{Name: "name", Type: String}}},
		&Table{Name: "projects", Columns: []Column{{Name: "org", Type: Ref, Ref: "orgs"}}},
		&Table{Name: "todos", Columns: []Column{{Name: "project", Type: Ref, Ref: "projects"}}},
		&Table{Name: "tags", Columns: []Column{{Name: "label", Type: String}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Closure("todos")
	if got := c.TableNames(); len(got) != 3 {
		t.Fatalf("closure of todos = %v, want todos, projects, orgs", got)
	}
	if s.Closure("nope") != nil {
		t.Fatal("closure of an unknown table must be nil")
	}
	c.Tables[0].Columns[0].Name = "changed"
	if s.Tables[0].Columns[0].Name != "name" {
		t.Fatal("the closure shares columns with s")
	}
}
