package schema_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// todos is the table most cases validate against: one column of every type,
// required and optional.
func todos(t *testing.T) *schema.Table {
	t.Helper()
	s, err := schema.New(
		&schema.Table{Name: "lists", Columns: []schema.Column{{Name: "name", Type: schema.String}}},
		&schema.Table{Name: "todos", Columns: []schema.Column{
			{Name: "title", Type: schema.String},
			{Name: "done", Type: schema.Boolean},
			{Name: "rank", Type: schema.Int},
			{Name: "weight", Type: schema.Float},
			{Name: "due", Type: schema.Timestamp},
			{Name: "meta", Type: schema.JSON},
			{Name: "list", Type: schema.Ref, Ref: "lists"},
			{Name: "note", Type: schema.String, Optional: true, NoIndex: true},
			{Name: "flag", Type: schema.Boolean, Optional: true},
			{Name: "count", Type: schema.Int, Optional: true},
			{Name: "score", Type: schema.Float, Optional: true},
			{Name: "seen", Type: schema.Timestamp, Optional: true},
			{Name: "extra", Type: schema.JSON, Optional: true},
			{Name: "parent", Type: schema.Ref, Ref: "todos", Optional: true},
		}},
	)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tb, err := s.Table("todos")
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// full is a valid insert of every required column of todos.
func full() map[string]any {
	return map[string]any{
		"title":  "milk",
		"done":   false,
		"rank":   int64(1),
		"weight": 1.5,
		"due":    int64(1700000000000),
		"meta":   map[string]any{},
		"list":   "l1",
	}
}

const (
	problemMissing = "required column is missing"
	problemUnknown = "no such column"
	problemMagic   = "is written by the engine and cannot be set"
	problemNull    = "null is not allowed (the column is not optional)"
	problemTS      = "a timestamp is milliseconds since the epoch or an RFC 3339 string"
	problemRef     = "a ref must be a row id, got an empty string"
	problemUTF8    = "text is not valid UTF-8"
	problemDeep    = "nests more than 64 levels deep (limits.MaxValueDepth)"
)

// nestedArray is [[...[1]...]], depth arrays deep.
func nestedArray(depth int) any {
	var v any = int64(1)
	for range depth {
		v = []any{v}
	}
	return v
}

func wantValidationError(t *testing.T, err error, table, column, problem string) {
	t.Helper()
	var ve *schema.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v (%T), want *schema.ValidationError", err, err)
	}
	if ve.Table != table || ve.Column != column {
		t.Errorf("error is about %s.%s, want %s.%s", ve.Table, ve.Column, table, column)
	}
	if strings.HasSuffix(problem, "*") {
		if !strings.HasPrefix(ve.Problem, strings.TrimSuffix(problem, "*")) {
			t.Errorf("Problem = %q, want prefix %q", ve.Problem, strings.TrimSuffix(problem, "*"))
		}
	} else if ve.Problem != problem {
		t.Errorf("Problem = %q, want %q", ve.Problem, problem)
	}
}

