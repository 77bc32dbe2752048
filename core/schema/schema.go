// Package schema declares an app's tables and typed columns, validates every
// write against them, and carries the app bundle: the schema plus its
// permission policies in a versioned JSON form that the server loads and the
// client compiles from the TypeScript DSL.
package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/limits"
)

// Type is a column type.
type Type string

const (
	String    Type = "string"
	Boolean   Type = "boolean"
	Int       Type = "int"
	Float     Type = "float"
	Timestamp Type = "timestamp" // stored as int64 milliseconds since the Unix epoch
	JSON      Type = "json"
	Ref       Type = "ref"   // the id (a string) of a row in Column.Ref
	Enum      Type = "enum"  // one of Column.Enum, stored as its string
	Bytes     Type = "bytes" // binary data: []byte, base64 text in JSON
	Array     Type = "array" // a list of Column.Items values, stored as []any
)

func (t Type) valid() bool {
	switch t {
	case String, Boolean, Int, Float, Timestamp, JSON, Ref, Enum, Bytes, Array:
		return true
	}
	return false
}

// validItems reports whether t may be an array's element type: the
// scalars. Arrays of refs would be relations, and nested arrays or json
// elements are what a json column is for.
func (t Type) validItems() bool {
	switch t {
	case String, Boolean, Int, Float, Timestamp, Enum:
		return true
	}
	return false
}

// maxEnumValues bounds an enum's value list; longer lists are data, better
// kept in a table.
const maxEnumValues = 256

// The edit metadata ("magic") columns every row carries. They are written by
// the engine only, never by callers.
const (
	ColID        = "id"
	ColCreatedBy = "$createdBy"
	ColCreatedAt = "$createdAt"
	ColUpdatedBy = "$updatedBy"
	ColUpdatedAt = "$updatedAt"
)

// MagicColumns lists the engine-written columns with their types.
var MagicColumns = []Column{
	{Name: ColID, Type: String},
	{Name: ColCreatedBy, Type: String},
	{Name: ColCreatedAt, Type: Timestamp},
	{Name: ColUpdatedBy, Type: String},
	{Name: ColUpdatedAt, Type: Timestamp},
}

// Column is one typed column of a table.
type Column struct {
	Name     string `json:"name"`
	Type     Type   `json:"type"`
	Optional bool   `json:"optional,omitempty"`
	// Ref names the referenced table when Type is Ref.
	Ref string `json:"ref,omitempty"`
	// NoIndex opts the column out of the equality index (large text, json).
	NoIndex bool `json:"noIndex,omitempty"`
	// Enum lists the allowed values of an enum column, or of the elements
	// of an array column whose Items is enum.
	Enum []string `json:"enum,omitempty"`
	// Items is the element type of an array column.
	Items Type `json:"items,omitempty"`
	// Default is the value an insert that leaves the column out gets, on
	// the client and again on the server (so a write from an older client
	// still gets it). Null is never a default: an optional column left out
	// is null anyway.
	Default any `json:"default,omitempty"`
}

// HasDefault reports whether c has a default value.
func (c Column) HasDefault() bool { return c.Default != nil }

// DefaultValue is c's default, normalized as a written value would be
// (each call returns a fresh copy, so a caller may keep it in a row).
func (c Column) DefaultValue() (any, error) {
	if c.Default == nil {
		return nil, nil
	}
	return Normalize(c, c.Default)
}

// Table is a named list of columns.
type Table struct {
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
	byName  map[string]int
	// retired are columns an earlier published schema had and this one
	// dropped (see Retire). They are not part of the bundle: the server
	// keeps them beside it.
	retired map[string]bool
}

// Retire marks columns that an earlier schema had and this one dropped:
// a write naming one of them, which only a client still running the
// earlier schema sends, has that value ignored instead of being refused,
// so the client's other values are kept. A name the table declares is
// never retired. Retire must be called before the table is in use.
func (t *Table) Retire(names ...string) {
	for _, n := range names {
		if _, declared := t.byName[n]; declared || n == ColID || !isIdent(n) {
			continue
		}
		if t.retired == nil {
			t.retired = map[string]bool{}
		}
		t.retired[n] = true
	}
}

