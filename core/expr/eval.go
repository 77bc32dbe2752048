package expr

import (
	"cmp"
	"encoding/json"
	"math"
	"reflect"
	"strings"

	"github.com/jazzgo/jazz-tools/core/session"
)

// Row gives an expression access to a row's columns. ok is false when the
// column has no value.
type Row interface {
	Get(col string) (v any, ok bool)
}

// MapRow adapts a plain map to Row.
type MapRow map[string]any

func (m MapRow) Get(col string) (any, bool) { v, ok := m[col]; return v, ok }

// Env resolves the relational forms of a policy for one evaluation: it
// knows the other rows and the other tables' policies (core/policy).
type Env interface {
	// AllowedTo reports whether the row e.Via of row leads to is allowed
	// e.Action by its table's policy.
	AllowedTo(e *Expr, row Row) bool
	// Exists reports whether a row of e.Table satisfies e.Args[0], with row
	// as its outer row.
	Exists(e *Expr, row Row) bool
}

// Eval reports whether row satisfies e for sess. A nil e is true. Comparisons
// between values of different kinds are false rather than errors, so a policy
// never fails open on odd data. Without an Env, allowedTo and exists are
// false.
func (e *Expr) Eval(row Row, sess *session.Session) bool { return e.EvalIn(row, nil, sess, nil) }

// EvalIn is Eval with outer, the row that outer operands read (the row an
// exists was reached from), and env for allowedTo and exists.
func (e *Expr) EvalIn(row, outer Row, sess *session.Session, env Env) bool {
	if e == nil {
		return true
	}
	switch e.Op {
	case OpTrue:
		return true
	case OpFalse:
		return false
	case OpAnd:
		for _, a := range e.Args {
			if !a.EvalIn(row, outer, sess, env) {
				return false
			}
		}
		return true
	case OpOr:
		for _, a := range e.Args {
			if a.EvalIn(row, outer, sess, env) {
				return true
			}
		}
		return false
	case OpNot:
		return !e.Args[0].EvalIn(row, outer, sess, env)
	case OpIsNull:
		v, ok := e.L.Resolve(row, outer, sess)
		return !ok || v == nil
	case OpAllowedTo:
		return env != nil && row != nil && env.AllowedTo(e, row)
	case OpExists:
		return env != nil && env.Exists(e, row)
	}
	l, lok := e.L.Resolve(row, outer, sess)
	r, rok := e.R.Resolve(row, outer, sess)
	if !lok || !rok {
		// A missing session field or column compares as null: only ne can
		// hold, and only against a present non-null value.
		if e.Op == OpNe {
			return lok != rok && (l != nil || r != nil)
		}
		return false
	}
	switch e.Op {
	case OpEq:
		return Equal(l, r)
	case OpNe:
		return !Equal(l, r)
	case OpLt, OpLte, OpGt, OpGte:
		c, ok := Compare(l, r)
		if !ok {
			return false
		}
		switch e.Op {
		case OpLt:
			return c < 0
		case OpLte:
			return c <= 0
		case OpGt:
			return c > 0
		default:
			return c >= 0
		}
	case OpIn:
		return member(r, l)
	case OpContains:
		// Substring matching is for text columns. A session claim must be a
		// real array: a "superadmin" string claim must not pass a check for
		// the role "admin".
		if s, ok := l.(string); ok && e.L.Session == "" {
			sub, ok := r.(string)
			return ok && strings.Contains(s, sub)
		}
		return member(l, r)
	}
	return false
}

// Resolve is the operand's value for row, whose outer row is outer; ok is
// false when it has none.
func (o Operand) Resolve(row, outer Row, sess *session.Session) (any, bool) {
	switch {
	case o.Col != "":
		if row == nil {
			return nil, false
		}
		return row.Get(o.Col)
	case o.Outer != "":
		if outer == nil {
			return nil, false
		}
		return outer.Get(o.Outer)
	case o.Session != "":
		return sess.Field(o.Session)
	default:
		return o.Value, true
	}
}

func member(list, v any) bool {
	switch xs := list.(type) {
	case []any:
		for _, x := range xs {
			if Equal(x, v) {
				return true
			}
		}
	case []string:
		s, ok := v.(string)
		if !ok {
			return false
		}
		for _, x := range xs {
			if x == s {
				return true
			}
		}
	}
	return false
}

// Number returns v as a float64 when it is any numeric kind.
func Number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// integer returns v as an int64 when it is an integer kind (or an integral
// json.Number), so integers beyond 2^53 compare exactly rather than as floats.
func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// Equal is value equality across the JSON-shaped kinds: numbers compare by
// value whatever their Go type; arrays and objects compare deeply.
func Equal(a, b any) bool {
	if x, ok := integer(a); ok {
		if y, ok := integer(b); ok {
			return x == y
		}
	}
	if x, ok := Number(a); ok {
		y, ok := Number(b)
		return ok && x == y
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	}
	return reflect.DeepEqual(a, b)
}

// Compare orders two values of the same kind (numbers, strings, booleans).
// ok is false for values that have no order between them.
func Compare(a, b any) (int, bool) {
	if x, ok := integer(a); ok {
		if y, ok := integer(b); ok {
			return cmp.Compare(x, y), true
		}
	}
	if x, ok := Number(a); ok {
		y, ok := Number(b)
		if !ok || math.IsNaN(x) || math.IsNaN(y) {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(x, y), true
	case bool:
		y, ok := b.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case x == y:
			return 0, true
		case !x:
			return -1, true
		}
		return 1, true
	}
	return 0, false
}