func TestNew_RefusesInvalidSchemas(t *testing.T) {
	col := func(name string, typ schema.Type) schema.Column { return schema.Column{Name: name, Type: typ} }
	tbl := func(name string, cols ...schema.Column) *schema.Table {
		return &schema.Table{Name: name, Columns: cols}
	}
	cases := []struct {
		name   string
		tables []*schema.Table
	}{
		{"nil table", []*schema.Table{nil}},
		{"empty table name", []*schema.Table{tbl("")}},
		{"table name starting with a digit", []*schema.Table{tbl("1todos")}},
		{"table name with a dash", []*schema.Table{tbl("my-todos")}},
		{"table name with a space", []*schema.Table{tbl("my todos")}},
		{"table name with a dot", []*schema.Table{tbl("a.b")}},
		{"table name with a dollar", []*schema.Table{tbl("$todos")}},
		{"table name with non-ASCII letter", []*schema.Table{tbl("tâches")}},
		{"table name of 65 characters", []*schema.Table{tbl("t" + strings.Repeat("x", 64))}},
		{"duplicate table", []*schema.Table{tbl("a"), tbl("b"), tbl("a")}},
		{"empty column name", []*schema.Table{tbl("a", col("", schema.String))}},
		{"column name with a dash", []*schema.Table{tbl("a", col("x-y", schema.String))}},
		{"column named id", []*schema.Table{tbl("a", col("id", schema.String))}},
		{"column named like a magic column", []*schema.Table{tbl("a", col("$createdAt", schema.Timestamp))}},
		{"column name of 65 characters", []*schema.Table{tbl("a", col(strings.Repeat("c", 65), schema.String))}},
		{"duplicate column", []*schema.Table{tbl("a", col("x", schema.String), col("x", schema.Int))}},
		{"unknown type", []*schema.Table{tbl("a", col("x", "text"))}},
		{"empty type", []*schema.Table{tbl("a", col("x", ""))}},
		{"type case matters", []*schema.Table{tbl("a", col("x", "String"))}},
		{"ref without target", []*schema.Table{tbl("a", col("x", schema.Ref))}},
		{"target on a non-ref column", []*schema.Table{tbl("a", schema.Column{Name: "x", Type: schema.String, Ref: "a"})}},
		{"ref to unknown table", []*schema.Table{tbl("a", schema.Column{Name: "x", Type: schema.Ref, Ref: "b"})}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := schema.New(tc.tables...)
			if !errors.Is(err, schema.ErrInvalidSchema) {
				t.Errorf("New = %v, want errors.Is ErrInvalidSchema", err)
			}
		})
	}
}

