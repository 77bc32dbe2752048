package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/session"
)

func mustCond(t *testing.T, src string) *expr.Expr {
	t.Helper()
	e, err := expr.Decode([]byte(src))
	if err != nil {
		t.Fatalf("Decode(%s): %v", src, err)
	}
	return e
}

const ownerIsMe = `{"eq":[{"col":"owner_id"},{"session":"user_id"}]}`

var (
	alice = &session.Session{UserID: "alice", AuthMode: session.LocalFirst}
	bob   = &session.Session{UserID: "bob", AuthMode: session.External, Claims: map[string]any{"roles": []any{"admin"}}}
	anon  = &session.Session{UserID: "anon-1", AuthMode: session.Anonymous}
	// system is the nil session: a backend acting as itself.
	system *session.Session

	alicesRow = expr.MapRow{"owner_id": "alice", "title": "a"}
	bobsRow   = expr.MapRow{"owner_id": "bob", "title": "b"}
)

// ownedTodos allows each operation only on rows the caller owns.
func ownedTodos(t *testing.T) policy.Set {
	return policy.Set{"todos": &policy.Table{
		Read:      mustCond(t, ownerIsMe),
		Insert:    mustCond(t, ownerIsMe),
		UpdateOld: mustCond(t, ownerIsMe),
		UpdateNew: mustCond(t, ownerIsMe),
		Delete:    mustCond(t, ownerIsMe),
	}}
}

func wantAllowed(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("denied: %v", err)
	}
}

func wantDenied(t *testing.T, err error, table string, op policy.Operation, reason string) {
	t.Helper()
	var de *policy.DeniedError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want *policy.DeniedError", err, err)
	}
	if de.Table != table || de.Operation != op {
		t.Errorf("denied %s on %s, want %s on %s", de.Operation, de.Table, op, table)
	}
	if !strings.HasPrefix(de.Reason, reason) {
		t.Errorf("Reason = %q, want prefix %q", de.Reason, reason)
	}
	var ae *policy.AnonymousWriteDeniedError
	if errors.As(err, &ae) {
		t.Errorf("a policy denial is also an AnonymousWriteDeniedError")
	}
}

func wantAnonymousDenied(t *testing.T, err error, table string, op policy.Operation) {
	t.Helper()
	var ae *policy.AnonymousWriteDeniedError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want *policy.AnonymousWriteDeniedError", err, err)
	}
	if ae.Table != table || ae.Operation != op {
		t.Errorf("AnonymousWriteDeniedError{%q, %q}, want {%q, %q}", ae.Table, ae.Operation, table, op)
	}
	var de *policy.DeniedError
	if errors.As(err, &de) {
		t.Errorf("an anonymous refusal is also a DeniedError")
	}
}

func TestCheckWrite_InsertChecksTheNewRow(t *testing.T) {
	s := ownedTodos(t)
	wantAllowed(t, s.CheckWrite(alice, "todos", policy.Insert, nil, alicesRow, nil))
	wantDenied(t, s.CheckWrite(alice, "todos", policy.Insert, nil, bobsRow, nil), "todos", policy.Insert, "the new row does not satisfy")
	// The old row is ignored for inserts.
	wantDenied(t, s.CheckWrite(alice, "todos", policy.Insert, alicesRow, bobsRow, nil), "todos", policy.Insert, "the new row does not satisfy")
}

func TestCheckWrite_UpdateChecksOldAndNewRows(t *testing.T) {
	s := ownedTodos(t)
	cases := []struct {
		name     string
		old, new expr.Row
		reason   string // empty: allowed
	}{
		{"own row stays own", alicesRow, alicesRow, ""},
		{"taking someone else's row", bobsRow, alicesRow, "the current row does not satisfy"},
		{"giving a row away", alicesRow, bobsRow, "the updated row does not satisfy"},
		{"someone else's row", bobsRow, bobsRow, "the current row does not satisfy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CheckWrite(alice, "todos", policy.Update, tc.old, tc.new, nil)
			if tc.reason == "" {
				wantAllowed(t, err)
			} else {
				wantDenied(t, err, "todos", policy.Update, tc.reason)
			}
		})
	}
}

func TestCheckWrite_UpdateWithOnlyOneSideChecksThatSide(t *testing.T) {
	oldOnly := policy.Set{"todos": &policy.Table{UpdateOld: mustCond(t, ownerIsMe)}}
	wantAllowed(t, oldOnly.CheckWrite(alice, "todos", policy.Update, alicesRow, bobsRow, nil))
	wantDenied(t, oldOnly.CheckWrite(alice, "todos", policy.Update, bobsRow, alicesRow, nil), "todos", policy.Update, "the current row does not satisfy")

	newOnly := policy.Set{"todos": &policy.Table{UpdateNew: mustCond(t, ownerIsMe)}}
	wantAllowed(t, newOnly.CheckWrite(alice, "todos", policy.Update, bobsRow, alicesRow, nil))
	wantDenied(t, newOnly.CheckWrite(alice, "todos", policy.Update, alicesRow, bobsRow, nil), "todos", policy.Update, "the updated row does not satisfy")
}

