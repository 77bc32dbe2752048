package expr_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/session"
)

// row is the row every evaluation case reads. Each column holds one kind.
var row = expr.MapRow{
	"s":     "banana",
	"empty": "",
	"i":     int64(42),
	"f":     2.5,
	"n":     json.Number("7"),
	"b":     true,
	"null":  nil,
	"tags":  []any{"red", json.Number("3"), false},
	"names": []string{"ann", "bob"},
	"nan":   math.NaN(),
	"obj":   map[string]any{"k": "v"},
}

// user is an external session with nested and array claims.
var user = &session.Session{
	UserID:   "u1",
	AuthMode: session.External,
	Claims: map[string]any{
		"a":     map[string]any{"b": "deep"},
		"roles": []any{"admin", "dev"},
		"level": json.Number("3"),
		"org":   "acme",
	},
}

var (
	col  = expr.Col
	val  = expr.Val
	sess = expr.Sess
	cmp  = expr.Cmp
)

type evalCase struct {
	name string
	e    *expr.Expr
	want bool
}

func runEval(t *testing.T, s *session.Session, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Eval(row, s); got != tc.want {
				t.Errorf("%s = %v, want %v", tc.e, got, tc.want)
			}
		})
	}
}

func TestEval_ConstantsAndNil(t *testing.T) {
	var nilExpr *expr.Expr
	runEval(t, user, []evalCase{
		{"true", expr.True(), true},
		{"false", expr.False(), false},
		{"nil expression is true", nilExpr, true},
	})
}

func TestEval_EqualityByKind(t *testing.T) {
	runEval(t, user, []evalCase{
		// strings
		{"string equal", cmp(expr.OpEq, col("s"), val("banana")), true},
		{"string differs", cmp(expr.OpEq, col("s"), val("Banana")), false},
		{"empty string equal", cmp(expr.OpEq, col("empty"), val("")), true},
		{"string ne", cmp(expr.OpNe, col("s"), val("apple")), true},
		{"string ne same", cmp(expr.OpNe, col("s"), val("banana")), false},
		// numbers compare by value whatever their Go type
		{"int64 eq int64", cmp(expr.OpEq, col("i"), val(int64(42))), true},
		{"int64 eq int", cmp(expr.OpEq, col("i"), val(42)), true},
		{"int64 eq float64", cmp(expr.OpEq, col("i"), val(42.0)), true},
		{"int64 eq json.Number", cmp(expr.OpEq, col("i"), val(json.Number("42"))), true},
		{"int64 eq json.Number with fraction form", cmp(expr.OpEq, col("i"), val(json.Number("42.0"))), true},
		{"int64 differs", cmp(expr.OpEq, col("i"), val(int64(41))), false},
		{"float eq float", cmp(expr.OpEq, col("f"), val(2.5)), true},
		{"float eq json.Number", cmp(expr.OpEq, col("f"), val(json.Number("2.5"))), true},
		{"json.Number eq int64", cmp(expr.OpEq, col("n"), val(int64(7))), true},
		{"json.Number ne float", cmp(expr.OpNe, col("n"), val(7.5)), true},
		// bools
		{"bool equal", cmp(expr.OpEq, col("b"), val(true)), true},
		{"bool differs", cmp(expr.OpEq, col("b"), val(false)), false},
		{"bool ne", cmp(expr.OpNe, col("b"), val(false)), true},
		// nulls
		{"null eq null", cmp(expr.OpEq, col("null"), val(nil)), true},
		{"null eq string", cmp(expr.OpEq, col("null"), val("x")), false},
		{"null ne string", cmp(expr.OpNe, col("null"), val("x")), true},
		{"string ne null", cmp(expr.OpNe, col("s"), val(nil)), true},
		// arrays and objects compare deeply
		{"array eq same array", cmp(expr.OpEq, col("names"), val([]string{"ann", "bob"})), true},
		{"object eq same object", cmp(expr.OpEq, col("obj"), val(map[string]any{"k": "v"})), true},
		{"object eq other object", cmp(expr.OpEq, col("obj"), val(map[string]any{"k": "w"})), false},
		// column against column
		{"column eq itself", cmp(expr.OpEq, col("s"), col("s")), true},
		{"column eq other column", cmp(expr.OpEq, col("s"), col("i")), false},
	})
}