func TestNew_AcceptsValidSchemas(t *testing.T) {
	cases := []struct {
		name   string
		tables []*schema.Table
	}{
		{"no tables", nil},
		{"table with no columns", []*schema.Table{{Name: "empty"}}},
		{"64-character names", []*schema.Table{{Name: "t" + strings.Repeat("x", 63), Columns: []schema.Column{{Name: "_" + strings.Repeat("9", 63), Type: schema.Int}}}}},
		{"underscore and mixed case", []*schema.Table{{Name: "_Todo_2", Columns: []schema.Column{{Name: "Title", Type: schema.String}, {Name: "title", Type: schema.String}}}}},
		{"ref to a later table", []*schema.Table{
			{Name: "a", Columns: []schema.Column{{Name: "b", Type: schema.Ref, Ref: "b"}}},
			{Name: "b"},
		}},
		{"self ref", []*schema.Table{{Name: "node", Columns: []schema.Column{{Name: "parent", Type: schema.Ref, Ref: "node", Optional: true}}}}},
		{"every type", []*schema.Table{{Name: "all", Columns: []schema.Column{
			{Name: "s", Type: schema.String}, {Name: "b", Type: schema.Boolean}, {Name: "i", Type: schema.Int},
			{Name: "f", Type: schema.Float}, {Name: "t", Type: schema.Timestamp}, {Name: "j", Type: schema.JSON},
		}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := schema.New(tc.tables...); err != nil {
				t.Errorf("New = %v", err)
			}
		})
	}
}

func TestInit_SchemaDecodedFromJSON(t *testing.T) {
	var s schema.Schema
	src := `{"tables":[{"name":"todos","columns":[{"name":"title","type":"string"},{"name":"list","type":"ref","optional":true,"ref":"lists"}]},{"name":"lists","columns":[]}]}`
	if err := json.Unmarshal([]byte(src), &s); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Table("todos"); !errors.Is(err, schema.ErrUnknownTable) {
		t.Errorf("Table before Init = %v, want ErrUnknownTable", err)
	}
	if err := s.Init(); err != nil {
		t.Fatal(err)
	}
	tb, err := s.Table("todos")
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := tb.Column("list"); !ok || c.Type != schema.Ref || c.Ref != "lists" || !c.Optional {
		t.Errorf("Column(list) = %+v, %v", c, ok)
	}
	out, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != src {
		t.Errorf("re-encoded as %s", out)
	}
}

func TestSchema_TableLookup(t *testing.T) {
	if tb := todos(t); tb.Name != "todos" {
		t.Fatalf("Table(todos).Name = %q", tb.Name)
	}
	s2, err := schema.New(&schema.Table{Name: "b"}, &schema.Table{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s2.Table("c")
	if !errors.Is(err, schema.ErrUnknownTable) || !strings.Contains(err.Error(), `"c"`) {
		t.Errorf("Table(c) = %v, want ErrUnknownTable naming c", err)
	}
	if _, err := s2.Table("A"); !errors.Is(err, schema.ErrUnknownTable) {
		t.Errorf("table names are case sensitive: Table(A) = %v", err)
	}
	if got := s2.TableNames(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("TableNames() = %v, want sorted [a b]", got)
	}
}

func TestTable_ColumnFindsDeclaredAndMagicColumns(t *testing.T) {
	tb := todos(t)
	cases := []struct {
		name string
		typ  schema.Type
		ok   bool
	}{
		{"title", schema.String, true},
		{"due", schema.Timestamp, true},
		{schema.ColID, schema.String, true},
		{schema.ColCreatedBy, schema.String, true},
		{schema.ColCreatedAt, schema.Timestamp, true},
		{schema.ColUpdatedBy, schema.String, true},
		{schema.ColUpdatedAt, schema.Timestamp, true},
		{"nope", "", false},
		{"Title", "", false},
	}
	for _, tc := range cases {
		c, ok := tb.Column(tc.name)
		if ok != tc.ok || (ok && (c.Name != tc.name || c.Type != tc.typ)) {
			t.Errorf("Column(%q) = %+v, %v; want type %q, %v", tc.name, c, ok, tc.typ, tc.ok)
		}
	}
}

func TestTable_IndexedExcludesJSONAndNoIndexColumns(t *testing.T) {
	got := todos(t).Indexed()
	want := []string{schema.ColCreatedBy, schema.ColUpdatedBy, "title", "done", "rank", "weight", "due", "list", "flag", "count", "score", "seen", "parent"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Indexed() = %v\nwant        %v", got, want)
	}
}

func TestValidateInsert_NormalizesEveryType(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	ms := at.UnixMilli()
	cases := []struct {
		name string
		col  string
		in   any
		want any
	}{
		{"string", "title", "milk", "milk"},
		{"empty string", "title", "", ""},
		{"unicode string", "title", "lait ü 🥛", "lait ü 🥛"},
		{"bool true", "done", true, true},
		{"bool false", "done", false, false},
		{"int from int64", "rank", int64(-7), int64(-7)},
		{"int from int", "rank", 7, int64(7)},
		{"int from whole float64", "rank", 7.0, int64(7)},
		{"int from negative whole float64", "rank", -3.0, int64(-3)},
		{"int from largest safe float64", "rank", float64(1 << 53), int64(1 << 53)},
		{"int from json.Number", "rank", json.Number("9007199254740993"), int64(9007199254740993)},
		{"int from max int64", "rank", int64(math.MaxInt64), int64(math.MaxInt64)},
		{"float from float64", "weight", 0.25, 0.25},
		{"float from int64", "weight", int64(3), 3.0},
		{"float from int", "weight", 3, 3.0},
		{"float from json.Number", "weight", json.Number("1.5e2"), 150.0},
		{"timestamp from int64 ms", "due", int64(1700000000000), int64(1700000000000)},
		{"timestamp from whole float64 ms", "due", 1700000000000.0, int64(1700000000000)},
		{"timestamp from json.Number ms", "due", json.Number("1700000000000"), int64(1700000000000)},
		{"timestamp from negative ms", "due", int64(-1), int64(-1)},
		{"timestamp from RFC 3339 UTC", "due", "2024-01-02T03:04:05Z", ms - 678},
		{"timestamp from RFC 3339 with millis", "due", "2024-01-02T03:04:05.678Z", ms},
		{"timestamp from RFC 3339 with nanos truncates", "due", "2024-01-02T03:04:05.678999999Z", ms},
		{"timestamp from RFC 3339 with offset", "due", "2024-01-02T04:04:05.678+01:00", ms},
		{"timestamp from time.Time", "due", at, ms},
		{"timestamp from time.Time in another zone", "due", at.In(time.FixedZone("x", -5*3600)), ms},
		{"json object numbers become json.Number", "meta", map[string]any{"a": 1, "b": []any{true, nil, 2.5}}, map[string]any{"a": json.Number("1"), "b": []any{true, nil, json.Number("2.5")}}},
		{"json typed slice", "meta", []int{1, 2}, []any{json.Number("1"), json.Number("2")}},
		{"json struct", "meta", struct {
			A string `json:"a"`
		}{"x"}, map[string]any{"a": "x"}},
		{"json string", "meta", "s", "s"},
		{"json number", "meta", int64(5), json.Number("5")},
		{"json bool", "meta", false, false},
		{"json already normalized", "meta", map[string]any{"n": json.Number("1.0")}, map[string]any{"n": json.Number("1.0")}},
		{"ref", "list", "l2", "l2"},
		{"self ref", "parent", "t1", "t1"},
		{"optional string null", "note", nil, nil},
		{"optional bool null", "flag", nil, nil},
		{"optional int null", "count", nil, nil},
		{"optional float null", "score", nil, nil},
		{"optional timestamp null", "seen", nil, nil},
		{"optional json null", "extra", nil, nil},
		{"optional ref null", "parent", nil, nil},
		{"optional int set", "count", 2.0, int64(2)},
	}
	tb := todos(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := full()
			in[tc.col] = tc.in
			out, err := tb.ValidateInsert(in)
			if err != nil {
				t.Fatalf("ValidateInsert: %v", err)
			}
			got := out[tc.col]
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %#v (%T), want %#v (%T)", tc.col, got, got, tc.want, tc.want)
			}
		})
	}
}