func TestCheckWrite_DeleteChecksTheOldRow(t *testing.T) {
	s := ownedTodos(t)
	wantAllowed(t, s.CheckWrite(alice, "todos", policy.Delete, alicesRow, nil, nil))
	wantDenied(t, s.CheckWrite(alice, "todos", policy.Delete, bobsRow, nil, nil), "todos", policy.Delete, "the row does not satisfy")
	wantDenied(t, s.CheckWrite(alice, "todos", policy.Delete, bobsRow, alicesRow, nil), "todos", policy.Delete, "the row does not satisfy")
}

func TestCheckWrite_ConstantPolicies(t *testing.T) {
	allow := policy.Set{"t": &policy.Table{Insert: expr.True(), UpdateOld: expr.True(), UpdateNew: expr.True(), Delete: expr.True()}}
	deny := policy.Set{"t": &policy.Table{Insert: expr.False(), UpdateOld: expr.False(), UpdateNew: expr.False(), Delete: expr.False()}}
	for _, op := range []policy.Operation{policy.Insert, policy.Update, policy.Delete} {
		t.Run(string(op), func(t *testing.T) {
			wantAllowed(t, allow.CheckWrite(alice, "t", op, bobsRow, bobsRow, nil))
			wantDenied(t, deny.CheckWrite(alice, "t", op, alicesRow, alicesRow, nil), "t", op, "the ")
		})
	}
}

func TestCheckWrite_NoPolicyDeniesEveryOperation(t *testing.T) {
	sets := map[string]policy.Set{
		"nil set":            nil,
		"table missing":      {"other": &policy.Table{Insert: expr.True(), UpdateOld: expr.True(), Delete: expr.True()}},
		"nil table policy":   {"todos": nil},
		"empty table policy": {"todos": &policy.Table{}},
		"only read allowed":  {"todos": &policy.Table{Read: expr.True()}},
	}
	for name, s := range sets {
		for _, op := range []policy.Operation{policy.Insert, policy.Update, policy.Delete} {
			t.Run(name+"/"+string(op), func(t *testing.T) {
				for _, sess := range []*session.Session{alice, bob, system} {
					wantDenied(t, s.CheckWrite(sess, "todos", op, alicesRow, alicesRow, nil), "todos", op, "no policy")
				}
			})
		}
	}
}

func TestCheckWrite_UnknownOperationDenied(t *testing.T) {
	s := policy.Set{"todos": &policy.Table{Read: expr.True(), Insert: expr.True(), UpdateOld: expr.True(), Delete: expr.True()}}
	for _, op := range []policy.Operation{policy.Read, "upsert", ""} {
		wantDenied(t, s.CheckWrite(alice, "todos", op, alicesRow, alicesRow, nil), "todos", op, "unknown operation")
	}
}

func TestCheckWrite_AnonymousIsRefusedBeforeAnyPolicy(t *testing.T) {
	allowAll := policy.Set{"todos": &policy.Table{Read: expr.True(), Insert: expr.True(), UpdateOld: expr.True(), UpdateNew: expr.True(), Delete: expr.True()}}
	anonOnly := policy.Set{"todos": &policy.Table{
		Insert: mustCond(t, `{"eq":[{"session":"authMode"},{"value":"anonymous"}]}`),
		Delete: mustCond(t, `{"eq":[{"session":"authMode"},{"value":"anonymous"}]}`),
	}}
	sets := map[string]policy.Set{
		"policy true":             allowAll,
		"policy naming anonymous": anonOnly,
		"no policy":               {},
		"nil set":                 nil,
	}
	for name, s := range sets {
		for _, op := range []policy.Operation{policy.Insert, policy.Update, policy.Delete, "upsert"} {
			t.Run(name+"/"+string(op), func(t *testing.T) {
				wantAnonymousDenied(t, s.CheckWrite(anon, "todos", op, alicesRow, alicesRow, nil), "todos", op)
			})
		}
	}
	// An anonymous session with no user id is refused just the same.
	wantAnonymousDenied(t, allowAll.CheckWrite(&session.Session{AuthMode: session.Anonymous}, "todos", policy.Insert, nil, alicesRow, nil), "todos", policy.Insert)
}