// Retired lists the retired columns (Retire), sorted.
func (t *Table) Retired() []string {
	out := make([]string, 0, len(t.retired))
	for n := range t.retired {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Schema is the set of an app's tables.
type Schema struct {
	Tables []*Table `json:"tables"`
	byName map[string]*Table
	// relations are derived from the ref columns (relations.go).
	relations map[string]map[string]*Relation
}

// maxIdent is the longest table or column name, in bytes.
const maxIdent = 64

// isIdent reports whether s may name a table or column: an ASCII letter or _
// followed by up to 63 ASCII letters, digits or _ (the regular expression
// ^[A-Za-z_][A-Za-z0-9_]{0,63}$). It is written out rather than compiled
// from that expression because this was the browser client's only regexp:
// compiling it at package init cost several milliseconds of every page
// start, and package regexp (with the Unicode tables it needs) was 0.4 MB
// of the wasm.
// TestIsIdent_MatchesRegexp checks the two agree.
func isIdent(s string) bool {
	if len(s) == 0 || len(s) > maxIdent {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Error catalogue.
var (
	// ErrUnknownTable is returned for a table the schema does not declare.
	ErrUnknownTable = errors.New("schema: unknown table")
	// ErrInvalidSchema wraps every problem found by Schema.Init.
	ErrInvalidSchema = errors.New("schema: invalid schema")
)

// ValidationError is a write that does not fit the schema. Its fields say
// where and why, so the message can be shown to a developer as is.
type ValidationError struct {
	Table   string
	Column  string
	Problem string
}

func (e *ValidationError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("schema: %s: %s", e.Table, e.Problem)
	}
	return fmt.Sprintf("schema: %s.%s: %s", e.Table, e.Column, e.Problem)
}

// New builds and checks a schema from tables.
func New(tables ...*Table) (*Schema, error) {
	s := &Schema{Tables: tables}
	return s, s.Init()
}

// Init indexes the schema and checks it: identifiers, duplicate names, column
// types and ref targets. It must be called on a Schema built by hand or
// decoded from JSON before use (New and DecodeBundle call it).
func (s *Schema) Init() error {
	s.byName = make(map[string]*Table, len(s.Tables))
	for _, t := range s.Tables {
		if t == nil || !isIdent(t.Name) {
			return fmt.Errorf("%w: table name %q must be a letter or _ followed by up to 63 letters, digits or _", ErrInvalidSchema, nameOf(t))
		}
		if _, dup := s.byName[t.Name]; dup {
			return fmt.Errorf("%w: table %q declared twice", ErrInvalidSchema, t.Name)
		}
		s.byName[t.Name] = t
		t.byName = make(map[string]int, len(t.Columns))
		for i, c := range t.Columns {
			if !isIdent(c.Name) || c.Name == ColID {
				return fmt.Errorf("%w: %s: column name %q is not allowed (identifiers only; id and $ columns are built in)", ErrInvalidSchema, t.Name, c.Name)
			}
			if _, dup := t.byName[c.Name]; dup {
				return fmt.Errorf("%w: %s: column %q declared twice", ErrInvalidSchema, t.Name, c.Name)
			}
			if !c.Type.valid() {
				return fmt.Errorf("%w: %s.%s: unknown type %q", ErrInvalidSchema, t.Name, c.Name, c.Type)
			}
			if (c.Type == Ref) != (c.Ref != "") {
				return fmt.Errorf("%w: %s.%s: a ref column names its table in \"ref\", and only a ref column does", ErrInvalidSchema, t.Name, c.Name)
			}
			if err := c.checkShape(); err != nil {
				return fmt.Errorf("%w: %s.%s: %v", ErrInvalidSchema, t.Name, c.Name, err)
			}
			t.byName[c.Name] = i
		}
	}
	for _, t := range s.Tables {
		for _, c := range t.Columns {
			if c.Type == Ref && s.byName[c.Ref] == nil {
				return fmt.Errorf("%w: %s.%s refers to unknown table %q", ErrInvalidSchema, t.Name, c.Name, c.Ref)
			}
		}
	}
	return s.initRelations()
}

// checkShape checks what a column's type asks of its other fields: an
// enum's values, an array's element type, and that a default fits.
func (c Column) checkShape() error {
	if (c.Type == Array) != (c.Items != "") {
		return errors.New(`an array column names its element type in "items", and only an array column does`)
	}
	if c.Type == Array && !c.Items.validItems() {
		return fmt.Errorf("an array's items are string, boolean, int, float, timestamp or enum, not %q", c.Items)
	}
	isEnum := c.Type == Enum || c.Items == Enum
	if isEnum != (len(c.Enum) > 0) {
		return errors.New(`an enum (or array of enum) column lists its values in "enum", and only such a column does`)
	}
	if len(c.Enum) > maxEnumValues {
		return fmt.Errorf("an enum has at most %d values, not %d", maxEnumValues, len(c.Enum))
	}
	seen := make(map[string]bool, len(c.Enum))
	for _, v := range c.Enum {
		if v == "" || !utf8.ValidString(v) || seen[v] {
			return fmt.Errorf("enum values are distinct non-empty text, not %q", v)
		}
		seen[v] = true
	}
	if c.Default != nil {
		if _, err := c.DefaultValue(); err != nil {
			return fmt.Errorf("default: %v", err)
		}
	}
	return nil
}

func nameOf(t *Table) string {
	if t == nil {
		return ""
	}
	return t.Name
}

// Table returns the named table or ErrUnknownTable.
func (s *Schema) Table(name string) (*Table, error) {
	if t := s.byName[name]; t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownTable, name)
}

// Column returns a declared or magic column by name.
func (t *Table) Column(name string) (Column, bool) {
	if i, ok := t.byName[name]; ok {
		return t.Columns[i], true
	}
	for _, c := range MagicColumns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// Indexed lists the columns with an equality index: every declared column
// unless it opts out, plus the magic author columns.
func (t *Table) Indexed() []string {
	out := []string{ColCreatedBy, ColUpdatedBy}
	for _, c := range t.Columns {
		if !c.NoIndex && c.Type != JSON && c.Type != Array && c.Type != Bytes {
			out = append(out, c.Name)
		}
	}
	return out
}

// ValidateInsert checks a full row and returns it normalized (see Normalize).
// A column left out gets its default; with none, an optional one becomes
// null and a required one is an error naming it.
func (t *Table) ValidateInsert(values map[string]any) (map[string]any, error) {
	out, err := t.validate(values)
	if err != nil {
		return nil, err
	}
	for _, c := range t.Columns {
		if _, ok := out[c.Name]; ok {
			continue
		}
		switch {
		case c.HasDefault():
			// Checked by Init, so this cannot fail on a schema in use.
			if out[c.Name], err = c.DefaultValue(); err != nil {
				return nil, &ValidationError{Table: t.Name, Column: c.Name, Problem: "default: " + err.Error()}
			}
		case c.Optional:
			out[c.Name] = nil
		default:
			return nil, &ValidationError{Table: t.Name, Column: c.Name, Problem: "required column is missing"}
		}
	}
	return out, nil
}

// ValidatePatch checks a partial update and returns it normalized.
func (t *Table) ValidatePatch(values map[string]any) (map[string]any, error) {
	if len(values) == 0 {
		return nil, &ValidationError{Table: t.Name, Problem: "update changes no column"}
	}
	out, err := t.validate(values)
	if err == nil && len(out) == 0 {
		// Every column named is retired: refused rather than applied as an
		// update of nothing, which would still stamp the row as edited.
		names := make([]string, 0, len(values))
		for n := range values {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, &ValidationError{Table: t.Name, Column: names[0], Problem: "was dropped from the schema, and the update changes no other column"}
	}
	return out, err
}

func (t *Table) validate(values map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(t.Columns))
	for name, v := range values {
		i, ok := t.byName[name]
		if !ok && t.retired[name] {
			continue // from a client still running a schema that had it
		}
		if !ok {
			if _, magic := t.Column(name); magic {
				return nil, &ValidationError{Table: t.Name, Column: name, Problem: "is written by the engine and cannot be set"}
			}
			return nil, &ValidationError{Table: t.Name, Column: name, Problem: "no such column"}
		}
		c := t.Columns[i]
		n, err := Normalize(c, v)
		if err != nil {
			return nil, &ValidationError{Table: t.Name, Column: name, Problem: err.Error()}
		}
		out[name] = n
	}
	return out, nil
}

// Normalize converts v to the canonical Go value for column c: string, bool,
// int64, float64, int64 milliseconds for timestamps, the decoded JSON value for
// json, or nil. It refuses anything that does not fit.
func Normalize(c Column, v any) (any, error) {
	if v == nil {
		if c.Optional {
			return nil, nil
		}
		return nil, errors.New("null is not allowed (the column is not optional)")
	}
	switch c.Type {
	case String, Ref:
		if s, ok := v.(string); ok {
			if c.Type == Ref && s == "" {
				return nil, errors.New("a ref must be a row id, got an empty string")
			}
			if !utf8.ValidString(s) {
				return nil, errNotUTF8
			}
			return s, nil
		}
	case Boolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Int:
		if n, ok := toInt(v); ok {
			return n, nil
		}
	case Float:
		// NaN and ±Inf have no JSON form, so rows holding them could not be stored.
		if f, ok := expr.Number(v); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, nil
		}
	case Timestamp:
		if n, ok := toInt(v); ok {
			return n, nil
		}
		if s, ok := v.(string); ok {
			ts, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, errors.New("a timestamp is milliseconds since the epoch or an RFC 3339 string")
			}
			return ts.UnixMilli(), nil
		}
		if ts, ok := v.(time.Time); ok {
			return ts.UnixMilli(), nil
		}
	case JSON:
		return normalizeJSON(v)
	case Enum:
		if s, ok := v.(string); ok {
			return c.enumValue(s)
		}
	case Bytes:
		switch b := v.(type) {
		case []byte:
			return bytes.Clone(b), nil
		case string:
			// The JSON form (the wire, JavaScript): standard base64.
			out, err := base64.StdEncoding.DecodeString(b)
			if err != nil {
				return nil, errors.New("bytes are base64 text in JSON, and this is not base64")
			}
			return out, nil
		}
	case Array:
		return normalizeArray(c, v)
	}
	return nil, fmt.Errorf("expected %s, got %s", c.describeType(), describe(v))
}

// describeType names c's type for an error: "enum (a, b)", "array of int".
func (c Column) describeType() string {
	switch {
	case c.Type == Enum:
		return "enum (" + strings.Join(c.Enum, ", ") + ")"
	case c.Type == Array && c.Items == Enum:
		return "array of enum (" + strings.Join(c.Enum, ", ") + ")"
	case c.Type == Array:
		return "array of " + string(c.Items)
	}
	return string(c.Type)
}

// enumValue returns s if it is one of c's enum values.
func (c Column) enumValue(s string) (string, error) {
	for _, e := range c.Enum {
		if e == s {
			return s, nil
		}
	}
	return "", fmt.Errorf("%q is not one of the enum's values (%s)", s, strings.Join(c.Enum, ", "))
}

// normalizeArray checks every element of an array column's value against
// its element type and returns a fresh []any of canonical elements. Null
// elements are refused: an optional array is null as a whole, never
// inside.
func normalizeArray(c Column, v any) (any, error) {
	var in []any
	switch x := v.(type) {
	case []any:
		in = x
	case []string:
		in = make([]any, len(x))
		for i, s := range x {
			in[i] = s
		}
	default:
		return nil, fmt.Errorf("expected %s, got %s", c.describeType(), describe(v))
	}
	elem := Column{Type: c.Items, Enum: c.Enum}
	out := make([]any, len(in))
	for i, e := range in {
		if e == nil {
			return nil, fmt.Errorf("element %d: null is not allowed in an array", i)
		}
		n, err := Normalize(elem, e)
		if err != nil {
			return nil, fmt.Errorf("element %d: %v", i, err)
		}
		out[i] = n
	}
	return out, nil
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		if n == float64(int64(n)) && n >= -(1<<53) && n <= 1<<53 {
			return int64(n), true
		}
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
	}
	return 0, false
}