func TestValidateInsert_RefusesValuesOfTheWrongType(t *testing.T) {
	cases := []struct {
		name    string
		col     string
		in      any
		problem string
	}{
		{"string from number", "title", int64(1), "expected string, got the number 1"},
		{"string from json.Number", "title", json.Number("1"), "expected string, got the number 1"},
		{"string from bool", "title", true, "expected string, got a boolean"},
		{"string from array", "title", []any{"a"}, "expected string, got an array"},
		{"string from []byte", "title", []byte("milk"), "expected string, got bytes"},
		{"bool from string", "done", "true", "expected boolean, got a string"},
		{"bool from number", "done", 1.0, "expected boolean, got the number 1"},
		{"int from fractional float64", "rank", 1.5, "expected int, got the number 1.5"},
		{"int from float64 beyond 2^53", "rank", float64(1 << 54), "expected int, got the number 1.8014398509481984e+16"},
		{"int from NaN", "rank", math.NaN(), "expected int, got the number NaN"},
		{"int from infinity", "rank", math.Inf(1), "expected int, got the number +Inf"},
		{"int from fractional json.Number", "rank", json.Number("1.5"), "expected int, got the number 1.5"},
		{"int from json.Number beyond int64", "rank", json.Number("9223372036854775808"), "expected int, got the number 9223372036854775808"},
		{"int from string", "rank", "1", "expected int, got a string"},
		{"int from object", "rank", map[string]any{}, "expected int, got an object"},
		{"float from string", "weight", "1.5", "expected float, got a string"},
		{"float from NaN", "weight", math.NaN(), "expected float, got the number NaN"},
		{"float from infinity", "weight", math.Inf(-1), "expected float, got the number -Inf"},
		{"float from out of range json.Number", "weight", json.Number("1e999"), "expected float, got the number 1e999"},
		{"timestamp from fractional ms", "due", 1.5, "expected timestamp, got the number 1.5"},
		{"timestamp from bad string", "due", "yesterday", problemTS},
		{"timestamp from date only", "due", "2024-01-02", problemTS},
		{"timestamp from bool", "due", true, "expected timestamp, got a boolean"},
		{"json from NaN", "meta", math.NaN(), "not representable as JSON*"},
		{"json from channel", "meta", make(chan int), "not representable as JSON*"},
		{"json from map with non-string keys", "meta", map[bool]int{true: 1}, "not representable as JSON*"},
		{"ref from empty string", "list", "", problemRef},
		{"string with invalid UTF-8", "title", "milk\xff", problemUTF8},
		{"ref with invalid UTF-8", "list", "\xc3", problemUTF8},
		{"json string with invalid UTF-8", "meta", map[string]any{"a": []any{"\xff"}}, problemUTF8},
		{"json member name with invalid UTF-8", "meta", map[string]any{"\xff": 1}, problemUTF8},
		{"json nested past MaxValueDepth", "meta", nestedArray(limits.MaxValueDepth + 1), problemDeep},
		{"json 9,996 levels deep", "meta", nestedArray(9996), problemDeep},
		{"ref from number", "list", int64(1), "expected ref, got the number 1"},
		{"null for required string", "title", nil, problemNull},
		{"null for required bool", "done", nil, problemNull},
		{"null for required int", "rank", nil, problemNull},
		{"null for required float", "weight", nil, problemNull},
		{"null for required timestamp", "due", nil, problemNull},
		{"null for required json", "meta", nil, problemNull},
		{"null for required ref", "list", nil, problemNull},
		{"wrong type for optional column", "count", "2", "expected int, got a string"},
	}
	tb := todos(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := full()
			in[tc.col] = tc.in
			out, err := tb.ValidateInsert(in)
			if err == nil {
				t.Fatalf("ValidateInsert accepted %#v for %s: %#v", tc.in, tc.col, out)
			}
			wantValidationError(t, err, "todos", tc.col, tc.problem)
		})
	}
}