func TestEval_EqualityAcrossKindsIsFalse(t *testing.T) {
	runEval(t, user, []evalCase{
		{"string vs number", cmp(expr.OpEq, col("s"), val(int64(1))), false},
		{"numeric string vs number", cmp(expr.OpEq, val("42"), col("i")), false},
		{"json.Number vs its string", cmp(expr.OpEq, col("n"), val("7")), false},
		{"bool vs number", cmp(expr.OpEq, col("b"), val(int64(1))), false},
		{"bool vs string", cmp(expr.OpEq, col("b"), val("true")), false},
		{"null vs false", cmp(expr.OpEq, col("null"), val(false)), false},
		{"null vs zero", cmp(expr.OpEq, col("null"), val(int64(0))), false},
		{"null vs empty string", cmp(expr.OpEq, col("null"), val("")), false},
		{"[]string vs []any", cmp(expr.OpEq, col("names"), val([]any{"ann", "bob"})), false},
		{"ne across kinds holds", cmp(expr.OpNe, col("s"), val(int64(1))), true},
	})
}

func TestEval_Ordering(t *testing.T) {
	type ord struct {
		name string
		l, r expr.Operand
		// lt, lte, gt, gte
		want [4]bool
	}
	less := [4]bool{true, true, false, false}
	equal := [4]bool{false, true, false, true}
	greater := [4]bool{false, false, true, true}
	none := [4]bool{}
	ops := [4]expr.Op{expr.OpLt, expr.OpLte, expr.OpGt, expr.OpGte}
	cases := []ord{
		{"strings lexicographic less", val("apple"), col("s"), less},
		{"strings equal", col("s"), val("banana"), equal},
		{"strings greater", col("s"), val("Banana"), greater},
		{"string prefix is less", val("ban"), col("s"), less},
		{"int64 less", val(int64(41)), col("i"), less},
		{"int64 equal", col("i"), val(int64(42)), equal},
		{"int64 greater than float", col("i"), col("f"), greater},
		{"float less than json.Number", col("f"), col("n"), less},
		{"json.Number equal int", col("n"), val(7), equal},
		{"negative float", val(-0.5), val(json.Number("0")), less},
		{"false before true", val(false), col("b"), less},
		{"true equal true", col("b"), val(true), equal},
		{"true after false", col("b"), val(false), greater},
		{"NaN vs number", col("nan"), val(1.0), none},
		{"number vs NaN", val(1.0), col("nan"), none},
		{"NaN vs NaN", col("nan"), col("nan"), none},
		{"null vs null", col("null"), val(nil), none},
		{"arrays have no order", col("tags"), col("tags"), none},
		{"objects have no order", col("obj"), col("obj"), none},
		{"missing column", col("nope"), val(int64(1)), none},
		{"missing session field", sess("claims.none"), val("a"), none},
	}
	for _, tc := range cases {
		for k, op := range ops {
			e := cmp(op, tc.l, tc.r)
			t.Run(tc.name+"/"+string(op), func(t *testing.T) {
				if got := e.Eval(row, user); got != tc.want[k] {
					t.Errorf("%s = %v, want %v", e, got, tc.want[k])
				}
			})
		}
	}
}

