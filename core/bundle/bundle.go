// Package bundle is the app bundle: an app's schema and permission policies in
// one versioned JSON document. The TypeScript DSL compiles to it, the admin
// publishes it to the server, and both client and server load it with Decode.
//
// Format, version 1 (see docs/bundle.md):
//
//	{
//	  "version": 1,
//	  "schema": {"tables": [{"name": "todos", "columns": [
//	      {"name": "title", "type": "string"},
//	      {"name": "owner_id", "type": "string", "optional": true},
//	      {"name": "list", "type": "ref", "ref": "lists"}]}]},
//	  "policies": {"todos": {"read": <condition>, "insert": ..., "updateOld": ...,
//	      "updateNew": ..., "delete": ...}}
//	}
//
// Conditions use the expr package's JSON form.
package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// Version is the bundle format this build reads and writes.
const Version = 1

// MaxSize bounds an encoded bundle; a larger document is refused unread.
const MaxSize = 1 << 20

// ErrInvalid wraps every reason a bundle is refused.
var ErrInvalid = errors.New("bundle: invalid app bundle")

// Bundle is an app's schema plus policies.
type Bundle struct {
	Version  int            `json:"version"`
	Schema   *schema.Schema `json:"schema"`
	Policies policy.Set     `json:"policies"`
}

type wire struct {
	Version  *int                       `json:"version"`
	Schema   *wireSchema                `json:"schema"`
	Policies map[string]json.RawMessage `json:"policies"`
}

type wireSchema struct {
	Tables []*schema.Table `json:"tables"`
}

type wirePolicy struct {
	Read      json.RawMessage `json:"read"`
	Insert    json.RawMessage `json:"insert"`
	UpdateOld json.RawMessage `json:"updateOld"`
	UpdateNew json.RawMessage `json:"updateNew"`
	Delete    json.RawMessage `json:"delete"`
}

// Decode parses and checks a bundle strictly: unknown fields, wrong types, an
// unsupported version, policies naming unknown tables or columns, and
// documents over MaxSize are all refused with ErrInvalid and a reason.
func Decode(data []byte) (*Bundle, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrInvalid, len(data), MaxSize)
	}
	var w wire
	if err := strictUnmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if w.Version == nil {
		return nil, fmt.Errorf("%w: missing \"version\"", ErrInvalid)
	}
	if *w.Version != Version {
		return nil, fmt.Errorf("%w: version %d is not supported (this build reads version %d)", ErrInvalid, *w.Version, Version)
	}
	if w.Schema == nil {
		return nil, fmt.Errorf("%w: missing \"schema\"", ErrInvalid)
	}
	s := &schema.Schema{Tables: w.Schema.Tables}
	if err := s.Init(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	b := &Bundle{Version: Version, Schema: s, Policies: policy.Set{}}
	for name, raw := range w.Policies {
		t, err := s.Table(name)
		if err != nil {
			return nil, fmt.Errorf("%w: policies for unknown table %q", ErrInvalid, name)
		}
		var wp wirePolicy
		if err := strictUnmarshal(raw, &wp); err != nil {
			return nil, fmt.Errorf("%w: policies.%s: %v", ErrInvalid, name, err)
		}
		tp := &policy.Table{}
		for _, f := range []struct {
			name string
			raw  json.RawMessage
			dst  **expr.Expr
		}{{"read", wp.Read, &tp.Read}, {"insert", wp.Insert, &tp.Insert}, {"updateOld", wp.UpdateOld, &tp.UpdateOld}, {"updateNew", wp.UpdateNew, &tp.UpdateNew}, {"delete", wp.Delete, &tp.Delete}} {
			if len(f.raw) == 0 || string(f.raw) == "null" {
				continue
			}
			e, err := expr.Decode(f.raw)
			if err != nil {
				return nil, fmt.Errorf("%w: policies.%s.%s: %v", ErrInvalid, name, f.name, err)
			}
			if err := CheckRefs(s, t, e); err != nil {
				return nil, fmt.Errorf("%w: policies.%s.%s: %v", ErrInvalid, name, f.name, err)
			}
			*f.dst = e
		}
		b.Policies[name] = tp
	}
	return b, nil
}

// CheckRefs verifies that every column e reads exists in t, every session
// field is one policies can use, every allowedTo follows a ref column of its
// table, and every exists names a table whose columns its condition reads
// (its outer operands reading the enclosing row's). It fills in each
// allowedTo's Target.
func CheckRefs(s *schema.Schema, t *schema.Table, e *expr.Expr) error {
	return checkRefs(s, []*schema.Table{t}, e)
}

// checkRefs is CheckRefs of e judged against scope's last table, the
// tables of the exists around it before.
func checkRefs(s *schema.Schema, scope []*schema.Table, e *expr.Expr) error {
	if e == nil {
		return nil
	}
	cur := scope[len(scope)-1]
	for _, o := range []expr.Operand{e.L, e.R} {
		switch {
		case o.Col != "":
			if _, ok := cur.Column(o.Col); !ok {
				return fmt.Errorf("unknown column %q of %q", o.Col, cur.Name)
			}
		case o.Outer != "":
			if len(scope) < 2 {
				return fmt.Errorf("outer column %q outside exists: there is no outer row", o.Outer)
			}
			if out := scope[len(scope)-2]; !hasColumn(out, o.Outer) {
				return fmt.Errorf("unknown outer column %q of %q", o.Outer, out.Name)
			}
		case o.Session != "":
			if !validSessionPath(o.Session) {
				return fmt.Errorf("unknown session field %q (use user_id, authMode or claims.<name>)", o.Session)
			}
		}
	}
	switch e.Op {
	case expr.OpAllowedTo:
		c, ok := cur.Column(e.Via)
		if !ok || c.Type != schema.Ref {
			var refs []string
			for _, c := range cur.Columns {
				if c.Type == schema.Ref {
					refs = append(refs, c.Name)
				}
			}
			return fmt.Errorf("allowedTo.%s(%q): %q is not a ref column of %q (its ref columns: %v)", e.Action, e.Via, e.Via, cur.Name, refs)
		}
		e.Target = c.Ref
	case expr.OpExists:
		tt, err := s.Table(e.Table)
		if err != nil {
			return fmt.Errorf("exists: unknown table %q", e.Table)
		}
		return checkRefs(s, append(scope[:len(scope):len(scope)], tt), e.Args[0])
	}
	for _, a := range e.Args {
		if err := checkRefs(s, scope, a); err != nil {
			return err
		}
	}
	return nil
}

func hasColumn(t *schema.Table, name string) bool { _, ok := t.Column(name); return ok }

func validSessionPath(p string) bool {
	if p == "user_id" || p == "authMode" {
		return true
	}
	rest, ok := strings.CutPrefix(p, "claims.")
	// Every dot-separated segment must be non-empty ("claims..x" is not).
	return ok && !slices.Contains(strings.Split(rest, "."), "")
}

// Encode writes b in its canonical JSON form.
// HTML escaping is off so a bundle re-encodes to (about) the size it was
// decoded from and stays under MaxSize.
func (b *Bundle) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		Version  int        `json:"version"`
		Schema   wireSchema `json:"schema"`
		Policies policy.Set `json:"policies"`
	}{Version, wireSchema{Tables: b.Schema.Tables}, b.Policies})
	return bytes.TrimRight(buf.Bytes(), "\n"), err
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// dec.More is not enough: it reports false before a stray ']' or '}'.
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the document")
	}
	return nil
}