func TestValidateInsert_RequiredAndOptionalColumns(t *testing.T) {
	tb := todos(t)
	out, err := tb.ValidateInsert(full())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"note", "flag", "count", "score", "seen", "extra", "parent"} {
		if v, ok := out[c]; !ok || v != nil {
			t.Errorf("absent optional %s = %#v, %v; want present and null", c, v, ok)
		}
	}
	if len(out) != len(tb.Columns) {
		t.Errorf("normalized row has %d columns, want %d", len(out), len(tb.Columns))
	}
	for _, c := range []string{"title", "done", "rank", "weight", "due", "meta", "list"} {
		t.Run("missing "+c, func(t *testing.T) {
			in := full()
			delete(in, c)
			_, err := tb.ValidateInsert(in)
			wantValidationError(t, err, "todos", c, problemMissing)
		})
	}
}

func TestValidateInsert_DoesNotModifyItsInput(t *testing.T) {
	in := full()
	in["rank"] = 3.0
	if _, err := todos(t).ValidateInsert(in); err != nil {
		t.Fatal(err)
	}
	if in["rank"] != 3.0 {
		t.Errorf("input rank changed to %#v", in["rank"])
	}
	if _, ok := in["note"]; ok {
		t.Error("input gained the optional column note")
	}
}

func TestValidateInsert_RefusesUnknownAndMagicColumns(t *testing.T) {
	cases := []struct {
		col, problem string
	}{
		{"nope", problemUnknown},
		{"Title", problemUnknown},
		{"", problemUnknown},
		{schema.ColID, problemMagic},
		{schema.ColCreatedBy, problemMagic},
		{schema.ColCreatedAt, problemMagic},
		{schema.ColUpdatedBy, problemMagic},
		{schema.ColUpdatedAt, problemMagic},
	}
	tb := todos(t)
	for _, tc := range cases {
		t.Run(tc.col, func(t *testing.T) {
			in := full()
			in[tc.col] = "x"
			_, err := tb.ValidateInsert(in)
			wantValidationError(t, err, "todos", tc.col, tc.problem)
			_, err = tb.ValidatePatch(map[string]any{tc.col: "x"})
			wantValidationError(t, err, "todos", tc.col, tc.problem)
		})
	}
}