// TestEval_OrderingAcrossKindsIsNeverTrue checks every pair of values of
// different kinds under every ordering operator, both ways round.
func TestEval_OrderingAcrossKindsIsNeverTrue(t *testing.T) {
	kinds := map[string][]any{
		"string": {"", "a", "42"},
		"number": {int64(1), 1, 1.5, json.Number("1"), math.Inf(1)},
		"bool":   {true, false},
		"null":   {nil},
		"array":  {[]any{}, []any{int64(1)}, []string{"a"}},
		"object": {map[string]any{}},
	}
	for ka, as := range kinds {
		for kb, bs := range kinds {
			if ka == kb {
				continue
			}
			for _, a := range as {
				for _, b := range bs {
					for _, op := range []expr.Op{expr.OpLt, expr.OpLte, expr.OpGt, expr.OpGte, expr.OpEq} {
						if cmp(op, val(a), val(b)).Eval(nil, nil) {
							t.Errorf("%#v %s %#v (%s vs %s) is true", a, op, b, ka, kb)
						}
					}
					if !cmp(expr.OpNe, val(a), val(b)).Eval(nil, nil) {
						t.Errorf("%#v ne %#v (%s vs %s) is false", a, b, ka, kb)
					}
				}
			}
		}
	}
}

func TestEval_NaNIsEqualToNothing(t *testing.T) {
	runEval(t, user, []evalCase{
		{"NaN eq NaN", cmp(expr.OpEq, col("nan"), col("nan")), false},
		{"NaN ne NaN", cmp(expr.OpNe, col("nan"), col("nan")), true},
		{"NaN eq number", cmp(expr.OpEq, col("nan"), val(0.0)), false},
		{"NaN in array of NaN", cmp(expr.OpIn, col("nan"), val([]any{math.NaN()})), false},
	})
}

func TestEval_LargeIntegersCompareExactly(t *testing.T) {
	const big = int64(1)<<53 + 1 // not representable as a float64
	r := expr.MapRow{"n": big}
	cases := []evalCase{
		{"eq itself", cmp(expr.OpEq, col("n"), val(big)), true},
		{"eq its neighbour", cmp(expr.OpEq, col("n"), val(big-1)), false},
		{"ne its neighbour", cmp(expr.OpNe, col("n"), val(big-1)), true},
		{"eq json.Number neighbour", cmp(expr.OpEq, col("n"), val(json.Number("9007199254740992"))), false},
		{"eq json.Number itself", cmp(expr.OpEq, col("n"), val(json.Number("9007199254740993"))), true},
		{"gt its neighbour", cmp(expr.OpGt, col("n"), val(big-1)), true},
		{"lt its successor", cmp(expr.OpLt, col("n"), val(big+1)), true},
		{"lte json.Number neighbour", cmp(expr.OpLte, col("n"), val(json.Number("9007199254740992"))), false},
		{"in list holding only the neighbour", cmp(expr.OpIn, col("n"), val([]any{big - 1})), false},
		{"max int64 gt max-1", cmp(expr.OpGt, val(int64(math.MaxInt64)), val(int64(math.MaxInt64-1))), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Eval(r, nil); got != tc.want {
				t.Errorf("%s = %v, want %v", tc.e, got, tc.want)
			}
		})
	}
}

