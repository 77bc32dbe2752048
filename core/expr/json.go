package expr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/jazzgo/jazz-tools/core/limits"
)

// Error catalogue.
var (
	// ErrSyntax wraps every decoding failure.
	ErrSyntax = errors.New("expr: invalid condition")
	// ErrTooComplex is returned when a condition exceeds
	// limits.MaxConditionDepth or limits.MaxConditionNodes.
	ErrTooComplex = errors.New("expr: condition too complex")
)

// Decode parses the JSON form of a condition strictly.
func Decode(data []byte) (*Expr, error) {
	var raw any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	// dec.More is not enough: it reports false before a stray ']' or '}'.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", ErrSyntax)
	}
	return FromJSON(raw)
}

// FromJSON converts an already decoded JSON value (as produced by
// encoding/json with UseNumber) into a condition.
func FromJSON(raw any) (*Expr, error) {
	nodes := 0
	return fromJSON(raw, 0, &nodes)
}

func fromJSON(raw any, depth int, nodes *int) (*Expr, error) {
	*nodes++
	if depth > limits.MaxConditionDepth || *nodes > limits.MaxConditionNodes {
		return nil, ErrTooComplex
	}
	switch v := raw.(type) {
	case bool:
		if v {
			return True(), nil
		}
		return False(), nil
	case map[string]any:
		if len(v) != 1 {
			return nil, fmt.Errorf("%w: a condition object has exactly one key, got %d (%s)", ErrSyntax, len(v), keys(v))
		}
		for k, body := range v {
			return node(Op(k), body, depth, nodes)
		}
	}
	return nil, fmt.Errorf("%w: expected true, false or an object, got %s", ErrSyntax, kind(raw))
}

func node(op Op, body any, depth int, nodes *int) (*Expr, error) {
	switch {
	case op == OpAnd || op == OpOr:
		list, ok := body.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: %q takes an array of conditions", ErrSyntax, op)
		}
		e := &Expr{Op: op, Args: make([]*Expr, 0, len(list))}
		for _, item := range list {
			c, err := fromJSON(item, depth+1, nodes)
			if err != nil {
				return nil, err
			}
			e.Args = append(e.Args, c)
		}
		return e, nil
	case op == OpNot:
		c, err := fromJSON(body, depth+1, nodes)
		if err != nil {
			return nil, err
		}
		return Not(c), nil
	case op == OpIsNull:
		a, err := operand(body)
		if err != nil {
			return nil, err
		}
		return IsNull(a), nil
	case op == OpAllowedTo:
		return allowedToFromJSON(body)
	case op == OpExists:
		return existsFromJSON(body, depth, nodes)
	case binaryOps[op]:
		pair, ok := body.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("%w: %q takes an array of two operands", ErrSyntax, op)
		}
		l, err := operand(pair[0])
		if err != nil {
			return nil, err
		}
		r, err := operand(pair[1])
		if err != nil {
			return nil, err
		}
		return Cmp(op, l, r), nil
	}
	return nil, fmt.Errorf("%w: unknown operator %q", ErrSyntax, string(op))
}

func operand(raw any) (Operand, error) {
	m, ok := raw.(map[string]any)
	if !ok || len(m) != 1 {
		return Operand{}, fmt.Errorf("%w: an operand is {\"col\":...}, {\"session\":...}, {\"outer\":...} or {\"value\":...}", ErrSyntax)
	}
	for k, v := range m {
		switch k {
		case "value":
			return Val(v), nil
		case "col", "session", "outer":
			s, ok := v.(string)
			if !ok || s == "" {
				return Operand{}, fmt.Errorf("%w: %q takes a non-empty string", ErrSyntax, k)
			}
			switch k {
			case "col":
				return Col(s), nil
			case "outer":
				return Operand{Outer: s}, nil
			}
			return Sess(s), nil
		default:
			return Operand{}, fmt.Errorf("%w: unknown operand kind %q", ErrSyntax, k)
		}
	}
	panic("unreachable")
}

// ToJSON returns the JSON-shaped value of e (the inverse of FromJSON).
func (e *Expr) ToJSON() any {
	if e == nil {
		return true
	}
	switch e.Op {
	case OpTrue:
		return true
	case OpFalse:
		return false
	case OpAnd, OpOr:
		args := make([]any, len(e.Args))
		for i, a := range e.Args {
			args[i] = a.ToJSON()
		}
		return map[string]any{string(e.Op): args}
	case OpNot:
		return map[string]any{"not": e.Args[0].ToJSON()}
	case OpIsNull:
		return map[string]any{"isNull": e.L.toJSON()}
	case OpAllowedTo:
		return map[string]any{"allowedTo": allowedToJSON{e.MaxDepth, e.Action, e.Via}}
	case OpExists:
		return map[string]any{"exists": existsJSON{e.Table, e.Args[0].ToJSON()}}
	}
	return map[string]any{string(e.Op): []any{e.L.toJSON(), e.R.toJSON()}}
}

// allowedToJSON and existsJSON list their fields in key order, as
// encoding/json writes a map's: conditions encode canonically.
type allowedToJSON struct {
	MaxDepth int    `json:"maxDepth,omitempty"`
	Op       string `json:"op"`
	Via      string `json:"via"`
}

type existsJSON struct {
	Table string `json:"table"`
	Where any    `json:"where"`
}

func (o Operand) toJSON() any {
	switch {
	case o.Col != "":
		return map[string]any{"col": o.Col}
	case o.Session != "":
		return map[string]any{"session": o.Session}
	case o.Outer != "":
		return map[string]any{"outer": o.Outer}
	}
	return map[string]any{"value": o.Value}
}

// MarshalJSON encodes e in its JSON form.
func (e *Expr) MarshalJSON() ([]byte, error) { return json.Marshal(e.ToJSON()) }

// UnmarshalJSON decodes the JSON form strictly.
func (e *Expr) UnmarshalJSON(data []byte) error {
	d, err := Decode(data)
	if err != nil {
		return err
	}
	*e = *d
	return nil
}

func keys(m map[string]any) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return fmt.Sprint(ks)
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
