package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/schema"
)

// notesWith is notesBundle with its notes columns replaced (the policies
// name title, owner_id and public, which every variant keeps unless it
// drops the table).
func notesWith(cols string) string {
	const old = `{"name":"title","type":"string"},
   {"name":"owner_id","type":"string"},
   {"name":"public","type":"boolean","optional":true}`
	if !strings.Contains(notesBundle, old) {
		panic("notesBundle changed")
	}
	return strings.Replace(notesBundle, old, cols, 1)
}

const (
	colTitle  = `{"name":"title","type":"string"}`
	colOwner  = `{"name":"owner_id","type":"string"}`
	colPublic = `{"name":"public","type":"boolean","optional":true}`
)

// seedNote stores one note as the system, public set.
func seedNote(t *testing.T, f *fixture) engine.Row {
	t.Helper()
	db, err := f.srv.Engine()
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.Insert(context.Background(), engine.Actor{Backend: true}, "notes", map[string]any{"title": "t", "owner_id": "u1", "public": true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// publishBody is the admin route's answer, refusals included.
type publishBody struct {
	OK        bool           `json:"ok"`
	Error     string         `json:"error"`
	Message   string         `json:"message"`
	Forceable bool           `json:"forceable"`
	Breaks    []schema.Break `json:"breaks"`
	Filled    []schema.Fill  `json:"filled"`
	Forced    []schema.Break `json:"forced"`
}

func (f *fixture) putBundle(t *testing.T, js, query string) (int, publishBody) {
	t.Helper()
	status, raw := f.do(t, "PUT", "/apps/"+testApp+"/admin/bundle"+query, map[string]string{HeaderAdminSecret: testAdminSecret}, []byte(js))
	var b publishBody
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("%d %s: %v", status, raw, err)
	}
	return status, b
}

// Each change that would break the stored note or old clients is refused
// with 409 unsafe_schema_change naming the table, the column and the fix,
// and leaves the bundle in force; ?force=true publishes it where forcing
// can work, and never where stored values could not be read back.
func TestPublish_RefusesUnsafeChangesUnlessForced(t *testing.T) {
	cases := []struct {
		name      string
		bundle    string
		code      schema.BreakCode
		column    string
		forceable bool
		mention   string
	}{
		{name: "required column without default", code: schema.RequiredColumnAdded, column: "rank", forceable: true, mention: "default",
			bundle: notesWith(colTitle + `,` + colOwner + `,` + colPublic + `,{"name":"rank","type":"int"}`)},
		{name: "optional column made required", code: schema.ColumnMadeRequired, column: "tag", forceable: true, mention: "null",
			bundle: notesWith(colTitle + `,` + colOwner + `,` + colPublic + `,{"name":"tag","type":"string"}`)},
		{name: "type change the stored values fit", code: schema.ColumnTypeChanged, column: "title", forceable: true, mention: "from string to enum (t, u)",
			bundle: notesWith(`{"name":"title","type":"enum","enum":["t","u"]},` + colOwner + `,` + colPublic)},
		{name: "type change the stored values do not fit", code: schema.ColumnTypeChanged, column: "public", forceable: false, mention: "not string",
			bundle: notesWith(colTitle + `,` + colOwner + `,{"name":"public","type":"string","optional":true}`)},
		{name: "column dropped that holds values", code: schema.ColumnDropped, column: "public", forceable: true, mention: "ignored",
			bundle: strings.Replace(notesWith(colTitle+`,`+colOwner), `{"eq":[{"col":"public"},{"value":true}]}`, `false`, 1)},
		{name: "table dropped that holds rows", code: schema.TableDropped, forceable: true, mention: "2 rows",
			bundle: `{"version":1,"schema":{"tables":[{"name":"other","columns":[]}]},"policies":{}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			seedNote(t, f)
			seedNote(t, f)
			if tc.code == schema.ColumnMadeRequired {
				// Start from a bundle where tag is optional, one note without it.
				if status, b := f.putBundle(t, notesWith(colTitle+`,`+colOwner+`,`+colPublic+`,{"name":"tag","type":"string","optional":true}`), ""); status != 200 {
					t.Fatalf("setup: %d %+v", status, b)
				}
			}
			before := string(f.srv.app.bundle())
			status, b := f.putBundle(t, tc.bundle, "")
			if status != 409 || b.Error != "unsafe_schema_change" || len(b.Breaks) != 1 || b.Forceable != tc.forceable {
				t.Fatalf("unforced: %d %+v", status, b)
			}
			br := b.Breaks[0]
			where := "notes"
			if tc.column != "" {
				where += "." + tc.column
			}
			if br.Code != tc.code || br.Table != "notes" || br.Column != tc.column || br.Fix == "" ||
				!strings.Contains(b.Message, where+": ") || !strings.Contains(b.Message, tc.mention) {
				t.Fatalf("break = %+v\n%s", br, b.Message)
			}
			if string(f.srv.app.bundle()) != before {
				t.Fatal("a refused publish replaced the bundle")
			}
			status, b = f.putBundle(t, tc.bundle, "?force=true")
			if !tc.forceable {
				if status != 409 || b.Error != "unsafe_schema_change" || !strings.Contains(b.Message, "Forcing does not help") {
					t.Fatalf("forced, not forceable: %d %+v", status, b)
				}
				return
			}
			if status != 200 || !b.OK || len(b.Forced) != 1 || b.Forced[0].Code != tc.code {
				t.Fatalf("forced: %d %+v", status, b)
			}
			if !strings.Contains(f.logs.String(), `"msg":"schema change forced"`) {
				t.Fatal("a forced break is not logged")
			}
		})
	}
}

// Safe changes publish without force, and the defaults of new columns are
// written into the existing rows.
func TestPublish_FillsDefaultsIntoExistingRows(t *testing.T) {
	f := newFixture(t)
	a, b := seedNote(t, f), seedNote(t, f)
	status, body := f.putBundle(t, notesWith(colTitle+`,`+colOwner+`,`+colPublic+
		`,{"name":"rank","type":"int","default":7},{"name":"tag","type":"string","optional":true}`), "")
	if status != 200 || len(body.Filled) != 1 || body.Filled[0] != (schema.Fill{Table: "notes", Column: "rank", Rows: 2}) || len(body.Forced) != 0 {
		t.Fatalf("%d %+v", status, body)
	}
	db, _ := f.srv.Engine()
	for _, r := range []engine.Row{a, b} {
		got, err := db.Get(engine.Actor{Backend: true}, "notes", r.ID())
		if err != nil || got["rank"] != int64(7) || got["title"] != "t" {
			t.Fatalf("row after publish = %v, %v", got, err)
		}
	}
}

func TestPublish_RefusesABadForceParameter(t *testing.T) {
	f := newFixture(t)
	status, b := f.putBundle(t, notesBundle, "?force=yes")
	if status != 400 || b.Error != "bad_request" || !strings.Contains(b.Message, "force=true") {
		t.Fatalf("%d %+v", status, b)
	}
}

// The retired columns outlive a restart, and a bundle given at start is
// checked like a publish.
func TestPublish_RetiredColumnsAndStartBundleSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, withDataDir(dir))
	seedNote(t, f)
	dropPublic := strings.Replace(notesWith(colTitle+`,`+colOwner), `{"eq":[{"col":"public"},{"value":true}]}`, `false`, 1)
	if status, b := f.putBundle(t, dropPublic, "?force=true"); status != 200 {
		t.Fatalf("%d %+v", status, b)
	}
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}

	g := newFixture(t, withDataDir(dir), withBundle(""))
	db, err := g.srv.Engine()
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.Insert(context.Background(), engine.Actor{Backend: true}, "notes", map[string]any{"title": "old client", "owner_id": "u1", "public": true})
	if err != nil || r["public"] != nil {
		t.Fatalf("a write of the retired column after a restart: %v, %v", r, err)
	}
	if err := g.srv.Close(); err != nil {
		t.Fatal(err)
	}

	// Starting with a bundle that would break the rows is refused.
	cfg := g.cfg
	withBundle(strings.Replace(dropPublic, colTitle, `{"name":"title","type":"int"}`, 1))(&cfg)
	s, err := New(cfg)
	var ue *schema.UnsafeChangeError
	if err == nil {
		s.Close()
	}
	if !errors.As(err, &ue) || ue.Breaks[0].Column != "title" {
		t.Fatalf("start with an unsafe bundle: %v", err)
	}
}

// A deleted row's last values are not checked by the plan (only live rows
// are), but the engine still reads them: a type change they do not fit is
// refused as an IncompatibleBundleError that says what happened and what
// to do, and the previous bundle stays in force.
func TestPublish_DeletedRowsValuesThatNoLongerFit(t *testing.T) {
	f := newFixture(t)
	r := seedNote(t, f)
	db, _ := f.srv.Engine()
	if err := db.Delete(context.Background(), engine.Actor{Backend: true}, "notes", r.ID()); err != nil {
		t.Fatal(err)
	}
	status, raw := f.do(t, "PUT", "/apps/"+testApp+"/admin/bundle?force=true", map[string]string{HeaderAdminSecret: testAdminSecret},
		[]byte(notesWith(colTitle+`,`+colOwner+`,{"name":"public","type":"string","optional":true}`)))
	var b publishBody
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"notes.public: expected string, got a boolean", "previous one stays in force", "add a new one with the new type"} {
		if status != 409 || b.Error != "incompatible_bundle" || !strings.Contains(b.Message, want) {
			t.Fatalf("message lacks %q: %d %s", want, status, raw)
		}
	}
	if strings.Contains(b.Message, "corrupt") {
		t.Fatalf("the message reads like corruption: %s", b.Message)
	}
	if !strings.Contains(string(f.srv.app.bundle()), `"type":"boolean"`) {
		t.Fatal("the previous bundle is not in force")
	}
}