func TestEval_InMatchesArrayMember(t *testing.T) {
	runEval(t, user, []evalCase{
		{"string in []any", cmp(expr.OpIn, val("red"), col("tags")), true},
		{"number in []any by value", cmp(expr.OpIn, val(int64(3)), col("tags")), true},
		{"float in []any by value", cmp(expr.OpIn, val(3.0), col("tags")), true},
		{"bool in []any", cmp(expr.OpIn, val(false), col("tags")), true},
		{"absent string in []any", cmp(expr.OpIn, val("blue"), col("tags")), false},
		{"numeric string not in []any of numbers", cmp(expr.OpIn, val("3"), col("tags")), false},
		{"string in []string", cmp(expr.OpIn, val("bob"), col("names")), true},
		{"absent string in []string", cmp(expr.OpIn, val("Bob"), col("names")), false},
		{"number not in []string", cmp(expr.OpIn, val(int64(1)), col("names")), false},
		{"column in literal list", cmp(expr.OpIn, col("s"), val([]any{"apple", "banana"})), true},
		{"column not in literal list", cmp(expr.OpIn, col("s"), val([]any{"apple"})), false},
		{"int column in list of json.Numbers", cmp(expr.OpIn, col("i"), val([]any{json.Number("1"), json.Number("42")})), true},
		{"in empty list", cmp(expr.OpIn, col("s"), val([]any{})), false},
		{"in a string is false", cmp(expr.OpIn, val("nan"), col("s")), false},
		{"in a number is false", cmp(expr.OpIn, val(int64(42)), col("i")), false},
		{"in null is false", cmp(expr.OpIn, val("a"), col("null")), false},
		{"missing column in list", cmp(expr.OpIn, col("nope"), val([]any{nil})), false},
		{"in missing column", cmp(expr.OpIn, val("a"), col("nope")), false},
		{"claim in list", cmp(expr.OpIn, sess("claims.org"), val([]any{"acme", "initech"})), true},
		{"value in claim array", cmp(expr.OpIn, val("admin"), sess("claims.roles")), true},
		{"value not in claim array", cmp(expr.OpIn, val("root"), sess("claims.roles")), false},
	})
}

func TestEval_ContainsSubstringOrMember(t *testing.T) {
	runEval(t, user, []evalCase{
		{"[]any contains string", cmp(expr.OpContains, col("tags"), val("red")), true},
		{"[]any contains number by value", cmp(expr.OpContains, col("tags"), val(json.Number("3.0"))), true},
		{"[]any lacks string", cmp(expr.OpContains, col("tags"), val("blue")), false},
		{"[]string contains", cmp(expr.OpContains, col("names"), val("ann")), true},
		{"[]string lacks", cmp(expr.OpContains, col("names"), val("an")), false},
		{"[]string with number", cmp(expr.OpContains, col("names"), val(int64(0))), false},
		{"string contains substring", cmp(expr.OpContains, col("s"), val("nan")), true},
		{"string contains itself", cmp(expr.OpContains, col("s"), val("banana")), true},
		{"string contains empty string", cmp(expr.OpContains, col("s"), val("")), true},
		{"string lacks substring", cmp(expr.OpContains, col("s"), val("xyz")), false},
		{"substring is case sensitive", cmp(expr.OpContains, col("s"), val("NAN")), false},
		{"string with number", cmp(expr.OpContains, val("a1"), val(int64(1))), false},
		{"number contains nothing", cmp(expr.OpContains, col("i"), val(int64(4))), false},
		{"null contains nothing", cmp(expr.OpContains, col("null"), val(nil)), false},
		{"missing column contains nothing", cmp(expr.OpContains, col("nope"), val("a")), false},
		{"claim array contains", cmp(expr.OpContains, sess("claims.roles"), val("admin")), true},
		{"claim array lacks", cmp(expr.OpContains, sess("claims.roles"), val("owner")), false},
	})
}

func TestEval_IsNull(t *testing.T) {
	runEval(t, user, []evalCase{
		{"null column", expr.IsNull(col("null")), true},
		{"missing column", expr.IsNull(col("nope")), true},
		{"string column", expr.IsNull(col("s")), false},
		{"empty string is not null", expr.IsNull(col("empty")), false},
		{"false is not null", expr.IsNull(val(false)), false},
		{"null literal", expr.IsNull(val(nil)), true},
		{"present session field", expr.IsNull(sess("user_id")), false},
		{"missing claim", expr.IsNull(sess("claims.missing")), true},
		{"not isNull of string", expr.Not(expr.IsNull(col("s"))), true},
	})
}

