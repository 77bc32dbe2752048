// Package query describes a read: a table, a condition, an order and a window.
// Queries arrive from JavaScript and over the network as JSON, so the decoder
// is strict and bounded.
//
// JSON form:
//
//	{"table": "todos", "where": <condition>, "orderBy": [{"col": "title", "desc": true}],
//	 "limit": 20, "offset": 0, "select": ["title"], "requireIncludes": true,
//	 "include": {"project": {"table": "projects"},
//	             "todosViaOwner": {"table": "todos", "where": ..., "limit": 5}}}
//
// An include names a relation of the table (schema.Relation) and holds the
// query of the related table: its where, orderBy, limit and offset filter
// and shape a reverse relation's list; a forward relation takes only
// select, include and requireIncludes.
package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// MaxSize bounds an encoded query.
const MaxSize = 64 << 10

// MaxLimit bounds limit and offset, keeping arithmetic on them safe.
const MaxLimit = 1 << 30

// ErrInvalid wraps every reason a query is refused.
var ErrInvalid = errors.New("query: invalid query")

// Order is one sort key.
type Order struct {
	Col  string `json:"col"`
	Desc bool   `json:"desc,omitempty"`
}

// Query is a read of one table. A zero Limit means no limit.
type Query struct {
	Table   string     `json:"table"`
	Where   *expr.Expr `json:"where,omitempty"`
	OrderBy []Order    `json:"orderBy,omitempty"`
	Limit   int        `json:"limit,omitempty"`
	Offset  int        `json:"offset,omitempty"`
	// Select narrows each row to id and these columns (and its includes);
	// "*" stands for every declared column. Empty: every column, magic
	// ones included.
	Select []string `json:"select,omitempty"`
	// Include resolves relations, by name, into each row (see Include).
	Include map[string]*Query `json:"include,omitempty"`
	// RequireIncludes drops rows whose included forward relation is null,
	// not only those whose related row cannot be read.
	RequireIncludes bool `json:"requireIncludes,omitempty"`
}

// Magic columns a select may ask for that no row stores: whether the
// reading session may read, update or delete the row (null without a
// session).
const (
	ColCanRead   = "$canRead"
	ColCanEdit   = "$canEdit"
	ColCanDelete = "$canDelete"
)

// Limits on includes, which a query multiplies its work by.
const (
	MaxIncludeDepth = 4  // as the messages of check say
	MaxIncludes     = 16 // in the whole query
)

