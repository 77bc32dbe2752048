package schema

import (
	"fmt"
	"reflect"
)

// Clients learn their tables piece by piece (each useSchema, each table a
// follower tab tells its leader about), so the union of what they were told
// is computed in many places: the engine, the backend, the browser handle.
// The rule is written once, here.

// Merge returns the union of cur and add, and the tables of add that cur
// lacks, in add's order. A table both declare must be declared with the
// same columns: a client built against another version of the schema gets
// a clear error instead of rows of the wrong shape. Neither input is
// changed, but the union shares their tables: Clone it before handing it
// to something that keeps it and may be extended apart. cur may be nil.
func Merge(cur, add *Schema) (merged *Schema, added []*Table, err error) {
	var tables []*Table
	have := map[string]*Table{}
	if cur != nil {
		for _, t := range cur.Tables {
			have[t.Name] = t
			tables = append(tables, t)
		}
	}
	for _, t := range add.Tables {
		if old := have[t.Name]; old != nil {
			if !reflect.DeepEqual(old.Columns, t.Columns) {
				return nil, nil, fmt.Errorf("%w: table %q is already declared with other columns", ErrInvalidSchema, t.Name)
			}
			continue
		}
		have[t.Name] = t
		added = append(added, t)
		tables = append(tables, t)
	}
	merged = &Schema{Tables: tables}
	if err := merged.Init(); err != nil {
		return nil, nil, err
	}
	return merged, added, nil
}

// Clone returns an independent copy of s (an empty schema for nil): the
// engine keeps the schema it is given, and callers keep extending theirs.
func (s *Schema) Clone() *Schema {
	if s == nil {
		out, _ := New()
		return out
	}
	tables := make([]*Table, len(s.Tables))
	for i, t := range s.Tables {
		tables[i] = t.clone()
	}
	out := &Schema{Tables: tables}
	_ = out.Init()
	return out
}

// clone copies t's declaration and its retired columns.
func (t *Table) clone() *Table {
	c := &Table{Name: t.Name, Columns: append([]Column(nil), t.Columns...)}
	if len(t.retired) > 0 {
		c.retired = make(map[string]bool, len(t.retired))
		for k, v := range t.retired {
			c.retired[k] = v
		}
	}
	return c
}

// Closure is the schema of table name and every table it refers to,
// directly or through others: what another client must be told for it to
// know the table. Nil when s lacks the table.
func (s *Schema) Closure(name string) *Schema {
	if s == nil {
		return nil
	}
	want := map[string]bool{name: true}
	for changed := true; changed; {
		changed = false
		for _, t := range s.Tables {
			if !want[t.Name] {
				continue
			}
			for _, c := range t.Columns {
				if c.Type == Ref && !want[c.Ref] {
					want[c.Ref] = true
					changed = true
				}
			}
		}
	}
	var tables []*Table
	for _, t := range s.Tables {
		if want[t.Name] {
			tables = append(tables, t.clone())
		}
	}
	if len(tables) == 0 {
		return nil
	}
	out := &Schema{Tables: tables}
	if out.Init() != nil {
		return nil
	}
	return out
}
