package schema

import (
	"fmt"
	"strings"
)

// Relation is a way from a row of one table to rows of another, derived
// from a ref column the way Jazz derives it:
//
//   - forward, on the table holding the ref column: named after the column
//     without its "Id" or "_id" suffix (todos.projectId -> todos.project),
//     it leads to the one row the column names, or to nothing when it is
//     null;
//   - reverse, on the referenced table: named {sourceTable}Via{Forward}
//     (projects.todosViaProject), it leads to every row whose ref column
//     names this row.
//
// A ref column whose name has neither suffix has no relation: it stays a
// plain id column. (Jazz refuses such a column; schemas written before
// relations existed keep working here.)
type Relation struct {
	Name string
	// From is the table the relation is read from, To the table of the
	// rows it leads to.
	From, To string
	// Column is the ref column: on From for a forward relation, on To for
	// a reverse one.
	Column string
	// Reverse is set for a reverse relation (a list of rows).
	Reverse bool
	// Optional is whether a forward relation's column may be null.
	Optional bool
}

// ForwardName is the relation a ref column named col gives its table, ""
// when col has no "Id" or "_id" suffix.
func ForwardName(col string) string {
	for _, suffix := range []string{"_id", "Id"} {
		if base, ok := strings.CutSuffix(col, suffix); ok && base != "" {
			return base
		}
	}
	return ""
}

// initRelations derives every table's relations; a relation whose name is
// taken (by a column or another relation) makes the schema invalid, since
// a query could not say which one it means.
func (s *Schema) initRelations() error {
	s.relations = map[string]map[string]*Relation{}
	add := func(r *Relation) error {
		t := s.byName[r.From]
		if _, taken := t.Column(r.Name); taken {
			return fmt.Errorf("%w: relation %s.%s has the name of a column; rename the ref column", ErrInvalidSchema, r.From, r.Name)
		}
		m := s.relations[r.From]
		if m == nil {
			m = map[string]*Relation{}
			s.relations[r.From] = m
		}
		if _, dup := m[r.Name]; dup {
			return fmt.Errorf("%w: two relations of %s are named %q; rename one of the ref columns", ErrInvalidSchema, r.From, r.Name)
		}
		m[r.Name] = r
		return nil
	}
	for _, t := range s.Tables {
		for _, c := range t.Columns {
			name := ForwardName(c.Name)
			if c.Type != Ref || name == "" {
				continue
			}
			if err := add(&Relation{Name: name, From: t.Name, To: c.Ref, Column: c.Name, Optional: c.Optional}); err != nil {
				return err
			}
			rev := t.Name + "Via" + strings.ToUpper(name[:1]) + name[1:]
			if err := add(&Relation{Name: rev, From: c.Ref, To: t.Name, Column: c.Name, Reverse: true}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Relation returns the named relation of table.
func (s *Schema) Relation(table, name string) (*Relation, bool) {
	r, ok := s.relations[table][name]
	return r, ok
}

// Relations returns the relations of table, by name.
func (s *Schema) Relations(table string) map[string]*Relation { return s.relations[table] }