// Decode parses a query strictly.
func Decode(data []byte) (*Query, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrInvalid, len(data), MaxSize)
	}
	var w struct {
		Table   string            `json:"table"`
		Where   json.RawMessage   `json:"where"`
		OrderBy []Order           `json:"orderBy"`
		Limit   int               `json:"limit"`
		Offset  int               `json:"offset"`
		Select  []string          `json:"select"`
		Include map[string]*Query `json:"include"`
		Require bool              `json:"requireIncludes"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// dec.More is not enough: it reports false before a stray ']' or '}'.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalid)
	}
	q := &Query{Table: w.Table, OrderBy: w.OrderBy, Limit: w.Limit, Offset: w.Offset,
		Select: w.Select, Include: w.Include, RequireIncludes: w.Require}
	if len(q.Include) == 0 {
		q.Include = nil
	}
	if len(w.Where) > 0 && string(w.Where) != "null" {
		e, err := expr.Decode(w.Where)
		if err != nil {
			return nil, fmt.Errorf("%w: where: %v", ErrInvalid, err)
		}
		q.Where = e
	}
	if err := q.basicCheck(); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *Query) basicCheck() error {
	if q.Table == "" {
		return fmt.Errorf("%w: missing table", ErrInvalid)
	}
	if q.Limit < 0 || q.Offset < 0 || q.Limit > MaxLimit || q.Offset > MaxLimit {
		return fmt.Errorf("%w: limit and offset must be between 0 and %d", ErrInvalid, MaxLimit)
	}
	if len(q.OrderBy) > 8 {
		return fmt.Errorf("%w: at most 8 orderBy keys", ErrInvalid)
	}
	if q.Where.Relational() {
		return fmt.Errorf("%w: where: allowedTo, exists and outer are for permission policies, not queries", ErrInvalid)
	}
	return nil
}

// Check verifies q against the schema: the table exists, every column it
// reads or orders by exists, and it does not read the session (queries are
// the caller's own filter; only policies speak of the session).
func (q *Query) Check(s *schema.Schema) (*schema.Table, error) {
	n := 0
	return q.check(s, nil, 0, &n)
}

// check is Check of q, included through rel at depth (nil, 0 at the top);
// n counts the includes seen so far.
func (q *Query) check(s *schema.Schema, rel *schema.Relation, depth int, n *int) (*schema.Table, error) {
	if q == nil {
		return nil, invalid("include " + rel.Name + `: null; pass {"table": "` + rel.To + `"} to include it`)
	}
	if err := q.basicCheck(); err != nil {
		return nil, err
	}
	t, err := s.Table(q.Table)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	for _, c := range q.Where.Columns() {
		if _, ok := t.Column(c); !ok {
			return nil, fmt.Errorf("%w: where: %q has no column %q", ErrInvalid, t.Name, c)
		}
	}
	if q.Where.UsesSession() {
		return nil, fmt.Errorf("%w: where: a query cannot read the session; pass the value instead", ErrInvalid)
	}
	for _, o := range q.OrderBy {
		if _, ok := t.Column(o.Col); !ok {
			return nil, fmt.Errorf("%w: orderBy: %q has no column %q", ErrInvalid, t.Name, o.Col)
		}
	}
	if rel != nil && !rel.Reverse && (q.Where != nil || len(q.OrderBy) > 0 || q.Limit > 0 || q.Offset > 0) {
		return nil, invalid("include " + rel.Name + ": a forward relation leads to one row; only select, include and requireIncludes apply to it")
	}
	for _, c := range q.Select {
		if _, ok := t.Column(c); !ok && c != "*" && c != ColCanRead && c != ColCanEdit && c != ColCanDelete {
			return nil, invalid("select: " + t.Name + " has no column " + c)
		}
	}
	if len(q.Include) > 0 && depth >= MaxIncludeDepth {
		return nil, invalid("includes nest at most 4 levels deep")
	}
	for name, sub := range q.Include {
		r, ok := s.Relation(t.Name, name)
		switch *n++; {
		case *n > MaxIncludes:
			return nil, invalid("at most 16 includes in a query")
		case !ok:
			return nil, invalid("include: " + t.Name + " has no relation " + name + " (a ref column projectId gives the relation project, and its table the relation " + t.Name + "ViaProject)")
		case sub != nil && sub.Table != r.To:
			return nil, invalid("include " + name + " reads " + r.To + ", not " + sub.Table)
		}
		if _, err := sub.check(s, r, depth+1, n); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// invalid is an ErrInvalid saying why. Messages are concatenated rather
// than formatted: each formatted argument costs code in the browser's
// download.
func invalid(why string) error { return &invalidError{why} }

type invalidError struct{ why string }

func (e *invalidError) Error() string { return ErrInvalid.Error() + ": " + e.why }
func (e *invalidError) Unwrap() error { return ErrInvalid }

// HasIncludes reports whether q resolves any relation.
func (q *Query) HasIncludes() bool { return len(q.Include) > 0 }

// Shaped reports whether rows of q differ from stored rows: it selects
// columns or includes relations.
func (q *Query) Shaped() bool { return len(q.Select) > 0 || len(q.Include) > 0 }

// EqualityTerms returns the column = literal comparisons that every matching
// row must satisfy (top level, or inside a top-level and). The engine uses
// them to pick an index.
func (q *Query) EqualityTerms() map[string]any {
	out := map[string]any{}
	var visit func(e *expr.Expr)
	visit = func(e *expr.Expr) {
		if e == nil {
			return
		}
		switch e.Op {
		case expr.OpAnd:
			for _, a := range e.Args {
				visit(a)
			}
		case expr.OpEq:
			switch {
			case e.L.Col != "" && e.R.IsValue:
				out[e.L.Col] = e.R.Value
			case e.R.Col != "" && e.L.IsValue:
				out[e.R.Col] = e.L.Value
			}
		}
	}
	visit(q.Where)
	return out
}

// Key returns a canonical string for q, equal for equal queries; used to
// share one live result between identical subscriptions.
func (q *Query) Key() string {
	b, _ := json.Marshal(q)
	return string(b)
}

// UnmarshalJSON decodes strictly (see Decode), so a query embedded in a
// larger message gets the same checks as one decoded alone.
func (q *Query) UnmarshalJSON(data []byte) error {
	d, err := Decode(data)
	if err != nil {
		return err
	}
	*q = *d
	return nil
}
