package expr_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/limits"
)

// corpus holds conditions in canonical JSON form (keys sorted, no spaces), so
// encoding a decoded corpus entry must give the entry back byte for byte.
var corpus = []string{
	`true`,
	`false`,
	`{"and":[]}`,
	`{"or":[]}`,
	`{"eq":[{"col":"title"},{"value":"milk"}]}`,
	`{"ne":[{"col":"n"},{"value":1}]}`,
	`{"lt":[{"col":"n"},{"value":1.5}]}`,
	`{"lte":[{"value":-2},{"col":"n"}]}`,
	`{"gt":[{"col":"$createdAt"},{"value":1700000000000}]}`,
	`{"gte":[{"col":"big"},{"value":9007199254740993}]}`,
	`{"in":[{"col":"status"},{"value":["open","closed",null,1e3]}]}`,
	`{"in":[{"value":"admin"},{"session":"claims.roles"}]}`,
	`{"contains":[{"session":"claims.roles"},{"value":"admin"}]}`,
	`{"contains":[{"col":"title"},{"value":"<b>&amp;</b>"}]}`,
	`{"isNull":{"col":"deleted_at"}}`,
	`{"isNull":{"session":"claims.org.id"}}`,
	`{"isNull":{"value":null}}`,
	`{"eq":[{"col":"meta"},{"value":{"a":[true,false,{"b":"ü"}]}}]}`,
	`{"eq":[{"col":"owner_id"},{"session":"user_id"}]}`,
	`{"eq":[{"session":"authMode"},{"value":"anonymous"}]}`,
	`{"not":{"eq":[{"col":"done"},{"value":true}]}}`,
	`{"and":[{"eq":[{"col":"a"},{"value":1}]},{"or":[true,{"not":false}]}]}`,
	`{"or":[{"and":[true,true]},{"and":[false]}]}`,
	`{"allowedTo":{"op":"read","via":"projectId"}}`,
	`{"allowedTo":{"maxDepth":5,"op":"update","via":"parentId"}}`,
	`{"exists":{"table":"shares","where":{"and":[{"eq":[{"col":"todoId"},{"outer":"id"}]},{"eq":[{"col":"user_id"},{"session":"user_id"}]}]}}}`,
	`{"or":[{"allowedTo":{"op":"delete","via":"p"}},{"not":{"exists":{"table":"t","where":true}}}]}`,
}

func TestDecode_CorpusRoundTripsByteForByte(t *testing.T) {
	for _, src := range corpus {
		t.Run(src, func(t *testing.T) {
			e, err := expr.Decode([]byte(src))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			out, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			// encoding/json escapes <, > and & for HTML; undo that for the comparison.
			got := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(out))
			if got != src {
				t.Errorf("re-encoded as %s", got)
			}
			again, err := expr.Decode(out)
			if err != nil {
				t.Fatalf("Decode(ToJSON): %v", err)
			}
			if again.String() != e.String() {
				t.Errorf("String after round trip = %s, want %s", again, e)
			}
			if !reflect.DeepEqual(again, e) {
				t.Errorf("round trip changed the tree: %#v != %#v", again, e)
			}
		})
	}
}

