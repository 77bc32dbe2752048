// Package policy holds an app's row-level permission policies and decides
// whether a session may read, insert, update or delete a row.
//
// An operation with no policy is denied: permissions fail closed. Anonymous
// writes are refused before any policy is looked at (see CheckWrite).
package policy

import (
	"fmt"

	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/session"
)

// Operation names what a caller wants to do to a row.
type Operation string

const (
	Read   Operation = "read"
	Insert Operation = "insert"
	Update Operation = "update"
	Delete Operation = "delete"
)

// Table is the policy set of one table. A nil condition denies.
type Table struct {
	Read   *expr.Expr `json:"read,omitempty"`
	Insert *expr.Expr `json:"insert,omitempty"`
	// Update is checked against the row before (UpdateOld, "whereOld") and
	// after the change (UpdateNew, "whereNew"); both must hold.
	UpdateOld *expr.Expr `json:"updateOld,omitempty"`
	UpdateNew *expr.Expr `json:"updateNew,omitempty"`
	Delete    *expr.Expr `json:"delete,omitempty"`
}

// Set maps table names to their policies.
type Set map[string]*Table

// AnonymousWriteDeniedError is returned for every write by an anonymous
// session, before schema validation or policies run.
type AnonymousWriteDeniedError struct {
	Table     string
	Operation Operation
}

func (e *AnonymousWriteDeniedError) Error() string {
	return fmt.Sprintf("policy: anonymous sessions cannot %s rows of %q; sign in with a secret or a JWT to write", e.Operation, e.Table)
}

// DeniedError is a write or read refused by the table's policy.
type DeniedError struct {
	Table     string
	Operation Operation
	// Reason is "no policy" when the table has none for the operation.
	Reason string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("policy: %s on %q denied: %s", e.Operation, e.Table, e.Reason)
}

// CheckAnonymous refuses any write by an anonymous session. It is its own
// function so every write path can call it first, before anything else.
func CheckAnonymous(sess *session.Session, table string, op Operation) error {
	if sess.IsAnonymous() {
		return &AnonymousWriteDeniedError{Table: table, Operation: op}
	}
	return nil
}

// CanRead reports whether sess may see row in table; w is the data the
// relational forms (allowedTo, exists) consult (nil: they deny).
func (s Set) CanRead(sess *session.Session, table string, row expr.Row, w World) bool {
	return s.Checker(sess, w).CanRead(table, row)
}

// CheckWrite decides a write. old is nil for inserts, new is nil for deletes.
// The anonymous check runs first, whatever the policies say.
func (s Set) CheckWrite(sess *session.Session, table string, op Operation, old, new expr.Row, w World) error {
	return s.Checker(sess, w).CheckWrite(table, op, old, new)
}

// CanRead is Set.CanRead within c's evaluation.
func (c *Checker) CanRead(table string, row expr.Row) bool {
	t := c.set[table]
	return t != nil && t.Read != nil && c.eval(t.Read, row)
}

// CheckWrite is Set.CheckWrite within c's evaluation.
func (c *Checker) CheckWrite(table string, op Operation, old, new expr.Row) error {
	if err := CheckAnonymous(c.sess, table, op); err != nil {
		return err
	}
	t := c.set[table]
	deny := func(reason string) error { return &DeniedError{Table: table, Operation: op, Reason: reason} }
	if t == nil {
		return deny("no policy")
	}
	switch op {
	case Insert:
		if t.Insert == nil {
			return deny("no policy")
		}
		if !c.eval(t.Insert, new) {
			return deny("the new row does not satisfy " + t.Insert.String())
		}
	case Update:
		if t.UpdateOld == nil && t.UpdateNew == nil {
			return deny("no policy")
		}
		if t.UpdateOld != nil && !c.eval(t.UpdateOld, old) {
			return deny("the current row does not satisfy " + t.UpdateOld.String())
		}
		if t.UpdateNew != nil && !c.eval(t.UpdateNew, new) {
			return deny("the updated row does not satisfy " + t.UpdateNew.String())
		}
	case Delete:
		if t.Delete == nil {
			return deny("no policy")
		}
		if !c.eval(t.Delete, old) {
			return deny("the row does not satisfy " + t.Delete.String())
		}
	default:
		return deny("unknown operation")
	}
	return nil
}
