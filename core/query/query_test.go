package query_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
)

func appSchema(t testing.TB) *schema.Schema {
	t.Helper()
	s, err := schema.New(
		&schema.Table{Name: "lists", Columns: []schema.Column{{Name: "name", Type: schema.String}}},
		&schema.Table{Name: "todos", Columns: []schema.Column{
			{Name: "title", Type: schema.String},
			{Name: "done", Type: schema.Boolean},
			{Name: "rank", Type: schema.Int, Optional: true},
			{Name: "list", Type: schema.Ref, Ref: "lists"},
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustDecode(t *testing.T, src string) *query.Query {
	t.Helper()
	q, err := query.Decode([]byte(src))
	if err != nil {
		t.Fatalf("Decode(%s): %v", src, err)
	}
	return q
}

func TestDecode_FullQuery(t *testing.T) {
	q := mustDecode(t, `{"table":"todos","where":{"and":[{"eq":[{"col":"done"},{"value":false}]},{"gt":[{"col":"rank"},{"value":2}]}]},
		"orderBy":[{"col":"rank","desc":true},{"col":"title"}],"limit":20,"offset":40}`)
	want := &query.Query{
		Table: "todos",
		Where: expr.And(
			expr.Eq("done", false),
			expr.Cmp(expr.OpGt, expr.Col("rank"), expr.Val(json.Number("2"))),
		),
		OrderBy: []query.Order{{Col: "rank", Desc: true}, {Col: "title"}},
		Limit:   20,
		Offset:  40,
	}
	if !reflect.DeepEqual(q, want) {
		t.Errorf("Decode = %+v\nwant %+v", q, want)
	}
}

func TestDecode_MinimalQueryHasNoWhereNoOrderNoWindow(t *testing.T) {
	for _, src := range []string{`{"table":"todos"}`, `{"table":"todos","where":null}`, `{"table":"todos","orderBy":[],"limit":0,"offset":0}`} {
		q := mustDecode(t, src)
		if q.Table != "todos" || q.Where != nil || len(q.OrderBy) != 0 || q.Limit != 0 || q.Offset != 0 {
			t.Errorf("Decode(%s) = %+v", src, q)
		}
	}
}

func TestDecode_AcceptsLimitsAtTheBoundary(t *testing.T) {
	q := mustDecode(t, `{"table":"t","limit":1073741824,"offset":1073741824,"orderBy":[{"col":"a"},{"col":"a"},{"col":"a"},{"col":"a"},{"col":"a"},{"col":"a"},{"col":"a"},{"col":"a"}]}`)
	if q.Limit != query.MaxLimit || q.Offset != query.MaxLimit || len(q.OrderBy) != 8 {
		t.Errorf("Decode = %+v", q)
	}
}

func orderBy(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = `{"col":"title"}`
	}
	return `[` + strings.Join(keys, ",") + `]`
}

func TestDecode_IsStrict(t *testing.T) {
	cases := []struct {
		name, src string
	}{
		{"empty", ``},
		{"null", `null`},
		{"array", `[]`},
		{"string", `"todos"`},
		{"missing table", `{}`},
		{"empty table", `{"table":""}`},
		{"table not a string", `{"table":1}`},
		{"unknown field", `{"table":"todos","filter":true}`},
		{"unknown orderBy field", `{"table":"todos","orderBy":[{"col":"title","dir":"desc"}]}`},
		{"orderBy not an array", `{"table":"todos","orderBy":{"col":"title"}}`},
		{"desc not a bool", `{"table":"todos","orderBy":[{"col":"title","desc":"yes"}]}`},
		{"more than 8 orderBy keys", `{"table":"todos","orderBy":` + orderBy(9) + `}`},
		{"negative limit", `{"table":"todos","limit":-1}`},
		{"negative offset", `{"table":"todos","offset":-1}`},
		{"limit over MaxLimit", `{"table":"todos","limit":1073741825}`},
		{"offset over MaxLimit", `{"table":"todos","offset":1073741825}`},
		{"limit overflowing int", `{"table":"todos","limit":99999999999999999999}`},
		{"fractional limit", `{"table":"todos","limit":1.5}`},
		{"limit as string", `{"table":"todos","limit":"10"}`},
		{"bad where", `{"table":"todos","where":{"eq":[{"col":"title"}]}}`},
		{"where not a condition", `{"table":"todos","where":"title = 1"}`},
		{"where too deep", `{"table":"todos","where":` + strings.Repeat(`{"not":`, limits.MaxConditionDepth+1) + `true` + strings.Repeat(`}`, limits.MaxConditionDepth+1) + `}`},
		{"trailing object", `{"table":"todos"}{"table":"lists"}`},
		{"trailing garbage", `{"table":"todos"} x`},
		{"trailing closing brace", `{"table":"todos"}}`},
		{"trailing closing bracket", `{"table":"todos"}]`},
		{"oversize", `{"table":"todos"}` + strings.Repeat(" ", query.MaxSize)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := query.Decode([]byte(tc.src))
			if err == nil {
				t.Fatalf("Decode accepted %.80s as %+v", tc.src, q)
			}
			if !errors.Is(err, query.ErrInvalid) {
				t.Errorf("err = %v, want errors.Is ErrInvalid", err)
			}
		})
	}
}

func TestDecode_SizeLimitIsInclusive(t *testing.T) {
	src := `{"table":"todos"}`
	src += strings.Repeat(" ", query.MaxSize-len(src))
	if _, err := query.Decode([]byte(src)); err != nil {
		t.Errorf("a query of exactly MaxSize bytes: %v", err)
	}
}

func TestCheck_AgainstSchema(t *testing.T) {
	s := appSchema(t)
	cases := []struct {
		name  string
		src   string
		valid bool
	}{
		{"plain table", `{"table":"todos"}`, true},
		{"declared columns", `{"table":"todos","where":{"and":[{"eq":[{"col":"done"},{"value":false}]},{"isNull":{"col":"rank"}}]},"orderBy":[{"col":"title"}]}`, true},
		{"column against column", `{"table":"todos","where":{"ne":[{"col":"title"},{"col":"list"}]}}`, true},
		{"magic columns in where", `{"table":"todos","where":{"or":[{"eq":[{"col":"id"},{"value":"x"}]},{"eq":[{"col":"$createdBy"},{"value":"u1"}]}]}}`, true},
		{"magic columns in orderBy", `{"table":"todos","orderBy":[{"col":"$createdAt","desc":true},{"col":"$updatedAt"},{"col":"$updatedBy"},{"col":"id"}]}`, true},
		{"unknown table", `{"table":"notes"}`, false},
		{"unknown column in where", `{"table":"todos","where":{"eq":[{"col":"owner"},{"value":"x"}]}}`, false},
		{"unknown column deep in where", `{"table":"todos","where":{"and":[true,{"not":{"or":[false,{"isNull":{"col":"nope"}}]}}]}}`, false},
		{"column of another table", `{"table":"todos","where":{"eq":[{"col":"name"},{"value":"x"}]}}`, false},
		{"unknown column in orderBy", `{"table":"todos","orderBy":[{"col":"title"},{"col":"priority"}]}`, false},
		{"empty orderBy column", `{"table":"todos","orderBy":[{"col":""}]}`, false},
		{"session operand", `{"table":"todos","where":{"eq":[{"col":"title"},{"session":"user_id"}]}}`, false},
		{"session operand nested", `{"table":"todos","where":{"not":{"in":[{"value":"admin"},{"session":"claims.roles"}]}}}`, false},
		{"session in isNull", `{"table":"todos","where":{"isNull":{"session":"claims.x"}}}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := mustDecode(t, tc.src)
			tb, err := q.Check(s)
			if tc.valid {
				if err != nil {
					t.Fatalf("Check = %v", err)
				}
				if tb == nil || tb.Name != q.Table {
					t.Errorf("Check returned table %v, want %s", tb, q.Table)
				}
				return
			}
			if !errors.Is(err, query.ErrInvalid) {
				t.Errorf("Check = %v, want errors.Is ErrInvalid", err)
			}
			if tb != nil {
				t.Errorf("Check returned a table with its error")
			}
		})
	}
}

func TestCheck_RepeatsTheBasicChecksForHandBuiltQueries(t *testing.T) {
	s := appSchema(t)
	cases := []struct {
		name string
		q    query.Query
	}{
		{"no table", query.Query{}},
		{"negative limit", query.Query{Table: "todos", Limit: -1}},
		{"limit over MaxLimit", query.Query{Table: "todos", Limit: query.MaxLimit + 1}},
		{"offset over MaxLimit", query.Query{Table: "todos", Offset: query.MaxLimit + 1}},
		{"nine orderBy keys", query.Query{Table: "todos", OrderBy: make([]query.Order, 9)}},
	}
	for _, tc := range cases {
		if _, err := tc.q.Check(s); !errors.Is(err, query.ErrInvalid) {
			t.Errorf("%s: Check = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestEqualityTerms(t *testing.T) {
	cases := []struct {
		name  string
		where string
		want  map[string]any
	}{
		{"no where", ``, map[string]any{}},
		{"top-level eq", `{"eq":[{"col":"done"},{"value":false}]}`, map[string]any{"done": false}},
		{"reversed operands", `{"eq":[{"value":"l1"},{"col":"list"}]}`, map[string]any{"list": "l1"}},
		{"null literal", `{"eq":[{"col":"rank"},{"value":null}]}`, map[string]any{"rank": nil}},
		{"inside and", `{"and":[{"eq":[{"col":"done"},{"value":true}]},{"gt":[{"col":"rank"},{"value":1}]},{"eq":[{"value":"l1"},{"col":"list"}]}]}`,
			map[string]any{"done": true, "list": "l1"}},
		{"inside nested and", `{"and":[{"and":[{"eq":[{"col":"title"},{"value":"a"}]}]}]}`, map[string]any{"title": "a"}},
		{"not inside or", `{"or":[{"eq":[{"col":"done"},{"value":true}]},{"eq":[{"col":"title"},{"value":"a"}]}]}`, map[string]any{}},
		{"not inside not", `{"not":{"eq":[{"col":"done"},{"value":true}]}}`, map[string]any{}},
		{"not inside or inside and", `{"and":[{"eq":[{"col":"list"},{"value":"l1"}]},{"or":[{"eq":[{"col":"done"},{"value":true}]}]}]}`, map[string]any{"list": "l1"}},
		{"not ne", `{"ne":[{"col":"done"},{"value":true}]}`, map[string]any{}},
		{"not column against column", `{"eq":[{"col":"title"},{"col":"list"}]}`, map[string]any{}},
		{"not literal against literal", `{"eq":[{"value":1},{"value":1}]}`, map[string]any{}},
		{"not column against session", `{"eq":[{"col":"title"},{"session":"user_id"}]}`, map[string]any{}},
		{"magic column", `{"eq":[{"col":"id"},{"value":"r1"}]}`, map[string]any{"id": "r1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := `{"table":"todos"}`
			if tc.where != "" {
				src = `{"table":"todos","where":` + tc.where + `}`
			}
			got := mustDecode(t, src).EqualityTerms()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("EqualityTerms() = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestKey_EqualForEqualQueries(t *testing.T) {
	a := mustDecode(t, `{"table":"todos","where":{"eq":[{"col":"done"},{"value":false}]},"orderBy":[{"col":"title"}],"limit":5}`)
	b := mustDecode(t, ` { "limit" : 5, "orderBy":[{"desc":false,"col":"title"}], "where":{"eq":[{"col":"done"},{"value":false}]}, "table":"todos", "offset":0 }`)
	c := &query.Query{Table: "todos", Where: expr.Eq("done", false), OrderBy: []query.Order{{Col: "title"}}, Limit: 5}
	if a.Key() != b.Key() || a.Key() != c.Key() {
		t.Errorf("equal queries have different keys:\n%s\n%s\n%s", a.Key(), b.Key(), c.Key())
	}
	for _, other := range []string{
		`{"table":"todos","where":{"eq":[{"col":"done"},{"value":true}]},"orderBy":[{"col":"title"}],"limit":5}`,
		`{"table":"todos","where":{"eq":[{"col":"done"},{"value":false}]},"orderBy":[{"col":"title","desc":true}],"limit":5}`,
		`{"table":"todos","where":{"eq":[{"col":"done"},{"value":false}]},"orderBy":[{"col":"title"}],"limit":6}`,
		`{"table":"todos","where":{"eq":[{"col":"done"},{"value":false}]},"orderBy":[{"col":"title"}],"limit":5,"offset":1}`,
		`{"table":"lists","where":{"eq":[{"col":"done"},{"value":false}]},"orderBy":[{"col":"title"}],"limit":5}`,
		`{"table":"todos","orderBy":[{"col":"title"}],"limit":5}`,
	} {
		if k := mustDecode(t, other).Key(); k == a.Key() {
			t.Errorf("different query %s has the same key %s", other, k)
		}
	}
}

func TestKey_DecodesBackToTheSameQuery(t *testing.T) {
	q := mustDecode(t, `{"table":"todos","where":{"or":[{"in":[{"col":"title"},{"value":["a","b"]}]},{"isNull":{"col":"rank"}}]},"orderBy":[{"col":"rank","desc":true}],"limit":3,"offset":9}`)
	again := mustDecode(t, q.Key())
	if !reflect.DeepEqual(again, q) {
		t.Errorf("Decode(Key()) = %+v, want %+v", again, q)
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"table":"todos"}`,
		`{"table":"todos","where":{"and":[{"eq":[{"col":"done"},{"value":false}]},{"in":[{"value":"a"},{"col":"tags"}]}]},"orderBy":[{"col":"rank","desc":true}],"limit":20,"offset":40}`,
		`{"table":"t","where":null,"limit":1073741824}`,
		`{"table":"todos"}}`,
		`{"table":"t","orderBy":` + orderBy(9) + `}`,
	} {
		f.Add([]byte(seed))
	}
	s := appSchema(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := query.Decode(data)
		if err != nil {
			if !errors.Is(err, query.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if q.Table == "" || q.Limit < 0 || q.Offset < 0 || q.Limit > query.MaxLimit || q.Offset > query.MaxLimit || len(q.OrderBy) > 8 {
			t.Fatalf("accepted an out-of-bounds query %+v", q)
		}
		key := q.Key()
		again, err := query.Decode([]byte(key))
		if err != nil {
			t.Fatalf("Key %s does not decode: %v", key, err)
		}
		if again.Key() != key {
			t.Fatalf("Key not stable: %s then %s", key, again.Key())
		}
		if _, err := q.Check(s); err != nil && !errors.Is(err, query.ErrInvalid) {
			t.Fatalf("Check error %v is not ErrInvalid", err)
		}
		_ = q.EqualityTerms()
	})
}

func TestUnmarshalJSON_IsAsStrictAsDecode(t *testing.T) {
	var msg struct {
		Query query.Query `json:"query"`
	}
	if err := json.Unmarshal([]byte(`{"query":{"table":"todos","where":{"eq":[{"col":"done"},{"value":false}]},"limit":3}}`), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Query.Table != "todos" || msg.Query.Limit != 3 || msg.Query.Where.String() != "done eq false" {
		t.Errorf("embedded query = %+v", msg.Query)
	}
	for _, bad := range []string{
		`{"query":{"table":"todos","limit":-1}}`,
		`{"query":{"table":"todos","filter":true}}`,
		`{"query":{}}`,
	} {
		err := json.Unmarshal([]byte(bad), &msg)
		if !errors.Is(err, query.ErrInvalid) {
			t.Errorf("Unmarshal(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestCheck_Includes(t *testing.T) {
	s, err := schema.New(
		&schema.Table{Name: "projects", Columns: []schema.Column{{Name: "name", Type: schema.String}}},
		&schema.Table{Name: "todos", Columns: []schema.Column{
			{Name: "title", Type: schema.String},
			{Name: "projectId", Type: schema.Ref, Ref: "projects", Optional: true},
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	ok := []string{
		`{"table":"todos","include":{"project":{"table":"projects","select":["name","$canEdit"]}},"select":["*"],"requireIncludes":true}`,
		`{"table":"projects","include":{"todosViaProject":{"table":"todos","where":{"eq":[{"col":"title"},{"value":"x"}]},"orderBy":[{"col":"title"}],"limit":3,"include":{"project":{"table":"projects"}}}}}`,
	}
	for _, src := range ok {
		if _, err := mustDecode(t, src).Check(s); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
	bad := map[string]string{
		`{"table":"todos","include":{"projects":{"table":"projects"}}}`:          "no relation",
		`{"table":"todos","include":{"project":{"table":"todos"}}}`:              "reads",
		`{"table":"todos","include":{"project":null}}`:                           "null",
		`{"table":"todos","include":{"project":{"table":"projects","limit":1}}}`: "forward relation",
		`{"table":"todos","select":["nope"]}`:                                    "select",
		`{"table":"todos","include":{"project":{"table":"projects","include":{"todosViaProject":{"table":"todos","include":{"project":{"table":"projects","include":{"todosViaProject":{"table":"todos","include":{"project":{"table":"projects"}}}}}}}}}}}`: "deep",
	}
	for src, want := range bad {
		_, err := mustDecode(t, src).Check(s)
		if !errors.Is(err, query.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an ErrInvalid saying %q", src, err, want)
		}
	}
}

func TestDecode_RefusesPolicyOnlyForms(t *testing.T) {
	for _, where := range []string{
		`{"allowedTo":{"op":"read","via":"list"}}`,
		`{"exists":{"table":"todos","where":true}}`,
		`{"not":{"eq":[{"outer":"id"},{"value":"x"}]}}`,
	} {
		_, err := query.Decode([]byte(`{"table":"todos","where":` + where + `}`))
		if !errors.Is(err, query.ErrInvalid) || !strings.Contains(err.Error(), "for permission policies") {
			t.Errorf("where %s: err = %v, want ErrInvalid naming policies", where, err)
		}
	}
}
