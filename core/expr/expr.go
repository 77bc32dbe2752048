// Package expr is the condition language shared by queries (where clauses) and
// permission policies. One language for both means a policy and a query filter
// are evaluated by the same code, and the index planner can read both.
//
// JSON form (the only way conditions cross a process boundary):
//
//	true | false                         always / never
//	{"and": [e, ...]}  {"or": [e, ...]}  {"not": e}
//	{"eq": [a, b]}  (likewise ne, lt, lte, gt, gte, in, contains)
//	{"isNull": a}
//
// where an operand a, b is exactly one of
//
//	{"col": "owner_id"}          a column of the row (magic columns included)
//	{"session": "user_id"}       a field of the session: user_id, authMode, claims.x.y
//	{"value": <any JSON>}        a literal
//	{"outer": "id"}              inside exists: a column of the row the policy judges
//
// Policies (never queries) may also follow relations (relational.go):
//
//	{"allowedTo": {"op": "read", "via": "projectId", "maxDepth": 5}}
//	{"exists": {"table": "shares", "where": e}}
package expr

import (
	"fmt"
	"strings"
)

// Op names an expression node.
type Op string

const (
	OpTrue     Op = "true"
	OpFalse    Op = "false"
	OpAnd      Op = "and"
	OpOr       Op = "or"
	OpNot      Op = "not"
	OpEq       Op = "eq"
	OpNe       Op = "ne"
	OpLt       Op = "lt"
	OpLte      Op = "lte"
	OpGt       Op = "gt"
	OpGte      Op = "gte"
	OpIn       Op = "in"
	OpContains Op = "contains"
	OpIsNull   Op = "isNull"
	// OpAllowedTo and OpExists are the relational forms of policies.
	OpAllowedTo Op = "allowedTo"
	OpExists    Op = "exists"
)

var binaryOps = map[Op]bool{OpEq: true, OpNe: true, OpLt: true, OpLte: true, OpGt: true, OpGte: true, OpIn: true, OpContains: true}

// Operand is one side of a comparison: exactly one of Col, Session, Outer
// or a literal (IsValue with Value).
type Operand struct {
	Col     string
	Session string
	// Outer is a column of the row an exists condition was reached from
	// (the row the policy judges), for correlating the two.
	Outer   string
	IsValue bool
	Value   any
}

// Col returns an operand reading column name.
func Col(name string) Operand { return Operand{Col: name} }

// Sess returns an operand reading a session field.
func Sess(path string) Operand { return Operand{Session: path} }

// Val returns a literal operand. v should be a JSON-shaped value (nil, bool,
// string, float64/int64/json.Number, []any, map[string]any).
func Val(v any) Operand { return Operand{IsValue: true, Value: v} }

// Expr is a node of a condition. Args holds the children of and/or/not (and
// the where of exists); L and R the operands of comparisons (only L for
// isNull).
type Expr struct {
	Op   Op
	Args []*Expr
	L, R Operand
	// Action, Via and MaxDepth are allowedTo's: the operation (read, insert,
	// update, delete) the row that the ref column Via leads to must be
	// allowed, and how many times the same relation may be followed in one
	// check (0: DefaultMaxDepth).
	Action   string
	Via      string
	MaxDepth int
	// Table is the table exists looks in; its condition is Args[0].
	Table string
	// Target is the table Via refers to, filled in by the bundle's checks
	// (it is the schema's to know, and not part of the JSON).
	Target string
}

// True and False are the constant conditions.
func True() *Expr  { return &Expr{Op: OpTrue} }
func False() *Expr { return &Expr{Op: OpFalse} }

// And, Or and Not combine conditions.
func And(args ...*Expr) *Expr { return &Expr{Op: OpAnd, Args: args} }
func Or(args ...*Expr) *Expr  { return &Expr{Op: OpOr, Args: args} }
func Not(e *Expr) *Expr       { return &Expr{Op: OpNot, Args: []*Expr{e}} }

// Cmp builds a binary comparison.
func Cmp(op Op, l, r Operand) *Expr { return &Expr{Op: op, L: l, R: r} }

// Eq is shorthand for the most common comparison, column = literal.
func Eq(col string, v any) *Expr { return Cmp(OpEq, Col(col), Val(v)) }

// IsNull builds a null test.
func IsNull(a Operand) *Expr { return &Expr{Op: OpIsNull, L: a} }

// Walk calls fn on e and every descendant, depth first, the conditions
// inside exists (which speak of another table's rows) included.
func (e *Expr) Walk(fn func(*Expr)) {
	if e == nil {
		return
	}
	fn(e)
	for _, a := range e.Args {
		a.Walk(fn)
	}
}

// Columns returns the distinct column names of the row e judges that it
// reads, in first-seen order: the columns it compares, the ref columns its
// allowedTo follow, and the outer columns its exists conditions correlate
// with (but not the columns of the rows exists looks at).
func (e *Expr) Columns() []string {
	var out []string
	seen := map[string]bool{}
	add := func(c string) {
		if c != "" && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	e.WalkScoped(func(n *Expr, level int) {
		switch level {
		case 0:
			add(n.L.Col)
			add(n.R.Col)
			add(n.Via)
		case 1:
			add(n.L.Outer)
			add(n.R.Outer)
		}
	})
	return out
}

// WalkScoped is Walk that also says how many exists conditions each node is
// inside: at level 0 columns are the judged row's, at level n they are the
// rows of the nth exists, whose outer row is level n-1's.
func (e *Expr) WalkScoped(fn func(n *Expr, level int)) { e.walkScoped(fn, 0) }

func (e *Expr) walkScoped(fn func(*Expr, int), level int) {
	if e == nil {
		return
	}
	fn(e, level)
	inner := level
	if e.Op == OpExists {
		inner++
	}
	for _, a := range e.Args {
		a.walkScoped(fn, inner)
	}
}

// Relational reports whether e uses the forms only policies may use:
// allowedTo, exists or outer operands.
func (e *Expr) Relational() bool {
	found := false
	e.Walk(func(n *Expr) {
		found = found || n.Op == OpAllowedTo || n.Op == OpExists || n.L.Outer != "" || n.R.Outer != ""
	})
	return found
}

// UsesSession reports whether any operand of e reads the session.
func (e *Expr) UsesSession() bool {
	found := false
	e.Walk(func(n *Expr) { found = found || n.L.Session != "" || n.R.Session != "" })
	return found
}

// String renders e compactly for error messages and logs.
func (e *Expr) String() string {
	if e == nil {
		return "true"
	}
	switch e.Op {
	case OpTrue, OpFalse:
		return string(e.Op)
	case OpAnd, OpOr:
		parts := make([]string, len(e.Args))
		for i, a := range e.Args {
			parts[i] = a.String()
		}
		return "(" + strings.Join(parts, " "+string(e.Op)+" ") + ")"
	case OpNot:
		return "not " + e.Args[0].String()
	case OpIsNull:
		return e.L.String() + " isNull"
	case OpAllowedTo:
		return "allowedTo." + e.Action + "(" + e.Via + ")"
	case OpExists:
		return "exists " + e.Table + " where " + e.Args[0].String()
	default:
		return e.L.String() + " " + string(e.Op) + " " + e.R.String()
	}
}

func (o Operand) String() string {
	switch {
	case o.Col != "":
		return o.Col
	case o.Session != "":
		return "session." + o.Session
	case o.Outer != "":
		return "outer." + o.Outer
	default:
		return fmt.Sprintf("%#v", o.Value)
	}
}