func TestEval_MissingOperandsCompareAsNull(t *testing.T) {
	runEval(t, user, []evalCase{
		{"missing eq value", cmp(expr.OpEq, col("nope"), val("a")), false},
		{"missing eq null is false (fails closed)", cmp(expr.OpEq, col("nope"), val(nil)), false},
		{"missing eq null column", cmp(expr.OpEq, col("nope"), col("null")), false},
		{"missing ne value", cmp(expr.OpNe, col("nope"), val("a")), true},
		{"value ne missing", cmp(expr.OpNe, val("a"), col("nope")), true},
		{"missing ne null", cmp(expr.OpNe, col("nope"), val(nil)), false},
		{"missing ne missing", cmp(expr.OpNe, col("nope"), col("other")), false},
		{"missing eq missing", cmp(expr.OpEq, col("nope"), col("nope")), false},
		{"missing claim eq column", cmp(expr.OpEq, sess("claims.none"), col("s")), false},
		{"missing claim ne column", cmp(expr.OpNe, sess("claims.none"), col("s")), true},
	})
}

func TestEval_NilRowHasNoColumns(t *testing.T) {
	cases := []evalCase{
		{"eq", cmp(expr.OpEq, col("s"), val("banana")), false},
		{"isNull", expr.IsNull(col("s")), true},
		{"session only", cmp(expr.OpEq, sess("user_id"), val("u1")), true},
	}
	for _, tc := range cases {
		if got := tc.e.Eval(nil, user); got != tc.want {
			t.Errorf("%s: %s on a nil row = %v, want %v", tc.name, tc.e, got, tc.want)
		}
	}
}

func TestEval_SessionFields(t *testing.T) {
	owned := expr.MapRow{"owner": "u1", "org": "acme"}
	cases := []struct {
		name string
		s    *session.Session
		e    *expr.Expr
		want bool
	}{
		{"user_id matches column", user, cmp(expr.OpEq, col("owner"), sess("user_id")), true},
		{"user_id reversed operands", user, cmp(expr.OpEq, sess("user_id"), col("owner")), true},
		{"other user_id", &session.Session{UserID: "u2", AuthMode: session.External}, cmp(expr.OpEq, col("owner"), sess("user_id")), false},
		{"authMode", user, cmp(expr.OpEq, sess("authMode"), val("external")), true},
		{"authMode anonymous", &session.Session{AuthMode: session.Anonymous}, cmp(expr.OpEq, sess("authMode"), val("anonymous")), true},
		{"authMode other", user, cmp(expr.OpEq, sess("authMode"), val("anonymous")), false},
		{"nested claim", user, cmp(expr.OpEq, sess("claims.a.b"), val("deep")), true},
		{"claim against column", user, cmp(expr.OpEq, sess("claims.org"), col("org")), true},
		{"numeric claim ordered", user, cmp(expr.OpGt, sess("claims.level"), val(int64(2))), true},
		{"nested claim missing", user, cmp(expr.OpEq, sess("claims.a.c"), val("deep")), false},
		{"path through a non-object claim", user, cmp(expr.OpEq, sess("claims.a.b.c"), val("deep")), false},
		{"whole claim object", user, cmp(expr.OpEq, sess("claims.a"), val(map[string]any{"b": "deep"})), true},
		{"unknown session field", user, cmp(expr.OpEq, sess("password"), val("")), false},
		{"session without claims", &session.Session{UserID: "u1"}, cmp(expr.OpEq, sess("claims.org"), val("acme")), false},
		{"nil session user_id eq", nil, cmp(expr.OpEq, col("owner"), sess("user_id")), false},
		{"nil session user_id isNull", nil, expr.IsNull(sess("user_id")), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Eval(owned, tc.s); got != tc.want {
				t.Errorf("%s = %v, want %v", tc.e, got, tc.want)
			}
		})
	}
}

