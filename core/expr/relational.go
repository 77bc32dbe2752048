package expr

import (
	"encoding/json"
	"fmt"
	"strconv"
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

func allowedToFromJSON(body any) (*Expr, error) {
	m, ok := body.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: \"allowedTo\" takes an object {\"op\", \"via\", \"maxDepth\"?}", ErrSyntax)
	}
	e := &Expr{Op: OpAllowedTo}
	for k, v := range m {
		switch k {
		case "op":
			s, _ := v.(string)
			if !allowedActions[s] {
				return nil, fmt.Errorf("%w: allowedTo.op must be read, insert, update or delete, got %v", ErrSyntax, v)
			}
			e.Action = s
		case "via":
			s, _ := v.(string)
			if s == "" {
				return nil, fmt.Errorf("%w: allowedTo.via must name a ref column", ErrSyntax)
			}
			e.Via = s
		case "maxDepth":
			n, err := positiveInt(v)
			if err != nil || n > MaxDepthCap {
				return nil, fmt.Errorf("%w: allowedTo.maxDepth must be a whole number from 1 to %d, got %v", ErrSyntax, MaxDepthCap, v)
			}
			e.MaxDepth = n
		default:
			return nil, fmt.Errorf("%w: allowedTo has no field %q", ErrSyntax, k)
		}
	}
	if e.Action == "" || e.Via == "" {
		return nil, fmt.Errorf("%w: allowedTo needs \"op\" and \"via\"", ErrSyntax)
	}
	return e, nil
}

func existsFromJSON(body any, depth int, nodes *int) (*Expr, error) {
	m, ok := body.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: \"exists\" takes an object {\"table\", \"where\"}", ErrSyntax)
	}
	var table string
	var cond *Expr
	for k, v := range m {
		switch k {
		case "table":
			table, _ = v.(string)
			if table == "" {
				return nil, fmt.Errorf("%w: exists.table must name a table", ErrSyntax)
			}
		case "where":
			c, err := fromJSON(v, depth+1, nodes)
			if err != nil {
				return nil, err
			}
			cond = c
		default:
			return nil, fmt.Errorf("%w: exists has no field %q", ErrSyntax, k)
		}
	}
	if table == "" || cond == nil {
		return nil, fmt.Errorf("%w: exists needs \"table\" and \"where\"", ErrSyntax)
	}
	return Exists(table, cond), nil
}

func positiveInt(v any) (int, error) {
	var s string
	switch n := v.(type) {
	case json.Number:
		s = n.String()
	case float64:
		s = strconv.FormatFloat(n, 'f', -1, 64)
	default:
		return 0, fmt.Errorf("not a number")
	}
	i, err := strconv.Atoi(s)
	if err != nil || i <= 0 {
		return 0, fmt.Errorf("not a positive integer")
	}
	return i, nil
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