func TestDecode_AcceptsWhitespaceAndKeepsNumbersExact(t *testing.T) {
	e, err := expr.Decode([]byte(" \n{ \"eq\" : [ {\"col\":\"n\"} , {\"value\": 12345678901234567890} ] }\n\t"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Op != expr.OpEq || e.L.Col != "n" || !e.R.IsValue {
		t.Fatalf("decoded %#v", e)
	}
	if e.R.Value != json.Number("12345678901234567890") {
		t.Errorf("value = %#v, want the json.Number as written", e.R.Value)
	}
}

func TestDecode_BuildsTheTree(t *testing.T) {
	e, err := expr.Decode([]byte(`{"and":[{"eq":[{"col":"a"},{"session":"user_id"}]},{"isNull":{"col":"b"}},{"not":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := expr.And(
		expr.Cmp(expr.OpEq, expr.Col("a"), expr.Sess("user_id")),
		expr.IsNull(expr.Col("b")),
		expr.Not(expr.True()),
	)
	if !reflect.DeepEqual(e, want) {
		t.Errorf("got %s, want %s", e, want)
	}
}

func TestDecode_RefusesMalformedConditions(t *testing.T) {
	cases := []struct {
		name, src string
	}{
		{"empty input", ``},
		{"allowedTo of a string", `{"allowedTo":"project"}`},
		{"allowedTo without via", `{"allowedTo":{"op":"read"}}`},
		{"allowedTo with an unknown op", `{"allowedTo":{"op":"write","via":"p"}}`},
		{"allowedTo with an extra field", `{"allowedTo":{"op":"read","via":"p","as":"x"}}`},
		{"allowedTo with maxDepth 0", `{"allowedTo":{"op":"read","via":"p","maxDepth":0}}`},
		{"allowedTo with maxDepth 1.5", `{"allowedTo":{"op":"read","via":"p","maxDepth":1.5}}`},
		{"allowedTo with maxDepth over the cap", `{"allowedTo":{"op":"read","via":"p","maxDepth":65}}`},
		{"exists without where", `{"exists":{"table":"t"}}`},
		{"exists without table", `{"exists":{"where":true}}`},
		{"exists with a bad where", `{"exists":{"table":"t","where":1}}`},
		{"outer of a number", `{"eq":[{"outer":1},{"value":1}]}`},
		{"not JSON", `eq`},
		{"null", `null`},
		{"string", `"true"`},
		{"number", `1`},
		{"array", `[true]`},
		{"unknown op", `{"like":[{"col":"a"},{"value":"b"}]}`},
		{"op case matters", `{"EQ":[{"col":"a"},{"value":"b"}]}`},
		{"two keys in one object", `{"eq":[{"col":"a"},{"value":1}],"ne":[{"col":"a"},{"value":2}]}`},
		{"empty object", `{}`},
		{"and of non-array", `{"and":true}`},
		{"or of object", `{"or":{"eq":[{"col":"a"},{"value":1}]}}`},
		{"and with bad child", `{"and":[true,1]}`},
		{"not of array", `{"not":[true]}`},
		{"not of null", `{"not":null}`},
		{"eq of one operand", `{"eq":[{"col":"a"}]}`},
		{"eq of three operands", `{"eq":[{"col":"a"},{"value":1},{"value":2}]}`},
		{"eq of object", `{"eq":{"col":"a"}}`},
		{"eq of no operands", `{"eq":[]}`},
		{"operand not an object", `{"eq":[{"col":"a"},1]}`},
		{"operand with two keys", `{"eq":[{"col":"a","value":1},{"value":1}]}`},
		{"empty operand", `{"eq":[{},{"value":1}]}`},
		{"unknown operand kind", `{"eq":[{"column":"a"},{"value":1}]}`},
		{"non-string col", `{"eq":[{"col":1},{"value":1}]}`},
		{"empty col", `{"eq":[{"col":""},{"value":1}]}`},
		{"null col", `{"isNull":{"col":null}}`},
		{"non-string session", `{"eq":[{"session":["user_id"]},{"value":1}]}`},
		{"empty session", `{"eq":[{"session":""},{"value":1}]}`},
		{"isNull of array", `{"isNull":[{"col":"a"}]}`},
		{"trailing value", `true true`},
		{"trailing garbage", `true x`},
		{"trailing closing bracket", `true]`},
		{"trailing closing brace", `{"isNull":{"col":"a"}}}`},
		{"unterminated", `{"and":[true`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := expr.Decode([]byte(tc.src))
			if err == nil {
				t.Fatalf("Decode(%s) = %s, want an error", tc.src, e)
			}
			if !errors.Is(err, expr.ErrSyntax) {
				t.Errorf("Decode(%s) = %v, want errors.Is ErrSyntax", tc.src, err)
			}
		})
	}
}

func nestedNot(depth int) string {
	return strings.Repeat(`{"not":`, depth) + "true" + strings.Repeat("}", depth)
}

func flatAnd(children int) string {
	return `{"and":[` + strings.TrimSuffix(strings.Repeat("true,", children), ",") + `]}`
}

func TestDecode_DepthLimit(t *testing.T) {
	if _, err := expr.Decode([]byte(nestedNot(limits.MaxConditionDepth))); err != nil {
		t.Errorf("depth MaxDepth: %v", err)
	}
	_, err := expr.Decode([]byte(nestedNot(limits.MaxConditionDepth + 1)))
	if !errors.Is(err, expr.ErrTooComplex) {
		t.Errorf("depth MaxDepth+1: err = %v, want ErrTooComplex", err)
	}
	// Far deeper than MaxDepth, still refused cleanly.
	if _, err := expr.Decode([]byte(nestedNot(5000))); !errors.Is(err, expr.ErrTooComplex) {
		t.Errorf("depth 5000: err = %v, want ErrTooComplex", err)
	}
}

func TestDecode_NodeLimit(t *testing.T) {
	// The and node itself counts, so MaxNodes-1 children is the largest tree.
	if _, err := expr.Decode([]byte(flatAnd(limits.MaxConditionNodes - 1))); err != nil {
		t.Errorf("MaxNodes nodes: %v", err)
	}
	_, err := expr.Decode([]byte(flatAnd(limits.MaxConditionNodes)))
	if !errors.Is(err, expr.ErrTooComplex) {
		t.Errorf("MaxNodes+1 nodes: err = %v, want ErrTooComplex", err)
	}
}

func TestFromJSON_AcceptsFloatValuesFromPlainUnmarshal(t *testing.T) {
	var raw any
	if err := json.Unmarshal([]byte(`{"gt":[{"col":"n"},{"value":2}]}`), &raw); err != nil {
		t.Fatal(err)
	}
	e, err := expr.FromJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Eval(expr.MapRow{"n": int64(3)}, nil) {
		t.Errorf("%s is false for n=3", e)
	}
}

func TestExpr_JSONMarshalerAndUnmarshaler(t *testing.T) {
	type doc struct {
		Where *expr.Expr `json:"where"`
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"where":{"eq":[{"col":"a"},{"value":"x"}]}}`), &d); err != nil {
		t.Fatal(err)
	}
	if d.Where.String() != `a eq "x"` {
		t.Errorf("unmarshaled %s", d.Where)
	}
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"where":{"eq":[{"col":"a"},{"value":"x"}]}}` {
		t.Errorf("marshaled %s", out)
	}
	err = json.Unmarshal([]byte(`{"where":{"eq":1}}`), &d)
	if !errors.Is(err, expr.ErrSyntax) {
		t.Errorf("bad where: err = %v, want ErrSyntax", err)
	}
}

func TestToJSON_NilIsTrue(t *testing.T) {
	var e *expr.Expr
	if e.ToJSON() != true || e.String() != "true" {
		t.Errorf("nil expr: ToJSON %v, String %s", e.ToJSON(), e.String())
	}
}

func TestString_RendersCompactly(t *testing.T) {
	cases := []struct {
		e    *expr.Expr
		want string
	}{
		{expr.True(), "true"},
		{expr.And(expr.Eq("a", "x"), expr.False()), `(a eq "x" and false)`},
		{expr.Or(expr.IsNull(expr.Col("b")), expr.Not(expr.True())), "(b isNull or not true)"},
		{expr.Cmp(expr.OpIn, expr.Val("admin"), expr.Sess("claims.roles")), `"admin" in session.claims.roles`},
	}
	for _, tc := range cases {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("String() = %s, want %s", got, tc.want)
		}
	}
}

func TestColumns_DistinctInFirstSeenOrder(t *testing.T) {
	e := expr.And(
		expr.Cmp(expr.OpEq, expr.Col("b"), expr.Col("a")),
		expr.Or(expr.Eq("b", 1), expr.IsNull(expr.Col("c"))),
		expr.Cmp(expr.OpEq, expr.Sess("user_id"), expr.Col("a")),
	)
	if got, want := e.Columns(), []string{"b", "a", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Columns() = %v, want %v", got, want)
	}
	var none *expr.Expr
	if got := none.Columns(); len(got) != 0 {
		t.Errorf("nil Columns() = %v", got)
	}
}

func TestUsesSession_FindsNestedSessionOperands(t *testing.T) {
	cases := []struct {
		e    *expr.Expr
		want bool
	}{
		{nil, false},
		{expr.Eq("a", 1), false},
		{expr.Not(expr.Or(expr.False(), expr.Cmp(expr.OpIn, expr.Val("x"), expr.Sess("claims.roles")))), true},
		{expr.IsNull(expr.Sess("user_id")), true},
	}
	for _, tc := range cases {
		if got := tc.e.UsesSession(); got != tc.want {
			t.Errorf("%s UsesSession() = %v, want %v", tc.e, got, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, src := range corpus {
		f.Add([]byte(src))
	}
	f.Add([]byte(nestedNot(limits.MaxConditionDepth + 1)))
	f.Add([]byte(`{"eq":[{"col":"a"},{"value":{"x":[1,"\u2028",null]}}]}`))
	f.Add([]byte(`true]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := expr.Decode(data)
		if err != nil {
			if !errors.Is(err, expr.ErrSyntax) && !errors.Is(err, expr.ErrTooComplex) {
				t.Fatalf("error %v is neither ErrSyntax nor ErrTooComplex", err)
			}
			return
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("decoded %s but cannot re-encode: %v", e, err)
		}
		again, err := expr.Decode(out)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", out, err)
		}
		if again.String() != e.String() {
			t.Fatalf("round trip changed %s into %s", e, again)
		}
		out2, err := json.Marshal(again)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("encoding is not stable: %s then %s (%v)", out, out2, err)
		}
	})
}
