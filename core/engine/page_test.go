package engine_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/jazzgo/jazz-tools/core/engine"
)

// Reading page after page while rows change in between must end with every
// row's latest state sent: a row changed between two pages moves past the
// pages already read and comes again in a later one.
func TestChangedPage_PagesTogetherMissNoRowChangedMeanwhile(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	var ids []string
	for i := range 10 {
		r, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", fmt.Sprint(i)))
		ids = append(ids, r.ID())
	}
	f.db.Insert(ctx, as(bob), "todos", todo("bob", "private"))
	all := q(t, `{"table":"todos"}`)
	latest := map[string]uint64{}
	var after uint64
	for pages := 0; ; pages++ {
		p, err := f.db.ChangedPage(as(alice), all, 0, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.States) > 3 || !slices.IsSortedFunc(p.States, func(x, y engine.RowState) int { return int(x.Seq) - int(y.Seq) }) {
			t.Fatalf("page %d: %d states, want at most 3 in sequence order", pages, len(p.States))
		}
		for _, st := range p.States {
			latest[st.ID] = st.Seq
		}
		after = p.After
		if pages == 0 {
			// The first row, already sent, changes.
			f.db.Update(ctx, as(alice), "todos", ids[0], map[string]any{"done": true})
		}
		if p.Done {
			if p.After != f.db.Seq() {
				t.Fatalf("last page resumes from %d, want the DB's seq %d", p.After, f.db.Seq())
			}
			break
		}
	}
	if len(latest) != 10 {
		t.Fatalf("pages sent %d rows, want alice's 10", len(latest))
	}
	st, _ := f.db.State("todos", ids[0])
	if latest[ids[0]] != st.Seq {
		t.Fatalf("pages sent row 0 at seq %d, want its update at %d", latest[ids[0]], st.Seq)
	}
}

func TestWindowPage_ReadsOnlyTheWindowInOrder(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	for _, title := range []string{"e", "b", "g", "a", "d", "c", "f"} {
		f.db.Insert(ctx, as(alice), "todos", todo("alice", title))
	}
	cases := []struct {
		query string
		want  string
	}{
		{`{"table":"todos","orderBy":[{"col":"title"}],"limit":3}`, "abc"},
		{`{"table":"todos","orderBy":[{"col":"title"}],"offset":2,"limit":3}`, "cde"},
		{`{"table":"todos","orderBy":[{"col":"title","desc":true}],"offset":5}`, "ba"},
		{`{"table":"todos","orderBy":[{"col":"title"}],"offset":9,"limit":3}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			s, err := f.db.Watch(as(alice), q(t, tc.query), func(engine.Update) {})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Cancel()
			got := ""
			var pos engine.WindowPos
			for range 10 {
				states, next, done, err := s.WindowPage(pos, 2)
				if err != nil {
					t.Fatal(err)
				}
				for _, st := range states {
					got += st.Cells["title"].V.(string)
				}
				if pos = next; done {
					break
				}
			}
			if got != tc.want {
				t.Fatalf("window pages = %q, want %q", got, tc.want)
			}
		})
	}
}

// A row removed before the reader's position must not make it skip the
// row that then shifts into that position.
func TestWindowPage_ResumesByKeyNotPosition(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	ids := map[string]string{}
	for _, title := range []string{"a", "b", "c", "d"} {
		r, _ := f.db.Insert(ctx, as(alice), "todos", todo("alice", title))
		ids[title] = r.ID()
	}
	s, err := f.db.Watch(as(alice), q(t, `{"table":"todos","orderBy":[{"col":"title"}],"limit":10}`), func(engine.Update) {})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Cancel()
	first, pos, _, _ := s.WindowPage(engine.WindowPos{}, 2)
	f.db.Delete(ctx, as(alice), "todos", ids["a"])
	rest, _, done, _ := s.WindowPage(pos, 2)
	got := ""
	for _, st := range append(first, rest...) {
		got += st.Cells["title"].V.(string)
	}
	if got != "abcd" || !done {
		t.Fatalf("pages = %q (done %v), want abcd", got, done)
	}
}

func TestWatch_DeliversNoInitialResult(t *testing.T) {
	f := open(t, func(o *engine.Options) { o.Sequenced = true })
	f.db.Insert(ctx, as(alice), "todos", todo("alice", "a"))
	var updates []engine.Update
	s, err := f.db.Watch(as(alice), q(t, `{"table":"todos"}`), func(u engine.Update) { updates = append(updates, u) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Cancel()
	f.db.Insert(ctx, as(alice), "todos", todo("alice", "b"))
	if len(updates) != 1 || len(updates[0].Added) != 1 || updates[0].Added[0]["title"] != "b" {
		t.Fatalf("updates = %v, want only b's insert", updates)
	}
}