func TestEval_Connectives(t *testing.T) {
	yes := cmp(expr.OpEq, col("s"), val("banana"))
	no := cmp(expr.OpEq, col("s"), val("apple"))
	runEval(t, user, []evalCase{
		{"empty and is true", expr.And(), true},
		{"empty or is false", expr.Or(), false},
		{"and all true", expr.And(yes, yes, expr.True()), true},
		{"and one false", expr.And(yes, no, yes), false},
		{"or one true", expr.Or(no, no, yes), true},
		{"or all false", expr.Or(no, expr.False()), false},
		{"not true", expr.Not(yes), false},
		{"not false", expr.Not(no), true},
		{"not not", expr.Not(expr.Not(yes)), true},
		{"nested", expr.Or(expr.And(yes, no), expr.Not(expr.Or(no, expr.False()))), true},
		{"and with nil child is true", expr.And(nil, yes), true},
	})
}

func TestEqual_NumbersByValue(t *testing.T) {
	cases := []struct {
		a, b any
		want bool
	}{
		{int64(1), 1, true},
		{int64(1), 1.0, true},
		{int64(1), json.Number("1"), true},
		{json.Number("1e2"), int64(100), true},
		{json.Number("0.1"), 0.1, true},
		{json.Number("not a number"), json.Number("not a number"), true},
		{json.Number("not a number"), 0, false},
		{1, "1", false},
		{nil, nil, true},
		{nil, false, false},
		{"a", "a", true},
		{true, true, true},
		{[]any{"a"}, []any{"a"}, true},
	}
	for _, tc := range cases {
		if got := expr.Equal(tc.a, tc.b); got != tc.want {
			t.Errorf("Equal(%#v, %#v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := expr.Equal(tc.b, tc.a); got != tc.want {
			t.Errorf("Equal(%#v, %#v) = %v, want %v (not symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestNumber_AcceptsEveryNumericKind(t *testing.T) {
	cases := []struct {
		v    any
		want float64
		ok   bool
	}{
		{int64(-3), -3, true},
		{7, 7, true},
		{2.5, 2.5, true},
		{json.Number("1.5e1"), 15, true},
		{json.Number("x"), 0, false},
		{json.Number("1e999"), 0, false},
		{"1", 0, false},
		{true, 0, false},
		{nil, 0, false},
		{int32(1), 0, false},
	}
	for _, tc := range cases {
		got, ok := expr.Number(tc.v)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("Number(%#v) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCompare_Results(t *testing.T) {
	cases := []struct {
		a, b any
		c    int
		ok   bool
	}{
		{int64(1), int64(2), -1, true},
		{2.0, int64(2), 0, true},
		{json.Number("3"), 2.5, 1, true},
		{"a", "b", -1, true},
		{"b", "b", 0, true},
		{false, true, -1, true},
		{true, true, 0, true},
		{true, false, 1, true},
		{"a", int64(1), 0, false},
		{nil, nil, 0, false},
		{math.NaN(), 1.0, 0, false},
	}
	for _, tc := range cases {
		c, ok := expr.Compare(tc.a, tc.b)
		if c != tc.c || ok != tc.ok {
			t.Errorf("Compare(%#v, %#v) = %d, %v; want %d, %v", tc.a, tc.b, c, ok, tc.c, tc.ok)
		}
	}
}

func TestMapRow_GetReportsPresence(t *testing.T) {
	r := expr.MapRow{"a": nil}
	if v, ok := r.Get("a"); !ok || v != nil {
		t.Errorf("Get(a) = %v, %v; want nil, true", v, ok)
	}
	if _, ok := r.Get("b"); ok {
		t.Error("Get(b) reported a missing column as present")
	}
}

func ExampleExpr_Eval() {
	e := expr.And(expr.Eq("done", false), cmp(expr.OpEq, col("owner"), sess("user_id")))
	me := &session.Session{UserID: "alice", AuthMode: session.LocalFirst}
	fmt.Println(e.Eval(expr.MapRow{"done": false, "owner": "alice"}, me))
	fmt.Println(e.Eval(expr.MapRow{"done": false, "owner": "bob"}, me))
	// Output:
	// true
	// false
}
