package bundle_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/session"
)

func validBundle(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/todo-app.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit decodes the valid bundle into generic JSON, lets fn change it and
// encodes it again, so each refusal case states only what it breaks.
func edit(t *testing.T, fn func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(validBundle(t), &doc); err != nil {
		t.Fatal(err)
	}
	fn(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func policies(doc map[string]any) map[string]any { return doc["policies"].(map[string]any) }

func todosPolicy(doc map[string]any) map[string]any {
	return policies(doc)["todos"].(map[string]any)
}

func cond(t *testing.T, src string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(src), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDecode_ValidBundle(t *testing.T) {
	b, err := bundle.Decode(validBundle(t))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if b.Version != bundle.Version {
		t.Errorf("Version = %d", b.Version)
	}
	if got := strings.Join(b.Schema.TableNames(), ","); got != "audit,lists,todos" {
		t.Errorf("tables = %s", got)
	}
	todos, err := b.Schema.Table("todos")
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := todos.Column("list"); !ok || c.Type != schema.Ref || c.Ref != "lists" {
		t.Errorf("todos.list = %+v, %v", c, ok)
	}
	if c, _ := todos.Column("body"); !c.NoIndex || !c.Optional {
		t.Errorf("todos.body = %+v, want optional noIndex", c)
	}

	tp := b.Policies["todos"]
	if tp == nil || tp.Read == nil || tp.Insert == nil || tp.UpdateOld == nil || tp.UpdateNew == nil || tp.Delete == nil {
		t.Fatalf("todos policy = %+v, want all five conditions", tp)
	}
	alice := &session.Session{UserID: "alice", AuthMode: session.LocalFirst}
	if !tp.Read.Eval(expr.MapRow{"owner_id": "alice"}, alice) || tp.Read.Eval(expr.MapRow{"owner_id": "bob"}, alice) {
		t.Errorf("todos read policy %s does not behave", tp.Read)
	}
	lp := b.Policies["lists"]
	if lp.UpdateOld != nil || lp.UpdateNew != nil {
		t.Errorf("lists has no update policy, got %+v", lp)
	}
	ap := b.Policies["audit"]
	if ap == nil || ap.Read.Op != expr.OpTrue || ap.Insert.Op != expr.OpFalse || ap.UpdateOld != nil || ap.Delete != nil {
		t.Errorf("audit policy = %+v", ap)
	}
	if len(b.Policies) != 3 {
		t.Errorf("policies for %d tables, want 3", len(b.Policies))
	}
}

func TestEncode_RoundTripsToIdenticalBytes(t *testing.T) {
	b, err := bundle.Decode(validBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	first, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := bundle.Decode(first)
	if err != nil {
		t.Fatalf("Decode(Encode()): %v\n%s", err, first)
	}
	second, err := again.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("encoding is not canonical:\n%s\n%s", first, second)
	}
	// Explicit null conditions are dropped; fields keep the documented order.
	if !strings.Contains(string(first), `"audit":{"read":true,"insert":false}`) {
		t.Errorf("audit policy not encoded canonically: %s", first)
	}
	if !strings.Contains(string(first), `"version":1,"schema":{"tables":[{"name":"lists"`) {
		t.Errorf("unexpected head: %.80s", first)
	}
}

func TestDecode_MinimalBundles(t *testing.T) {
	for _, src := range []string{
		`{"version":1,"schema":{"tables":[]}}`,
		`{"version":1,"schema":{"tables":null},"policies":null}`,
		`{"version":1,"schema":{},"policies":{}}`,
		`{"version":1,"schema":{"tables":[{"name":"a","columns":[]}]},"policies":{"a":{}}}`,
		`{"version":1,"schema":{"tables":[{"name":"a","columns":[]}]},"policies":{"a":null}}`,
	} {
		b, err := bundle.Decode([]byte(src))
		if err != nil {
			t.Errorf("Decode(%s): %v", src, err)
			continue
		}
		if b.Policies == nil {
			t.Errorf("Decode(%s): nil Policies", src)
		}
		out, err := b.Encode()
		if err != nil {
			t.Errorf("Encode: %v", err)
			continue
		}
		if _, err := bundle.Decode(out); err != nil {
			t.Errorf("Decode(Encode(%s)) = %v (%s)", src, err, out)
		}
	}
}

func TestDecode_IsStrict(t *testing.T) {
	cases := []struct {
		name string
		doc  func(t *testing.T) []byte
	}{
		{"empty document", raw(``)},
		{"null document", raw(`null`)},
		{"array document", raw(`[]`)},
		{"string document", raw(`"bundle"`)},
		{"number document", raw(`1`)},
		{"not JSON", raw(`version: 1`)},
		{"trailing document", func(t *testing.T) []byte { return append(validBundle(t), `{}`...) }},
		{"trailing closing brace", func(t *testing.T) []byte { return append(validBundle(t), '}') }},
		{"oversized", func(t *testing.T) []byte {
			return append(validBundle(t), bytes.Repeat([]byte(" "), bundle.MaxSize)...)
		}},
		{"unknown top-level field", mod(func(t *testing.T, d map[string]any) { d["name"] = "todo-app" })},
		{"version missing", mod(func(t *testing.T, d map[string]any) { delete(d, "version") })},
		{"version null", mod(func(t *testing.T, d map[string]any) { d["version"] = nil })},
		{"version 0", mod(func(t *testing.T, d map[string]any) { d["version"] = 0 })},
		{"version 2", mod(func(t *testing.T, d map[string]any) { d["version"] = 2 })},
		{"version as string", mod(func(t *testing.T, d map[string]any) { d["version"] = "1" })},
		{"version fractional", mod(func(t *testing.T, d map[string]any) { d["version"] = 1.5 })},
		{"schema missing", mod(func(t *testing.T, d map[string]any) { delete(d, "schema") })},
		{"schema null", mod(func(t *testing.T, d map[string]any) { d["schema"] = nil })},
		{"schema an array", mod(func(t *testing.T, d map[string]any) { d["schema"] = []any{} })},
		{"unknown schema field", mod(func(t *testing.T, d map[string]any) { d["schema"].(map[string]any)["views"] = []any{} })},
		{"unknown table field", mod(func(t *testing.T, d map[string]any) {
			tableAt(d, 0)["indexes"] = []any{}
		})},
		{"unknown column field", mod(func(t *testing.T, d map[string]any) {
			tableAt(d, 0)["columns"].([]any)[0].(map[string]any)["collation"] = ""
		})},
		{"invalid schema: bad column type", mod(func(t *testing.T, d map[string]any) {
			tableAt(d, 0)["columns"].([]any)[0].(map[string]any)["type"] = "text"
		})},
		{"invalid schema: ref to unknown table", mod(func(t *testing.T, d map[string]any) {
			tableAt(d, 1)["columns"].([]any)[8].(map[string]any)["ref"] = "boards"
		})},
		{"invalid schema: null table", mod(func(t *testing.T, d map[string]any) {
			d["schema"].(map[string]any)["tables"] = []any{nil}
		})},
		{"policies an array", mod(func(t *testing.T, d map[string]any) { d["policies"] = []any{} })},
		{"policies for unknown table", mod(func(t *testing.T, d map[string]any) {
			policies(d)["notes"] = map[string]any{"read": true}
		})},
		{"policy not an object", mod(func(t *testing.T, d map[string]any) { policies(d)["audit"] = true })},
		{"unknown policy field", mod(func(t *testing.T, d map[string]any) { todosPolicy(d)["update"] = true })},
		{"policy condition malformed", mod(func(t *testing.T, d map[string]any) {
			todosPolicy(d)["read"] = cond(t, `{"eq":[{"col":"owner_id"}]}`)
		})},
		{"policy condition a string", mod(func(t *testing.T, d map[string]any) { todosPolicy(d)["read"] = "true" })},
		{"policy reading unknown column", mod(func(t *testing.T, d map[string]any) {
			todosPolicy(d)["read"] = cond(t, `{"eq":[{"col":"owner"},{"session":"user_id"}]}`)
		})},
		{"policy reading another table's column", mod(func(t *testing.T, d map[string]any) {
			todosPolicy(d)["delete"] = cond(t, `{"isNull":{"col":"name"}}`)
		})},
		{"policy reading unknown column deep inside", mod(func(t *testing.T, d map[string]any) {
			todosPolicy(d)["updateNew"] = cond(t, `{"and":[true,{"or":[false,{"not":{"gt":[{"value":1},{"col":"priority"}]}}]}]}`)
		})},
		{"session path password", sessionPath("password")},
		{"session path userId", sessionPath("userId")},
		{"session path claims", sessionPath("claims")},
		{"session path claims.", sessionPath("claims.")},
		{"session path claims..x", sessionPath("claims..x")},
		{"session path claims.x.", sessionPath("claims.x.")},
		{"session path claims.a..b", sessionPath("claims.a..b")},
		{"session path user_id.x", sessionPath("user_id.x")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := bundle.Decode(tc.doc(t))
			if err == nil {
				t.Fatalf("Decode accepted the bundle: %+v", b)
			}
			if !errors.Is(err, bundle.ErrInvalid) {
				t.Errorf("err = %v, want errors.Is ErrInvalid", err)
			}
			if b != nil {
				t.Errorf("Decode returned a bundle with its error")
			}
		})
	}
}

func raw(s string) func(*testing.T) []byte { return func(*testing.T) []byte { return []byte(s) } }

func mod(fn func(*testing.T, map[string]any)) func(*testing.T) []byte {
	return func(t *testing.T) []byte { return edit(t, func(d map[string]any) { fn(t, d) }) }
}

func tableAt(d map[string]any, i int) map[string]any {
	return d["schema"].(map[string]any)["tables"].([]any)[i].(map[string]any)
}

func sessionPath(p string) func(*testing.T) []byte {
	return mod(func(t *testing.T, d map[string]any) {
		todosPolicy(d)["read"] = map[string]any{"eq": []any{map[string]any{"col": "owner_id"}, map[string]any{"session": p}}}
	})
}

func TestDecode_AcceptsEverySessionPathPoliciesCanUse(t *testing.T) {
	for _, p := range []string{"user_id", "authMode", "claims.sub", "claims.org.id", "claims.a.b.c", "claims.roles"} {
		if _, err := bundle.Decode(sessionPath(p)(t)); err != nil {
			t.Errorf("session path %q: %v", p, err)
		}
	}
}

func TestDecode_SizeLimit(t *testing.T) {
	doc := validBundle(t)
	exact := append(doc[:len(doc):len(doc)], bytes.Repeat([]byte(" "), bundle.MaxSize-len(doc))...)
	if _, err := bundle.Decode(exact); err != nil {
		t.Errorf("a bundle of exactly MaxSize bytes: %v", err)
	}
	_, err := bundle.Decode(append(exact, ' '))
	if !errors.Is(err, bundle.ErrInvalid) {
		t.Errorf("MaxSize+1 bytes: err = %v, want ErrInvalid", err)
	}
}

func TestCheckRefs(t *testing.T) {
	b, err := bundle.Decode(validBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	todos, _ := b.Schema.Table("todos")
	cases := []struct {
		e  *expr.Expr
		ok bool
	}{
		{nil, true},
		{expr.True(), true},
		{expr.Eq("title", "x"), true},
		{expr.Eq("$updatedAt", int64(1)), true},
		{expr.Eq("id", "x"), true},
		{expr.Eq("name", "x"), false},
		{expr.IsNull(expr.Sess("claims.x")), true},
		{expr.IsNull(expr.Sess("claims")), false},
		{expr.Not(expr.Cmp(expr.OpEq, expr.Val(1), expr.Sess("email"))), false},
	}
	for _, tc := range cases {
		if err := bundle.CheckRefs(b.Schema, todos, tc.e); (err == nil) != tc.ok {
			t.Errorf("CheckRefs(%s) = %v, want ok=%v", tc.e, err, tc.ok)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(validBundle(f))
	f.Add([]byte(`{"version":1,"schema":{"tables":[{"name":"a","columns":[{"name":"x","type":"int"}]}]},"policies":{"a":{"read":{"gt":[{"col":"x"},{"value":1}]}}}}`))
	f.Add([]byte(`{"version":1,"schema":{"tables":[]}}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := bundle.Decode(data)
		if err != nil {
			if !errors.Is(err, bundle.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		first, err := b.Encode()
		if err != nil {
			t.Fatalf("accepted bundle does not encode: %v", err)
		}
		again, err := bundle.Decode(first)
		if err != nil {
			t.Fatalf("re-encoded bundle is refused: %v\n%s", err, first)
		}
		second, err := again.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("encoding not stable:\n%s\n%s", first, second)
		}
	})
}
