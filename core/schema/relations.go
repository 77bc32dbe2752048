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
	for _, t := range s.Tables {
		for _, c := range t.Columns {
			name := ForwardName(c.Name)
			if c.Type != Ref || name == "" {
				continue
			}
			if err := s.addRelation(&Relation{Name: name, From: t.Name, To: c.Ref, Column: c.Name, Optional: c.Optional}); err != nil {
				return err
			}
			rev := &Relation{Name: t.Name + "Via" + upperFirst(name), From: c.Ref, To: t.Name, Column: c.Name, Reverse: true}
			if err := s.addRelation(rev); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Schema) addRelation(r *Relation) error {
	m := s.relations[r.From]
	if m == nil {
		m = map[string]*Relation{}
		s.relations[r.From] = m
	}
	_, taken := s.byName[r.From].Column(r.Name)
	if _, dup := m[r.Name]; dup || taken {
		return fmt.Errorf("%w: relation %s is named like a column or another relation; rename a ref column", ErrInvalidSchema, r.From+"."+r.Name)
	}
	m[r.Name] = r
	return nil
}

// Relation returns the named relation of table.
func (s *Schema) Relation(table, name string) (*Relation, bool) {
	r, ok := s.relations[table][name]
	return r, ok
}

// Relations returns the relations of table, by name.
func (s *Schema) Relations(table string) map[string]*Relation { return s.relations[table] }

// upperFirst capitalizes an identifier's first letter (ASCII, as
// identifiers are). strings.ToUpper would link the Unicode case tables
// into the browser's download.
func upperFirst(s string) string {
	if c := s[0]; 'a' <= c && c <= 'z' {
		return string(c-'a'+'A') + s[1:]
	}
	return s
}