func TestCheckAnonymous(t *testing.T) {
	wantAnonymousDenied(t, policy.CheckAnonymous(anon, "lists", policy.Delete), "lists", policy.Delete)
	for _, s := range []*session.Session{alice, bob, system, {}} {
		if err := policy.CheckAnonymous(s, "lists", policy.Delete); err != nil {
			t.Errorf("CheckAnonymous(%+v) = %v", s, err)
		}
	}
	msg := (&policy.AnonymousWriteDeniedError{Table: "lists", Operation: policy.Delete}).Error()
	if !strings.Contains(msg, "delete") || !strings.Contains(msg, `"lists"`) {
		t.Errorf("message %q does not name the operation and table", msg)
	}
}

func TestCheckWrite_SystemSessionIsCheckedAgainstPolicies(t *testing.T) {
	s := policy.Set{
		"owned": &policy.Table{Insert: mustCond(t, ownerIsMe), Delete: expr.True()},
		"open":  &policy.Table{Insert: expr.True(), UpdateNew: mustCond(t, `{"isNull":{"session":"user_id"}}`)},
	}
	// A nil session has no user_id, so a policy comparing against it fails closed.
	wantDenied(t, s.CheckWrite(system, "owned", policy.Insert, nil, alicesRow, nil), "owned", policy.Insert, "the new row does not satisfy")
	wantAllowed(t, s.CheckWrite(system, "owned", policy.Delete, alicesRow, nil, nil))
	wantAllowed(t, s.CheckWrite(system, "open", policy.Insert, nil, alicesRow, nil))
	wantAllowed(t, s.CheckWrite(system, "open", policy.Update, alicesRow, alicesRow, nil))
	wantDenied(t, s.CheckWrite(alice, "open", policy.Update, alicesRow, alicesRow, nil), "open", policy.Update, "the updated row does not satisfy")
}

func TestDeniedError_Message(t *testing.T) {
	err := &policy.DeniedError{Table: "todos", Operation: policy.Insert, Reason: "no policy"}
	if got, want := err.Error(), `policy: insert on "todos" denied: no policy`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestCanRead(t *testing.T) {
	s := policy.Set{
		"todos":  &policy.Table{Read: mustCond(t, ownerIsMe)},
		"public": &policy.Table{Read: expr.True()},
		"hidden": &policy.Table{Read: expr.False()},
		"nopol":  &policy.Table{Insert: expr.True()},
		// session.where({authMode: "anonymous"}): only anonymous sessions read.
		"guests": &policy.Table{Read: mustCond(t, `{"eq":[{"session":"authMode"},{"value":"anonymous"}]}`)},
		"signed": &policy.Table{Read: mustCond(t, `{"ne":[{"session":"authMode"},{"value":"anonymous"}]}`)},
	}
	cases := []struct {
		name  string
		sess  *session.Session
		table string
		row   expr.Row
		want  bool
	}{
		{"own row", alice, "todos", alicesRow, true},
		{"other's row", alice, "todos", bobsRow, false},
		{"anonymous reads by policy", &session.Session{UserID: "bob", AuthMode: session.Anonymous}, "todos", bobsRow, true},
		{"system has no user_id", system, "todos", alicesRow, false},
		{"public", alice, "public", bobsRow, true},
		{"public to anonymous", anon, "public", bobsRow, true},
		{"public to system", system, "public", nil, true},
		{"false", alice, "hidden", alicesRow, false},
		{"no read policy", alice, "nopol", alicesRow, false},
		{"unknown table", alice, "notes", alicesRow, false},
		{"authMode anonymous reads", anon, "guests", bobsRow, true},
		{"authMode local-first does not", alice, "guests", bobsRow, false},
		{"authMode external does not", bob, "guests", bobsRow, false},
		{"system is not anonymous", system, "guests", bobsRow, false},
		{"signed-in policy refuses anonymous", anon, "signed", bobsRow, false},
		{"signed-in policy admits external", bob, "signed", bobsRow, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.CanRead(tc.sess, tc.table, tc.row, nil); got != tc.want {
				t.Errorf("CanRead = %v, want %v", got, tc.want)
			}
		})
	}
	var none policy.Set
	if none.CanRead(alice, "todos", alicesRow, nil) {
		t.Error("a nil Set allows reads")
	}
}

