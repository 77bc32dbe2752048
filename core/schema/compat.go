package schema

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// This file judges a schema change against the schema it replaces and the
// rows stored under it, before the change is published. Old clients stay
// in the field with the old schema for as long as they are not updated, and
// stored rows are never rewritten by a schema change alone, so a change is
// safe only when both can live with it. What is safe, what is refused and
// how to roll a change out are in docs/schema-changes.md.

// BreakCode names a kind of schema change that would break stored rows or
// clients still running with the previous schema.
type BreakCode string

const (
	// RequiredColumnAdded is a required column without a default added to
	// a table that has rows: those rows have no value for it.
	RequiredColumnAdded BreakCode = "required_column_added"
	// ColumnMadeRequired is an optional column made required, without a
	// default, while rows hold null in it.
	ColumnMadeRequired BreakCode = "column_made_required"
	// ColumnTypeChanged is a column whose type changed to one that does not
	// accept every value of the old type (so old clients' writes, and
	// perhaps stored values, no longer fit).
	ColumnTypeChanged BreakCode = "column_type_changed"
	// ColumnDropped is a column removed while rows hold values in it.
	ColumnDropped BreakCode = "column_dropped"
	// TableDropped is a table removed while it has rows.
	TableDropped BreakCode = "table_dropped"
)

// Break is one change that would break rows or clients, with what it would
// break and how to make the change safely. Its fields are meant to be shown
// to the developer as they are.
type Break struct {
	Code   BreakCode `json:"code"`
	Table  string    `json:"table"`
	Column string    `json:"column,omitempty"`
	// Rows is how many live rows the change affects.
	Rows    int    `json:"rows"`
	Problem string `json:"problem"`
	Fix     string `json:"fix"`
	// Forceable is false when even a forced publish cannot go ahead:
	// stored values that do not fit a column's new type could not be read
	// back at all.
	Forceable bool `json:"forceable"`
}

func (b Break) String() string {
	where := b.Table
	if b.Column != "" {
		where += "." + b.Column
	}
	return fmt.Sprintf("%s: %s (%s). %s", where, b.Problem, b.Code, b.Fix)
}

// Fill is a column whose default the publish writes into the live rows
// that have no value for it, so that existing rows read as the schema
// says: a column added with a default, or an optional column made
// required with a default.
type Fill struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	// Rows is how many rows lack a value.
	Rows int `json:"rows"`
}

// Plan is what publishing a schema over another involves.
type Plan struct {
	// Breaks are the changes that would break rows or clients, in table
	// and column order.
	Breaks []Break
	// Fills are the defaults to write into existing rows.
	Fills []Fill
	// Retired lists, by table of the new schema, the columns that some
	// earlier schema had and this one does not: values old clients still
	// write to them are ignored (Table.Retire).
	Retired map[string][]string
}

// Check returns nil when the plan may be published: it breaks nothing, or
// force is set and every break can be forced. Otherwise it returns an
// *UnsafeChangeError listing every break.
func (p *Plan) Check(force bool) error {
	if len(p.Breaks) == 0 {
		return nil
	}
	if force && !slices.ContainsFunc(p.Breaks, func(b Break) bool { return !b.Forceable }) {
		return nil
	}
	return &UnsafeChangeError{Breaks: p.Breaks, Forced: force}
}

// UnsafeChangeError is a schema change refused because it would break
// stored rows or clients running with the previous schema.
type UnsafeChangeError struct {
	Breaks []Break
	// Forced is set when the change was forced and still refused, because
	// some break cannot be forced.
	Forced bool
}

// Forceable reports whether publishing with force would go ahead.
func (e *UnsafeChangeError) Forceable() bool {
	return !slices.ContainsFunc(e.Breaks, func(b Break) bool { return !b.Forceable })
}

