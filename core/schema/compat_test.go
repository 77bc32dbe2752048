package schema_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/schema"
)

// schemaJSON builds a schema from its bundle JSON form.
func schemaJSON(t *testing.T, js string) *schema.Schema {
	t.Helper()
	var s schema.Schema
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatal(err)
	}
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	return &s
}

// stored is a RowSource over fixed rows, recording which tables were read.
type stored struct {
	rows map[string][]map[string]any
	read []string
}

func (s *stored) source(table string, each func(map[string]any) bool) error {
	s.read = append(s.read, table)
	for _, r := range s.rows[table] {
		if !each(r) {
			break
		}
	}
	return nil
}

const baseTodos = `{"tables":[{"name":"todos","columns":[
  {"name":"title","type":"string"},
  {"name":"rank","type":"int","optional":true},
  {"name":"status","type":"enum","enum":["todo","done"]},
  {"name":"note","type":"string","optional":true}]}]}`

// withColumns is baseTodos with its columns replaced.
func withColumns(cols string) string {
	return `{"tables":[{"name":"todos","columns":[` + cols + `]}]}`
}

func TestCompare(t *testing.T) {
	twoRows := map[string][]map[string]any{"todos": {
		{"title": "a", "rank": int64(1), "status": "todo", "note": "n"},
		{"title": "b", "rank": nil, "status": "done"},
	}}
	const keep = `{"name":"title","type":"string"},{"name":"rank","type":"int","optional":true},{"name":"status","type":"enum","enum":["todo","done"]},{"name":"note","type":"string","optional":true}`
	cases := []struct {
		name      string
		next      string
		rows      map[string][]map[string]any
		breaks    []schema.BreakCode
		forceable bool
		fills     []schema.Fill
		retired   map[string][]string
		mention   []string // in the error message
	}{
		{name: "same schema", next: baseTodos, rows: twoRows},
		{name: "optional column added", next: withColumns(keep + `,{"name":"tag","type":"string","optional":true}`), rows: twoRows},
		{name: "required column with default added", rows: twoRows,
			next:  withColumns(keep + `,{"name":"prio","type":"int","default":3}`),
			fills: []schema.Fill{{Table: "todos", Column: "prio", Rows: 2}}},
		{name: "optional column with default added", rows: twoRows,
			next:  withColumns(keep + `,{"name":"tag","type":"string","optional":true,"default":"x"}`),
			fills: []schema.Fill{{Table: "todos", Column: "tag", Rows: 2}}},
		{name: "required column without default over rows", rows: twoRows,
			next:   withColumns(keep + `,{"name":"prio","type":"int"}`),
			breaks: []schema.BreakCode{schema.RequiredColumnAdded}, forceable: true,
			mention: []string{"todos.prio", "2 existing rows have no value", "default", "--force"}},
		{name: "required column without default over no rows", next: withColumns(keep + `,{"name":"prio","type":"int"}`),
			rows: map[string][]map[string]any{}},
		{name: "optional made required over nulls", rows: twoRows,
			next:   withColumns(`{"name":"title","type":"string"},{"name":"rank","type":"int"},{"name":"status","type":"enum","enum":["todo","done"]},{"name":"note","type":"string","optional":true}`),
			breaks: []schema.BreakCode{schema.ColumnMadeRequired}, forceable: true,
			mention: []string{"todos.rank", "1 row holds null"}},
		{name: "optional made required with default", rows: twoRows,
			next:  withColumns(`{"name":"title","type":"string"},{"name":"rank","type":"int","default":0},{"name":"status","type":"enum","enum":["todo","done"]},{"name":"note","type":"string","optional":true}`),
			fills: []schema.Fill{{Table: "todos", Column: "rank", Rows: 1}}},
		{name: "int widened to float", rows: twoRows,
			next: withColumns(`{"name":"title","type":"string"},{"name":"rank","type":"float","optional":true},{"name":"status","type":"enum","enum":["todo","done"]},{"name":"note","type":"string","optional":true}`)},
		{name: "enum gains a value", rows: twoRows,
			next: withColumns(`{"name":"title","type":"string"},{"name":"rank","type":"int","optional":true},{"name":"status","type":"enum","enum":["todo","doing","done"]},{"name":"note","type":"string","optional":true}`)},
		{name: "enum to string", rows: twoRows,
			next: withColumns(`{"name":"title","type":"string"},{"name":"rank","type":"int","optional":true},{"name":"status","type":"string"},{"name":"note","type":"string","optional":true}`)},
		{name: "enum loses a value", rows: twoRows,
			next:   withColumns(`{"name":"title","type":"string"},{"name":"rank","type":"int","optional":true},{"name":"status","type":"enum","enum":["todo","done","x"]},{"name":"note","type":"enum","enum":["n"],"optional":true}`),
			breaks: []schema.BreakCode{schema.ColumnTypeChanged}, forceable: true,
			mention: []string{"todos.note", "from string to enum (n)"}},
		{name: "type change whose values fit", rows: twoRows,
			next:   withColumns(`{"name":"title","type":"string"},{"name":"rank","type":"timestamp","optional":true},{"name":"status","type":"enum","enum":["todo","done"]},{"name":"note","type":"ref","ref":"todos","optional":true}`),
			breaks: []schema.BreakCode{schema.ColumnTypeChanged}, forceable: true,
			mention: []string{"todos.note", "from string to ref to todos", "note_v2"}},
		{name: "string to json", rows: twoRows,
			next: withColumns(`{"name":"title","type":"json"},{"name":"rank","type":"int","optional":true},{"name":"status","type":"enum","enum":["todo","done"]},{"name":"note","type":"json","optional":true}`)},
		{name: "type change whose values do not fit", rows: twoRows,
			next:   withColumns(`{"name":"title","type":"int"},{"name":"rank","type":"int","optional":true},{"name":"status","type":"enum","enum":["todo","done"]},{"name":"note","type":"string","optional":true}`),
			breaks: []schema.BreakCode{schema.ColumnTypeChanged}, forceable: false,
			mention: []string{"todos.title", "2 rows hold values that are not int", "title_v2", "Forcing does not help"}},
		{name: "type change over no values", rows: map[string][]map[string]any{"todos": {{"title": "a", "status": "todo"}}},
			next:   withColumns(`{"name":"title","type":"string"},{"name":"rank","type":"boolean","optional":true},{"name":"status","type":"enum","enum":["todo","done"]},{"name":"note","type":"string","optional":true}`),
			breaks: []schema.BreakCode{schema.ColumnTypeChanged}, forceable: true},
		{name: "column dropped that holds values", rows: twoRows,
			next:   withColumns(`{"name":"title","type":"string"},{"name":"rank","type":"int","optional":true},{"name":"status","type":"enum","enum":["todo","done"]}`),
			breaks: []schema.BreakCode{schema.ColumnDropped}, forceable: true,
			retired: map[string][]string{"todos": {"note"}},
			mention: []string{"todos.note", "1 row holds values", "will be ignored"}},
		{name: "column dropped that holds nothing", rows: map[string][]map[string]any{"todos": {{"title": "a", "status": "todo"}}},
			next:    withColumns(`{"name":"title","type":"string"},{"name":"rank","type":"int","optional":true},{"name":"status","type":"enum","enum":["todo","done"]}`),
			retired: map[string][]string{"todos": {"note"}}},
		{name: "table dropped with rows", rows: twoRows, next: `{"tables":[{"name":"other","columns":[]}]}`,
			breaks: []schema.BreakCode{schema.TableDropped}, forceable: true,
			mention: []string{"todos: the table is dropped but holds 2 rows"}},
		{name: "every break at once", rows: twoRows,
			next:    withColumns(`{"name":"title","type":"boolean"},{"name":"rank","type":"int"},{"name":"status","type":"enum","enum":["todo","done"]},{"name":"prio","type":"int"}`),
			breaks:  []schema.BreakCode{schema.ColumnDropped, schema.RequiredColumnAdded, schema.ColumnMadeRequired, schema.ColumnTypeChanged},
			retired: map[string][]string{"todos": {"note"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := &stored{rows: tc.rows}
			p, err := schema.Compare(schemaJSON(t, baseTodos), schemaJSON(t, tc.next), nil, src.source)
			if err != nil {
				t.Fatal(err)
			}
			var codes []schema.BreakCode
			for _, b := range p.Breaks {
				codes = append(codes, b.Code)
			}
			if !reflect.DeepEqual(codes, tc.breaks) {
				t.Fatalf("breaks = %v, want %v\n%+v", codes, tc.breaks, p.Breaks)
			}
			if !reflect.DeepEqual(p.Fills, tc.fills) {
				t.Errorf("fills = %+v, want %+v", p.Fills, tc.fills)
			}
			if tc.retired == nil {
				tc.retired = map[string][]string{}
			}
			if !reflect.DeepEqual(p.Retired, tc.retired) {
				t.Errorf("retired = %v, want %v", p.Retired, tc.retired)
			}
			if len(tc.breaks) == 0 {
				if err := p.Check(false); err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			err = p.Check(false)
			var ue *schema.UnsafeChangeError
			if !errors.As(err, &ue) || ue.Forceable() != tc.forceable {
				t.Fatalf("Check(false) = %v, want a forceable=%v UnsafeChangeError", err, tc.forceable)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message lacks %q:\n%s", m, err)
				}
			}
			if err := p.Check(true); (err == nil) != tc.forceable {
				t.Errorf("Check(true) = %v, forceable %v", err, tc.forceable)
			}
		})
	}
}

// Only the tables a change touches are read.
func TestCompare_ReadsOnlyChangedTables(t *testing.T) {
	old := schemaJSON(t, `{"tables":[{"name":"a","columns":[{"name":"x","type":"string"}]},{"name":"b","columns":[{"name":"y","type":"string"}]}]}`)
	next := schemaJSON(t, `{"tables":[{"name":"a","columns":[{"name":"x","type":"string"}]},{"name":"b","columns":[{"name":"y","type":"string"},{"name":"z","type":"string","optional":true}]}]}`)
	src := &stored{}
	if _, err := schema.Compare(old, next, nil, src.source); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(src.read, []string{"b"}) {
		t.Fatalf("read %v, want [b]", src.read)
	}
}

// A column retired by an earlier publish stays retired until a schema
// declares it again; a re-added column whose stored values no longer fit
// is refused.
func TestCompare_RetiredColumnsCarryOver(t *testing.T) {
	old := schemaJSON(t, withColumns(`{"name":"title","type":"string"}`))
	src := &stored{rows: map[string][]map[string]any{"todos": {{"title": "a", "gone": "text"}}}}
	p, err := schema.Compare(old, schemaJSON(t, withColumns(`{"name":"title","type":"string"},{"name":"x","type":"int","optional":true}`)),
		map[string][]string{"todos": {"gone", "older"}}, src.source)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]string{"todos": {"gone", "older"}}; !reflect.DeepEqual(p.Retired, want) {
		t.Fatalf("retired = %v, want %v", p.Retired, want)
	}
	p, err = schema.Compare(old, schemaJSON(t, withColumns(`{"name":"title","type":"string"},{"name":"gone","type":"int","optional":true}`)),
		map[string][]string{"todos": {"gone", "older"}}, src.source)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]string{"todos": {"older"}}; !reflect.DeepEqual(p.Retired, want) {
		t.Fatalf("retired = %v, want %v", p.Retired, want)
	}
	var ue *schema.UnsafeChangeError
	if err := p.Check(true); !errors.As(err, &ue) || ue.Breaks[0].Code != schema.ColumnTypeChanged || ue.Forceable() {
		t.Fatalf("re-added with another type: %v", err)
	}
}