func TestCheckWrite_ClaimsArrayMembership(t *testing.T) {
	in := mustCond(t, `{"in":[{"value":"admin"},{"session":"claims.roles"}]}`)
	contains := mustCond(t, `{"contains":[{"session":"claims.roles"},{"value":"admin"}]}`)
	withRoles := func(roles any) *session.Session {
		return &session.Session{UserID: "u", AuthMode: session.External, Claims: map[string]any{"roles": roles}}
	}
	cases := []struct {
		name                 string
		sess                 *session.Session
		wantIn, wantContains bool
	}{
		{"admin among roles", withRoles([]any{"dev", "admin"}), true, true},
		{"roles as []string", withRoles([]string{"admin"}), true, true},
		{"other roles", withRoles([]any{"dev", "superadmin"}), false, false},
		{"empty roles", withRoles([]any{}), false, false},
		{"null roles", withRoles(nil), false, false},
		// A string claim is never a list: neither in nor contains treat it
		// as one, and contains does no substring match on session values,
		// so "superadmin" does not pass for "admin".
		{"roles a string", withRoles("admin"), false, false},
		{"roles a superstring", withRoles("superadmin"), false, false},
		{"no roles claim", &session.Session{UserID: "u", AuthMode: session.External, Claims: map[string]any{}}, false, false},
		{"no claims", &session.Session{UserID: "u", AuthMode: session.LocalFirst}, false, false},
		{"system", nil, false, false},
	}
	for _, c := range []struct {
		name string
		e    *expr.Expr
		want func(i int) bool
	}{
		{"in", in, func(i int) bool { return cases[i].wantIn }},
		{"contains", contains, func(i int) bool { return cases[i].wantContains }},
	} {
		s := policy.Set{"t": &policy.Table{Delete: c.e, Read: c.e}}
		for i, tc := range cases {
			want := c.want(i)
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				err := s.CheckWrite(tc.sess, "t", policy.Delete, alicesRow, nil, nil)
				if want {
					wantAllowed(t, err)
				} else {
					wantDenied(t, err, "t", policy.Delete, "the row does not satisfy")
				}
				if got := s.CanRead(tc.sess, "t", alicesRow, nil); got != want {
					t.Errorf("CanRead = %v, want %v", got, want)
				}
			})
		}
	}
}

func TestCheckWrite_CombinedConditions(t *testing.T) {
	isAdmin := `{"in":[{"value":"admin"},{"session":"claims.roles"}]}`
	open := `{"eq":[{"col":"open"},{"value":true}]}`
	s := policy.Set{
		// allOf: owner and the row is open
		"allOf": &policy.Table{Insert: mustCond(t, `{"and":[`+ownerIsMe+`,`+open+`]}`)},
		// anyOf: owner or admin
		"anyOf": &policy.Table{Insert: mustCond(t, `{"or":[`+ownerIsMe+`,`+isAdmin+`]}`)},
		// not: anyone but the owner
		"not": &policy.Table{Insert: mustCond(t, `{"not":`+ownerIsMe+`}`)},
		// anyOf(allOf(owner, open), admin) and not(locked)
		"nested": &policy.Table{Insert: mustCond(t, `{"and":[{"or":[{"and":[`+ownerIsMe+`,`+open+`]},`+isAdmin+`]},{"not":{"eq":[{"col":"locked"},{"value":true}]}}]}`)},
	}
	admin := &session.Session{UserID: "root", AuthMode: session.External, Claims: map[string]any{"roles": []any{"admin"}}}
	row := func(owner string, open, locked bool) expr.MapRow {
		return expr.MapRow{"owner_id": owner, "open": open, "locked": locked}
	}
	cases := []struct {
		table string
		sess  *session.Session
		row   expr.MapRow
		want  bool
	}{
		{"allOf", alice, row("alice", true, false), true},
		{"allOf", alice, row("alice", false, false), false},
		{"allOf", alice, row("bob", true, false), false},
		{"anyOf", alice, row("alice", false, false), true},
		{"anyOf", admin, row("alice", false, false), true},
		{"anyOf", bob, row("alice", false, false), true}, // bob is an admin too
		{"anyOf", &session.Session{UserID: "carol", AuthMode: session.LocalFirst}, row("alice", false, false), false},
		{"not", alice, row("bob", false, false), true},
		{"not", alice, row("alice", false, false), false},
		{"not", system, row("alice", false, false), true}, // no user_id: eq is false, so not holds
		{"nested", alice, row("alice", true, false), true},
		{"nested", alice, row("alice", true, true), false},
		{"nested", alice, row("alice", false, false), false},
		{"nested", admin, row("alice", false, false), true},
		{"nested", admin, row("alice", false, true), false},
		{"nested", admin, expr.MapRow{"owner_id": "alice"}, true}, // missing locked: eq false, not holds
	}
	for _, tc := range cases {
		err := s.CheckWrite(tc.sess, tc.table, policy.Insert, nil, tc.row, nil)
		if (err == nil) != tc.want {
			t.Errorf("%s by %+v on %v: err = %v, want allowed=%v", tc.table, tc.sess, tc.row, err, tc.want)
		}
		if err != nil {
			wantDenied(t, err, tc.table, policy.Insert, "the new row does not satisfy")
		}
	}
}