func (e *UnsafeChangeError) Error() string {
	var sb strings.Builder
	sb.WriteString("schema: this change would break existing rows or clients still running the previous schema, so nothing was published")
	for _, b := range e.Breaks {
		sb.WriteString("\n  - ")
		sb.WriteString(b.String())
	}
	if e.Forceable() {
		sb.WriteString("\nTo publish it anyway, force it: jazz-tools deploy --force (or jazz-tools-bundle --deploy --force, or ?force=true on the bundle route).")
	} else {
		sb.WriteString("\nForcing does not help here: stored values that do not fit a column's new type could not be read back.")
	}
	return sb.String()
}

// RowSource calls each with the values of every live row of table, as
// stored under the old schema, until each returns false. It is how Compare
// sees the data without depending on where it is kept.
type RowSource func(table string, each func(values map[string]any) bool) error

// Compare plans publishing next over old, the schema the rows were written
// with. retired is the old schema's Retired (nil if none); rows reads the
// stored rows, and is asked only about tables a change touches. Neither
// schema is modified.
func Compare(old, next *Schema, retired map[string][]string, rows RowSource) (*Plan, error) {
	p := &Plan{Retired: map[string][]string{}}
	for _, nt := range next.Tables {
		ot := old.byName[nt.Name]
		var gone []string
		if ot != nil {
			for _, oc := range ot.Columns {
				if _, ok := nt.byName[oc.Name]; !ok {
					gone = append(gone, oc.Name)
				}
			}
		}
		for _, c := range append(retired[nt.Name], gone...) {
			if _, ok := nt.byName[c]; !ok && !slices.Contains(p.Retired[nt.Name], c) {
				p.Retired[nt.Name] = append(p.Retired[nt.Name], c)
			}
		}
		if ot != nil {
			if err := compareTable(p, ot, nt, rows); err != nil {
				return nil, err
			}
		}
	}
	for name, cols := range p.Retired {
		sort.Strings(cols)
		if len(cols) == 0 {
			delete(p.Retired, name)
		}
	}
	for _, ot := range old.Tables {
		if next.byName[ot.Name] != nil {
			continue
		}
		st, err := scan(ot, nil, rows)
		if err != nil {
			return nil, err
		}
		if st.rows > 0 {
			p.Breaks = append(p.Breaks, Break{Code: TableDropped, Table: ot.Name, Rows: st.rows, Forceable: true,
				Problem: fmt.Sprintf("the table is dropped but holds %s; they stay stored (and come back if the table does) but can no longer be read, and old clients' reads and writes of the table are refused", plural(st.rows, "row")),
				Fix:     "Keep the table until its rows are no longer needed (delete them from a backend), or force the publish"})
		}
	}
	sort.SliceStable(p.Breaks, func(i, j int) bool {
		a, b := p.Breaks[i], p.Breaks[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		return a.Column < b.Column
	})
	return p, nil
}

// compareTable adds to p what replacing table ot with nt involves.
func compareTable(p *Plan, ot, nt *Table, rows RowSource) error {
	type pair struct {
		old  *Column // nil: added (or re-added) by nt
		next Column
	}
	var changed []pair
	for _, c := range nt.Columns {
		if i, ok := ot.byName[c.Name]; ok {
			oc := ot.Columns[i]
			if !sameShape(oc, c) || (oc.Optional && !c.Optional) {
				changed = append(changed, pair{&oc, c})
			}
			continue
		}
		changed = append(changed, pair{nil, c})
	}
	var dropped []string
	for _, oc := range ot.Columns {
		if _, ok := nt.byName[oc.Name]; !ok {
			dropped = append(dropped, oc.Name)
		}
	}
	if len(changed) == 0 && len(dropped) == 0 {
		return nil
	}
	want := map[string]Column{}
	for _, ch := range changed {
		want[ch.next.Name] = ch.next
	}
	for _, name := range dropped {
		want[name] = Column{}
	}
	st, err := scan(ot, want, rows)
	if err != nil {
		return err
	}
	if st.rows == 0 {
		return nil // nothing stored to break; old clients' writes are in the docs
	}
	for _, ch := range changed {
		c, cs := ch.next, st.cols[ch.next.Name]
		switch {
		case cs.misfit > 0:
			p.Breaks = append(p.Breaks, Break{Code: ColumnTypeChanged, Table: nt.Name, Column: c.Name, Rows: cs.misfit,
				Problem: fmt.Sprintf("%s %s that %s not %s, and could not be read with the new type", plural(cs.misfit, "row"), holdValues(cs.misfit), doesOrDo(cs.misfit), c.typeName()),
				Fix:     fmt.Sprintf("Do not change a column's type: add a new column (say %s_v2) of the new type, copy the values over from a backend, move clients to it, then drop %s", c.Name, c.Name)})
			continue
		case ch.old != nil && !sameShape(*ch.old, c) && !widens(*ch.old, c):
			p.Breaks = append(p.Breaks, Break{Code: ColumnTypeChanged, Table: nt.Name, Column: c.Name, Rows: cs.present, Forceable: true,
				Problem: fmt.Sprintf("the type changes from %s to %s; clients still running the previous schema write %s values, which the server will refuse", ch.old.typeName(), c.typeName(), ch.old.typeName()),
				Fix:     fmt.Sprintf("Add a new column (say %s_v2) of the new type instead, copy the values over from a backend, move clients to it, then drop %s; or force the publish if no client writes %s any more", c.Name, c.Name, c.Name)})
			continue
		}
		if cs.missing == 0 || c.Optional {
			if c.HasDefault() && ch.old == nil && cs.missing > 0 {
				p.Fills = append(p.Fills, Fill{Table: nt.Name, Column: c.Name, Rows: cs.missing})
			}
			continue
		}
		// Required now, and some rows have no value.
		switch {
		case c.HasDefault():
			p.Fills = append(p.Fills, Fill{Table: nt.Name, Column: c.Name, Rows: cs.missing})
		case ch.old == nil:
			p.Breaks = append(p.Breaks, Break{Code: RequiredColumnAdded, Table: nt.Name, Column: c.Name, Rows: cs.missing, Forceable: true,
				Problem: fmt.Sprintf("a required column without a default is added, and %s no value for it (they would read as missing where the type says %s); inserts from clients still running the previous schema will be refused", plural(cs.missing, "existing row has", "existing rows have"), c.typeName()),
				Fix:     `Give it a default ("default": ...), which the publish writes into the existing rows and the server puts into old clients' inserts, or make it optional`})
		default:
			p.Breaks = append(p.Breaks, Break{Code: ColumnMadeRequired, Table: nt.Name, Column: c.Name, Rows: cs.missing, Forceable: true,
				Problem: fmt.Sprintf("the column becomes required, and %s null in it", plural(cs.missing, "row holds", "rows hold")),
				Fix:     "Give it a default, which the publish writes into those rows, or set a value in every row from a backend first, or keep it optional"})
		}
	}
	for _, name := range dropped {
		if cs := st.cols[name]; cs.present > 0 {
			p.Breaks = append(p.Breaks, Break{Code: ColumnDropped, Table: nt.Name, Column: name, Rows: cs.present, Forceable: true,
				Problem: fmt.Sprintf("the column is dropped but %s values in it; they stay in the rows (untyped, and still sent to clients with them) and are typed again if the column comes back, and values that clients still running the previous schema write to it will be ignored", plural(cs.present, "row holds", "rows hold")),
				Fix:     fmt.Sprintf("First make %s optional and stop using it in every client, clear it from a backend if the data must go, then drop it; or force the publish", name)})
		}
	}
	return nil
}

// colStats is what a scan found in one column.
type colStats struct {
	present int // rows with a non-null value
	missing int // rows with null or no value
	misfit  int // rows whose value the column's new definition cannot read
}

type tableStats struct {
	rows int
	cols map[string]*colStats
}

// scan counts t's live rows and, for each column of want, its values; a
// value is checked against want's column when that column has a type (the
// zero Column stands for one being dropped).
func scan(t *Table, want map[string]Column, rows RowSource) (tableStats, error) {
	st := tableStats{cols: make(map[string]*colStats, len(want))}
	for name := range want {
		st.cols[name] = &colStats{}
	}
	err := rows(t.Name, func(values map[string]any) bool {
		st.rows++
		for name, c := range want {
			cs := st.cols[name]
			v := values[name]
			if v == nil {
				cs.missing++
				continue
			}
			cs.present++
			if c.Type != "" && !storedFits(c, v) {
				cs.misfit++
			}
		}
		return true
	})
	if err != nil {
		return tableStats{}, fmt.Errorf("schema: reading the rows of %s: %w", t.Name, err)
	}
	return st, nil
}

// storedFits reports whether a stored value can be read back under column
// c, as the engine reads rows: nulls are kept, and a value an enum no
// longer lists still reads (only writes are checked against the list).
func storedFits(c Column, v any) bool {
	c.Optional = true
	if c.Type == Enum {
		c.Type, c.Enum = String, nil
	}
	if c.Items == Enum {
		c.Items, c.Enum = String, nil
	}
	_, err := Normalize(c, v)
	return err == nil
}

// sameShape reports whether two definitions of a column accept the same
// values, nullability aside (Optional is judged on its own). Indexing and
// defaults do not matter to stored rows or old clients.
func sameShape(a, b Column) bool {
	return a.Type == b.Type && a.Items == b.Items && a.Ref == b.Ref && slices.Equal(a.Enum, b.Enum)
}

// widens reports whether next accepts every value old does, so that stored
// values and old clients' writes still fit: int to float, int and
// timestamp either way (both are whole numbers on the wire), enum to
// string, ref to string, an enum (or array of enum) gaining values, and
// anything but bytes to json.
func widens(old, next Column) bool {
	scalar := func(o, n Type, oe, ne []string) bool {
		switch {
		case o == n && o == Enum:
			for _, v := range oe {
				if !slices.Contains(ne, v) {
					return false
				}
			}
			return true
		case o == n:
			return true
		case o == Int && (n == Float || n == Timestamp), o == Timestamp && n == Int:
			return true
		case (o == Enum || o == Ref) && n == String:
			return true
		}
		return false
	}
	switch {
	case next.Type == JSON && old.Type != Bytes:
		return true // any value but bytes (base64 text in JSON) reads as itself
	case old.Type == Ref && next.Type == Ref:
		return old.Ref == next.Ref
	case old.Type == Array && next.Type == Array:
		return scalar(old.Items, next.Items, old.Enum, next.Enum)
	case old.Type == Array || next.Type == Array:
		return false
	}
	return scalar(old.Type, next.Type, old.Enum, next.Enum)
}

// typeName names c's type for a message: "int", "ref to lists",
// "enum (a, b)", "array of string".
func (c Column) typeName() string {
	if c.Type == Ref {
		return "ref to " + c.Ref
	}
	return c.describeType()
}

// plural is "1 row" or "3 rows"; with two forms given, the verb phrase
// agrees: plural(n, "row has", "rows have").
func plural(n int, forms ...string) string {
	one, many := forms[0], forms[0]+"s"
	if len(forms) > 1 {
		many = forms[1]
	}
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func holdValues(n int) string {
	if n == 1 {
		return "holds a value"
	}
	return "hold values"
}

func doesOrDo(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// RetireColumns retires, table by table, the columns retired names (see
// Table.Retire); tables this schema lacks are skipped.
func (s *Schema) RetireColumns(retired map[string][]string) {
	for name, cols := range retired {
		if t := s.byName[name]; t != nil {
			t.Retire(cols...)
		}
	}
}

// RetiredColumns is every table's retired columns, for keeping beside the
// schema (tables with none are left out).
func (s *Schema) RetiredColumns() map[string][]string {
	out := map[string][]string{}
	for _, t := range s.Tables {
		if r := t.Retired(); len(r) > 0 {
			out[t.Name] = r
		}
	}
	return out
}