// A retired column in a write is ignored, the rest kept; an update of
// retired columns only is refused, naming the column.
func TestRetire_IgnoresOldClientsColumns(t *testing.T) {
	s := schemaJSON(t, withColumns(`{"name":"title","type":"string"}`))
	s.RetireColumns(map[string][]string{"todos": {"note"}, "nope": {"x"}})
	tb, _ := s.Table("todos")
	got, err := tb.ValidateInsert(map[string]any{"title": "a", "note": "old"})
	if err != nil || !reflect.DeepEqual(got, map[string]any{"title": "a"}) {
		t.Fatalf("insert = %v, %v", got, err)
	}
	if got, err := tb.ValidatePatch(map[string]any{"title": "b", "note": "old"}); err != nil || !reflect.DeepEqual(got, map[string]any{"title": "b"}) {
		t.Fatalf("patch = %v, %v", got, err)
	}
	var ve *schema.ValidationError
	if _, err := tb.ValidatePatch(map[string]any{"note": "old"}); !errors.As(err, &ve) || ve.Column != "note" || !strings.Contains(ve.Problem, "dropped") {
		t.Fatalf("retired-only patch: %v", err)
	}
	if _, err := tb.ValidateInsert(map[string]any{"title": "a", "other": 1}); !errors.As(err, &ve) || ve.Column != "other" {
		t.Fatalf("unknown column: %v", err)
	}
	tb.Retire("title") // declared: never retired
	if !reflect.DeepEqual(s.RetiredColumns(), map[string][]string{"todos": {"note"}}) {
		t.Fatalf("retired = %v", s.RetiredColumns())
	}
}
