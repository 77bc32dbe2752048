package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/expr"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// openCaching is openOver with the result cache on.
func openCaching(t *testing.T, store storage.Store, s *schema.Schema) *DB {
	t.Helper()
	db, err := Open(context.Background(), Options{Bundle: &bundle.Bundle{Version: 1, Schema: s}, Store: unclosable{store}, Node: "n1", CacheResults: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func cacheSchema(t testing.TB, extra ...schema.Column) *schema.Schema {
	t.Helper()
	cols := append([]schema.Column{
		{Name: "title", Type: schema.String},
		{Name: "done", Type: schema.Boolean},
		{Name: "rank", Type: schema.Int},
	}, extra...)
	return schemaOf(t, &schema.Table{Name: "todos", Columns: cols})
}

// openTodos is the page's query: the 5 highest-ranked open todos.
var openTodos = &query.Query{
	Table:   "todos",
	Where:   expr.Eq("done", false),
	OrderBy: []query.Order{{Col: "rank", Desc: true}},
	Limit:   5,
}

func insertTodos(t testing.TB, db *DB, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := db.Insert(context.Background(), Actor{}, "todos", map[string]any{"title": fmt.Sprint("t", i), "done": i%3 == 0, "rank": i}); err != nil {
			t.Fatal(err)
		}
	}
}

// saveCurrent subscribes to q, saves its first result and returns that
// result's JSON.
func saveCurrent(t testing.TB, db *DB, q *query.Query) []byte {
	t.Helper()
	got := make(chan Update, 1)
	s, err := db.Subscribe(Actor{}, q, func(u Update) {
		select {
		case got <- u:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Cancel()
	rows, stamp := (<-got).RowsAt()
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := db.SaveResult(context.Background(), Actor{}, q, nil, stamp, b); !ok || err != nil {
		t.Fatalf("SaveResult = %v, %v", ok, err)
	}
	return b
}

func cached(t testing.TB, db *DB, q *query.Query, def *schema.Table) (json.RawMessage, bool) {
	t.Helper()
	b, err := db.CachedResult(Actor{}, q, nil, def)
	if errors.Is(err, ErrNoCachedResult) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

// A reopened DB serves the saved result before its table is loaded (a
// browser client learns the table later, through Extend), and it is exactly
// what the query then computes.
func TestResultCache_ServedBeforeTheTableLoadsAndExact(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	s := cacheSchema(t)
	def, _ := s.Table("todos")
	db := openCaching(t, store, s)
	insertTodos(t, db, 0, 40)
	saved := saveCurrent(t, db, openTodos)
	db.Close()

	db2 := openCaching(t, store, &schema.Schema{}) // no tables yet, as in the browser
	got, ok := cached(t, db2, openTodos, def)
	if !ok {
		t.Fatal("no cached result after reopening an unchanged store")
	}
	if string(got) != string(saved) {
		t.Fatalf("cached %s, saved %s", got, saved)
	}
	if err := db2.Extend(ctx, s); err != nil {
		t.Fatal(err)
	}
	rows, err := db2.All(Actor{}, openTodos)
	if err != nil {
		t.Fatal(err)
	}
	now, _ := json.Marshal(rows)
	if string(now) != string(got) {
		t.Fatalf("computed %s, cached %s", now, got)
	}
	// The first write ends it: the cache describes the state at Open only.
	insertTodos(t, db2, 100, 1)
	if _, ok := cached(t, db2, openTodos, def); ok {
		t.Fatal("a cached result served after a write")
	}
}

// Anything committed after the save (a write, a merge, an ack) makes the
// saved result unusable at the next Open; so do another query, other
// columns, a stale stamp or an oversized result.
func TestResultCache_NeverStale(t *testing.T) {
	ctx := context.Background()
	s := cacheSchema(t)
	def, _ := s.Table("todos")

	t.Run("write after save", func(t *testing.T) {
		store := storage.NewMemory()
		db := openCaching(t, store, s)
		insertTodos(t, db, 0, 10)
		saveCurrent(t, db, openTodos)
		insertTodos(t, db, 10, 1)
		db.Close()
		if _, ok := cached(t, openCaching(t, store, &schema.Schema{}), openTodos, def); ok {
			t.Fatal("served a result saved before the last write")
		}
	})
	t.Run("merge after save", func(t *testing.T) {
		store := storage.NewMemory()
		db := openCaching(t, store, s)
		insertTodos(t, db, 0, 3)
		saveCurrent(t, db, openTodos)
		rows, _ := db.All(Actor{}, &query.Query{Table: "todos"})
		st, _ := db.State("todos", rows[0].ID())
		st.Cells["title"] = cell{V: "renamed", T: db.Timestamp()}
		if err := db.Merge(ctx, []RowState{st}, nil); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if _, ok := cached(t, openCaching(t, store, &schema.Schema{}), openTodos, def); ok {
			t.Fatal("served a result saved before a merge")
		}
	})
	t.Run("other query or columns", func(t *testing.T) {
		store := storage.NewMemory()
		db := openCaching(t, store, s)
		insertTodos(t, db, 0, 10)
		saveCurrent(t, db, openTodos)
		db.Close()
		db2 := openCaching(t, store, &schema.Schema{})
		other := *openTodos
		other.Limit = 6
		if _, ok := cached(t, db2, &other, def); ok {
			t.Fatal("served another query's result")
		}
		wider, _ := cacheSchema(t, schema.Column{Name: "note", Type: schema.String, Optional: true}).Table("todos")
		if _, ok := cached(t, db2, openTodos, wider); ok {
			t.Fatal("served a result computed under other columns")
		}
		if _, ok := cached(t, db2, openTodos, def); !ok {
			t.Fatal("the saved query itself missed")
		}
	})
	t.Run("stale stamp or oversized", func(t *testing.T) {
		db := openCaching(t, storage.NewMemory(), s)
		insertTodos(t, db, 0, 2)
		old := db.Stamp()
		insertTodos(t, db, 2, 1)
		if ok, _ := db.SaveResult(ctx, Actor{}, openTodos, nil, old, []byte(`[]`)); ok {
			t.Fatal("saved a result for a state the DB has moved past")
		}
		big := make([]byte, MaxCachedResult+1)
		if ok, _ := db.SaveResult(ctx, Actor{}, openTodos, nil, db.Stamp(), big); ok {
			t.Fatal("saved an oversized result")
		}
	})
}

// Entries older than the stamp at Open can never be served again: Prune
// deletes them and keeps the current ones.
func TestResultCache_Prune(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	s := cacheSchema(t)
	def, _ := s.Table("todos")
	db := openCaching(t, store, s)
	insertTodos(t, db, 0, 5)
	other := *openTodos
	other.Limit = 2
	saveCurrent(t, db, &other) // outdated by the next insert
	insertTodos(t, db, 5, 1)
	saveCurrent(t, db, openTodos)
	db.Close()

	db2 := openCaching(t, store, s)
	n, err := db2.PruneResults(ctx)
	if err != nil || n != 1 {
		t.Fatalf("PruneResults = %d, %v; want 1 deleted", n, err)
	}
	if _, ok := cached(t, db2, openTodos, def); !ok {
		t.Fatal("Prune deleted the current entry")
	}
	left := 0
	_ = store.Scan(ctx, bucketMeta, []byte(resultPrefix), func(k, v []byte) error { left++; return nil })
	if left != 1 {
		t.Fatalf("%d saved results left, want 1", left)
	}
}

// Behind a write-behind queue, an entry reaches the disk after the commit
// it describes: the disk alone (a crash) serves it only with those rows.
func TestResultCache_WriteBehindOrder(t *testing.T) {
	disk := storage.NewMemory()
	s := cacheSchema(t)
	def, _ := s.Table("todos")
	wb := storage.NewWriteBehind(unclosable{disk}, nil)
	db := openCaching(t, wb, s)
	insertTodos(t, db, 0, 8)
	saved := saveCurrent(t, db, openTodos)
	if err := wb.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	wb.Close()
	db2 := openCaching(t, disk, s)
	got, ok := cached(t, db2, openTodos, def)
	if !ok || string(got) != string(saved) {
		t.Fatalf("from disk: %s, %v; want %s", got, ok, saved)
	}
	rows, _ := db2.All(Actor{}, openTodos)
	now, _ := json.Marshal(rows)
	if string(now) != string(saved) {
		t.Fatalf("disk rows give %s, cache %s", now, saved)
	}
}

// A server sending rows the client already has (every resubscription does)
// changes nothing: no rewrite, no new stamp, the saved result stays good.
func TestResultCache_SurvivesARepeatedMerge(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	s := cacheSchema(t)
	def, _ := s.Table("todos")
	db := openCaching(t, store, s)
	insertTodos(t, db, 0, 6)
	saveCurrent(t, db, openTodos)
	rows, _ := db.All(Actor{}, &query.Query{Table: "todos"})
	var states []RowState
	for _, r := range rows {
		st, _ := db.State("todos", r.ID())
		states = append(states, st)
	}
	before := db.Stamp()
	if err := db.Merge(ctx, states, nil); err != nil {
		t.Fatal(err)
	}
	if db.Stamp() != before {
		t.Fatalf("a merge of known rows moved the stamp %d -> %d", before, db.Stamp())
	}
	db.Close()
	if _, ok := cached(t, openCaching(t, store, &schema.Schema{}), openTodos, def); !ok {
		t.Fatal("a repeated merge spoiled the saved result")
	}
}
