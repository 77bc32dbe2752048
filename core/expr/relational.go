package expr

import (
	"fmt"
	"math"
)

// The relational forms let a policy look past the row it judges, as Jazz's
// permissions do: allowedTo inherits access from the row a ref column leads
// to, and exists asks whether another table holds a matching row (a share,
// a membership). Only policies may use them; queries refuse them
// (Relational), since a query's reader is not the one to judge other rows.

// Actions allowedTo may name.
var allowedActions = map[string]bool{"read": true, "insert": true, "update": true, "delete": true}

// DefaultMaxDepth is how many times one relation may be followed in one
// check when allowedTo gives no maxDepth; MaxDepthCap bounds maxDepth. A
// chain that goes deeper is denied, so a cycle of references ends.
const (
	DefaultMaxDepth = 10
	MaxDepthCap     = 64
)

// AllowedTo builds allowedTo.<action>(via) with maxDepth (0: the default).
func AllowedTo(action, via string, maxDepth int) *Expr {
	return &Expr{Op: OpAllowedTo, Action: action, Via: via, MaxDepth: maxDepth}
}

// Exists builds exists(table where cond).
func Exists(table string, cond *Expr) *Expr {
	return &Expr{Op: OpExists, Table: table, Args: []*Expr{cond}}
}

// Outer returns an operand reading column col of the outer row.
func Outer(col string) Operand { return Operand{Outer: col} }

// The relational forms are decoded with one message each for every way
// they can be wrong: they come from the bundle compiler, not from hands.

func allowedToFromJSON(body any) (*Expr, error) {
	m, _ := body.(map[string]any)
	op, _ := m["op"].(string)
	via, _ := m["via"].(string)
	e := AllowedTo(op, via, 0)
	fields := 2
	if d, ok := m["maxDepth"]; ok {
		e.MaxDepth, fields = depth(d), 3
	}
	if len(m) != fields || !allowedActions[op] || via == "" || fields == 3 && e.MaxDepth == 0 {
		return nil, fmt.Errorf(`%w: allowedTo takes {"op": "read", "insert", "update" or "delete", "via": a ref column, "maxDepth"?: 1 to %d}, got %v`, ErrSyntax, MaxDepthCap, body)
	}
	return e, nil
}

func existsFromJSON(body any, depth int, nodes *int) (*Expr, error) {
	m, _ := body.(map[string]any)
	table, _ := m["table"].(string)
	where, ok := m["where"]
	if len(m) != 2 || table == "" || !ok {
		return nil, fmt.Errorf(`%w: exists takes {"table": a table, "where": a condition}`, ErrSyntax)
	}
	cond, err := fromJSON(where, depth+1, nodes)
	if err != nil {
		return nil, err
	}
	return Exists(table, cond), nil
}

// depth is v as a maxDepth, 0 when it is not a whole number from 1 to
// MaxDepthCap.
func depth(v any) int {
	f, ok := Number(v)
	if !ok || f != math.Trunc(f) || f < 1 || f > MaxDepthCap {
		return 0
	}
	return int(f)
}

// KeyTerm finds, among the conditions e (an exists' where) requires of every
// row it matches, an equality between a column and an operand that does not
// read the row (a literal, the session or the outer row): the column and the
// operand, for looking the rows up by an index instead of reading them all.
// "id" is preferred, as a row's id finds it directly.
func (e *Expr) KeyTerm() (col string, val Operand, ok bool) {
	var terms []*Expr
	switch e.Op {
	case OpEq:
		terms = []*Expr{e}
	case OpAnd:
		terms = e.Args
	}
	for _, t := range terms {
		if t.Op != OpEq {
			continue
		}
		c, v := t.L, t.R
		if c.Col == "" {
			c, v = v, c
		}
		if c.Col == "" || v.Col != "" {
			continue
		}
		if !ok || c.Col == "id" {
			col, val, ok = c.Col, v, true
		}
	}
	return col, val, ok
}