// errNotUTF8 is the problem with text that is not valid UTF-8: stored, it
// would be replaced with U+FFFD on its way to JSON and read back as
// something else.
var errNotUTF8 = errors.New("text is not valid UTF-8")

// normalizeJSON round-trips v so stored json values have one shape (numbers
// as json.Number) whatever the caller passed. A value nested deeper than
// limits.MaxValueDepth is refused here, on the client too, before it is
// queued: past it a value's row could not be delivered.
func normalizeJSON(v any) (any, error) {
	if !validText(v) {
		return nil, errNotUTF8
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not representable as JSON: %v", err)
	}
	if err := limits.CheckJSON(b, limits.MaxValueDepth); err != nil {
		return nil, fmt.Errorf("nests more than %d levels deep (limits.MaxValueDepth)", limits.MaxValueDepth)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// validText reports whether every string in v, member names included, is
// valid UTF-8, for the shapes JSON takes in Go (what the wire and
// JavaScript produce). encoding/json would replace invalid bytes silently.
func validText(v any) bool {
	switch x := v.(type) {
	case string:
		return utf8.ValidString(x)
	case []any:
		for _, e := range x {
			if !validText(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range x {
			if !utf8.ValidString(k) || !validText(e) {
				return false
			}
		}
	}
	return true
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, json.Number, int, int64:
		return fmt.Sprintf("the number %v", v)
	case []any:
		return "an array"
	case []byte:
		return "bytes"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// TableNames returns the table names in sorted order.
func (s *Schema) TableNames() []string {
	out := make([]string, 0, len(s.Tables))
	for _, t := range s.Tables {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}
