package schema_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/schema"
)

// items is a table with a column of each type added after the first
// release: enum, array, bytes, and defaults.
func items(t *testing.T) *schema.Table {
	t.Helper()
	s, err := schema.New(&schema.Table{Name: "items", Columns: []schema.Column{
		{Name: "name", Type: schema.String},
		{Name: "status", Type: schema.Enum, Enum: []string{"draft", "live"}, Default: "draft"},
		{Name: "tags", Type: schema.Array, Items: schema.String, Default: []any{}},
		{Name: "scores", Type: schema.Array, Items: schema.Int, Optional: true},
		{Name: "moods", Type: schema.Array, Items: schema.Enum, Enum: []string{"ok", "meh"}, Optional: true},
		{Name: "blob", Type: schema.Bytes, Optional: true},
		{Name: "level", Type: schema.Int, Default: 3},
		{Name: "kind", Type: schema.Enum, Enum: []string{"a", "b"}},
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tb, _ := s.Table("items")
	return tb
}

func problem(t *testing.T, err error, column, want string) {
	t.Helper()
	var ve *schema.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a ValidationError", err)
	}
	if ve.Column != column || !strings.Contains(ve.Problem, want) {
		t.Fatalf("err = %v (column %q), want column %q and a problem containing %q", err, ve.Column, column, want)
	}
}

func TestValidateInsert_AppliesDefaultsToOmittedColumns(t *testing.T) {
	tb := items(t)
	got, err := tb.ValidateInsert(map[string]any{"name": "x", "kind": "a"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name": "x", "kind": "a", "status": "draft", "tags": []any{}, "level": int64(3),
		"scores": nil, "moods": nil, "blob": nil,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	// A value given wins over the default; null is given, not omitted.
	got, err = tb.ValidateInsert(map[string]any{"name": "x", "kind": "b", "status": "live", "level": 9})
	if err != nil || got["status"] != "live" || got["level"] != int64(9) {
		t.Fatalf("got %v, %v", got, err)
	}
	_, err = tb.ValidateInsert(map[string]any{"name": "x", "kind": "b", "status": nil})
	problem(t, err, "status", "null is not allowed")
	// Each insert gets its own copy of a default array.
	a, _ := tb.ValidateInsert(map[string]any{"name": "x", "kind": "a"})
	b, _ := tb.ValidateInsert(map[string]any{"name": "y", "kind": "a"})
	a["tags"] = append(a["tags"].([]any), "mutated")
	if len(b["tags"].([]any)) != 0 {
		t.Fatal("two inserts share a default's array")
	}
}

func TestValidateInsert_MissingRequiredWithoutDefaultNamesColumn(t *testing.T) {
	_, err := items(t).ValidateInsert(map[string]any{"name": "x"})
	problem(t, err, "kind", "required column is missing")
}

func TestValidatePatch_DoesNotApplyDefaults(t *testing.T) {
	got, err := items(t).ValidatePatch(map[string]any{"name": "y"})
	if err != nil || len(got) != 1 {
		t.Fatalf("got %v, %v; a patch changes only what it names", got, err)
	}
}

func TestNormalize_Enum(t *testing.T) {
	tb := items(t)
	got, err := tb.ValidatePatch(map[string]any{"kind": "b"})
	if err != nil || got["kind"] != "b" {
		t.Fatalf("got %v, %v", got, err)
	}
	_, err = tb.ValidatePatch(map[string]any{"kind": "c"})
	problem(t, err, "kind", `"c" is not one of the enum's values (a, b)`)
	_, err = tb.ValidatePatch(map[string]any{"kind": 1})
	problem(t, err, "kind", "expected enum (a, b), got the number 1")
}

func TestNormalize_Array(t *testing.T) {
	tb := items(t)
	got, err := tb.ValidatePatch(map[string]any{
		"tags":   []any{"x", "y"},
		"scores": []any{float64(1), int64(2), 3},
		"moods":  []any{"ok"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got["scores"], []any{int64(1), int64(2), int64(3)}) || !reflect.DeepEqual(got["tags"], []any{"x", "y"}) {
		t.Fatalf("got %#v", got)
	}
	for _, c := range []struct {
		col  string
		v    any
		want string
	}{
		{"tags", "x", "expected array of string, got a string"},
		{"tags", []any{"x", 1}, "element 1: expected string, got the number 1"},
		{"tags", []any{nil}, "element 0: null is not allowed in an array"},
		{"scores", []any{1.5}, "element 0: expected int"},
		{"moods", []any{"sad"}, `element 0: "sad" is not one of the enum's values (ok, meh)`},
	} {
		_, err := tb.ValidatePatch(map[string]any{c.col: c.v})
		problem(t, err, c.col, c.want)
	}
}

func TestNormalize_Bytes(t *testing.T) {
	tb := items(t)
	raw := []byte{0, 1, 2, 255}
	got, err := tb.ValidatePatch(map[string]any{"blob": raw})
	if err != nil || !reflect.DeepEqual(got["blob"], raw) {
		t.Fatalf("got %#v, %v", got, err)
	}
	raw[0] = 9
	if got["blob"].([]byte)[0] != 0 {
		t.Fatal("the normalized bytes share the caller's slice")
	}
	// JSON (the wire, JavaScript) carries bytes as base64.
	got, err = tb.ValidatePatch(map[string]any{"blob": "AAEC/w=="})
	if err != nil || !reflect.DeepEqual(got["blob"], []byte{0, 1, 2, 255}) {
		t.Fatalf("got %#v, %v", got, err)
	}
	_, err = tb.ValidatePatch(map[string]any{"blob": "not base64!"})
	problem(t, err, "blob", "not base64")
	_, err = tb.ValidatePatch(map[string]any{"blob": 7})
	problem(t, err, "blob", "expected bytes, got the number 7")
}

func TestIndexed_LeavesOutArraysAndBytes(t *testing.T) {
	got := items(t).Indexed()
	want := []string{schema.ColCreatedBy, schema.ColUpdatedBy, "name", "status", "level", "kind"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Indexed = %v, want %v", got, want)
	}
}

func TestInit_ChecksNewColumnShapes(t *testing.T) {
	for _, c := range []struct {
		name string
		col  schema.Column
		want string
	}{
		{"enum without values", schema.Column{Name: "c", Type: schema.Enum}, `lists its values in "enum"`},
		{"values on a string", schema.Column{Name: "c", Type: schema.String, Enum: []string{"a"}}, `lists its values in "enum"`},
		{"duplicate value", schema.Column{Name: "c", Type: schema.Enum, Enum: []string{"a", "a"}}, `distinct non-empty`},
		{"empty value", schema.Column{Name: "c", Type: schema.Enum, Enum: []string{""}}, `distinct non-empty`},
		{"array without items", schema.Column{Name: "c", Type: schema.Array}, `"items"`},
		{"items on a string", schema.Column{Name: "c", Type: schema.String, Items: schema.Int}, `"items"`},
		{"array of json", schema.Column{Name: "c", Type: schema.Array, Items: schema.JSON}, `not "json"`},
		{"array of arrays", schema.Column{Name: "c", Type: schema.Array, Items: schema.Array}, `not "array"`},
		{"bad default", schema.Column{Name: "c", Type: schema.Int, Default: "x"}, "default: expected int"},
		{"default outside the enum", schema.Column{Name: "c", Type: schema.Enum, Enum: []string{"a"}, Default: "b"}, `default: "b" is not one`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := schema.New(&schema.Table{Name: "t", Columns: []schema.Column{c.col}})
			if !errors.Is(err, schema.ErrInvalidSchema) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrInvalidSchema containing %q", err, c.want)
			}
		})
	}
}