func TestValidatePatch_ChecksOnlyTheGivenColumns(t *testing.T) {
	tb := todos(t)
	cases := []struct {
		name string
		in   map[string]any
		want map[string]any
	}{
		{"one column", map[string]any{"done": true}, map[string]any{"done": true}},
		{"normalizes", map[string]any{"rank": 4.0, "due": "1970-01-01T00:00:01Z"}, map[string]any{"rank": int64(4), "due": int64(1000)}},
		{"optional to null", map[string]any{"note": nil}, map[string]any{"note": nil}},
		{"json to normalized form", map[string]any{"meta": []any{1}}, map[string]any{"meta": []any{json.Number("1")}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tb.ValidatePatch(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ValidatePatch = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestValidatePatch_Refusals(t *testing.T) {
	tb := todos(t)
	cases := []struct {
		name, column, problem string
		in                    map[string]any
	}{
		{"empty patch", "", "update changes no column", map[string]any{}},
		{"nil patch", "", "update changes no column", nil},
		{"null to required", "title", problemNull, map[string]any{"title": nil}},
		{"wrong type", "done", "expected boolean, got a string", map[string]any{"done": "yes"}},
		{"unknown column", "nope", problemUnknown, map[string]any{"nope": 1}},
		{"magic column", schema.ColUpdatedAt, problemMagic, map[string]any{schema.ColUpdatedAt: int64(1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tb.ValidatePatch(tc.in)
			wantValidationError(t, err, "todos", tc.column, tc.problem)
		})
	}
}

func TestValidationError_MessageNamesTableAndColumn(t *testing.T) {
	cases := []struct {
		err  *schema.ValidationError
		want string
	}{
		{&schema.ValidationError{Table: "todos", Column: "title", Problem: "required column is missing"}, "schema: todos.title: required column is missing"},
		{&schema.ValidationError{Table: "todos", Problem: "update changes no column"}, "schema: todos: update changes no column"},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestNormalize_TimestampFromRFC3339MatchesMilliseconds(t *testing.T) {
	c := schema.Column{Name: "t", Type: schema.Timestamp}
	for _, s := range []string{"1970-01-01T00:00:00Z", "2000-02-29T23:59:59.999Z", "2262-04-11T23:47:16.854Z", "1969-12-31T23:59:59.999Z"} {
		want, _ := time.Parse(time.RFC3339Nano, s)
		got, err := schema.Normalize(c, s)
		if err != nil {
			t.Errorf("Normalize(%q): %v", s, err)
			continue
		}
		if got != want.UnixMilli() {
			t.Errorf("Normalize(%q) = %v, want %d", s, got, want.UnixMilli())
		}
	}
}

func TestNormalize_AcceptsJSONAtMaxValueDepthAndRealReplacementCharacters(t *testing.T) {
	for name, in := range map[string]any{
		"json at MaxValueDepth":    nestedArray(limits.MaxValueDepth),
		"json with U+FFFD as text": map[string]any{"\uFFFD": "\uFFFD"},
	} {
		if _, err := schema.Normalize(schema.Column{Name: "meta", Type: schema.JSON}, in); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := schema.Normalize(schema.Column{Name: "title", Type: schema.String}, "\uFFFD"); err != nil {
		t.Errorf("string with U+FFFD: %v", err)
	}
}
