package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/storage/storagetest"
	"github.com/jazzgo/jazz-tools/server/pgstore"
	"github.com/jazzgo/jazz-tools/server/pgstore/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

var ctx = context.Background()

// freshApp names an app no other test uses, so tests sharing a database
// do not see each other's keys.
func freshApp() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "t-" + hex.EncodeToString(b[:])
}

func open(t *testing.T, app string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(ctx, pgtest.URL(t), app, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t, freshApp()) })
}

// The trap of reading a sequence with "seq > cursor" while writers commit
// concurrently: the sequence is taken at insert, not at commit. Writer 1
// takes 1, writer 2 takes 2 and commits first; a reader at cursor 0 reads
// 2, moves its cursor to 2 and never sees 1. The test fails if Postgres
// ever stops behaving this way (then the lock below would be needless).
func TestNaiveSequenceLosesARow(t *testing.T) {
	url := pgtest.URL(t)
	conn := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}
	table := "naive_" + freshApp()[2:]
	admin := conn()
	if _, err := admin.Exec(ctx, `CREATE TABLE `+table+` (seq bigserial PRIMARY KEY, v text)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(ctx, `DROP TABLE `+table) })
	w1, w2 := conn(), conn()
	tx1, _ := w1.Begin(ctx)
	tx2, _ := w2.Begin(ctx)
	mustExec(t, tx1, `INSERT INTO `+table+` (v) VALUES ('first')`)
	mustExec(t, tx2, `INSERT INTO `+table+` (v) VALUES ('second')`)
	if err := tx2.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	read := func(cursor int64) (got []string, last int64) {
		rows, err := admin.Query(ctx, `SELECT seq, v FROM `+table+` WHERE seq > $1 ORDER BY seq`, cursor)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		last = cursor
		for rows.Next() {
			var v string
			_ = rows.Scan(&last, &v)
			got = append(got, v)
		}
		return got, last
	}
	got1, cursor := read(0)
	if err := tx1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got2, _ := read(cursor)
	seen := append(got1, got2...)
	if len(seen) != 1 || seen[0] != "second" {
		t.Fatalf("the naive reader saw %v; expected it to lose \"first\"", seen)
	}
}

func mustExec(t *testing.T, tx pgx.Tx, sql string) {
	t.Helper()
	if _, err := tx.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

// The same interleaving through the store: a second writer cannot even
// begin while the first holds the app's lock, so versions commit in order
// and a reader following "version > mine" sees every commit.
func TestWritesCommitInVersionOrder(t *testing.T) {
	app := freshApp()
	s1, s2, reader := open(t, app), open(t, app), open(t, app)
	w1, err := s1.Begin(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	began := make(chan *pgstore.Write, 1)
	go func() {
		w2, err := s2.Begin(ctx, 0)
		if err != nil {
			t.Error(err)
			close(began)
			return
		}
		began <- w2
	}()
	waitForLockWaiter(t)
	if v, ops, err := reader.Changes(ctx, 0); err != nil || v != 0 || len(ops) != 0 {
		t.Fatalf("while the first writer holds the lock: version %d, %d ops, %v", v, len(ops), err)
	}
	if err := s1.Apply(w1.Context(ctx), []storage.Op{storage.Put("rows", []byte("first"), []byte("1"))}); err != nil {
		t.Fatal(err)
	}
	w1.Close()
	if err := s1.Apply(w1.Context(ctx), nil); !errors.Is(err, pgstore.ErrWriteDone) {
		t.Fatalf("a second commit in one write = %v", err)
	}
	w2 := <-began
	if w2 == nil {
		t.FailNow()
	}
	defer w2.Close()
	if w2.Version != 1 || len(w2.Tail) != 1 || string(w2.Tail[0].Key) != "first" {
		t.Fatalf("the second writer got version %d and tail %v; want version 1 and the first write", w2.Version, w2.Tail)
	}
	v, ops, err := reader.Changes(ctx, 0)
	if err != nil || v != 1 || len(ops) != 1 {
		t.Fatalf("after the first commit: version %d, %v, %v", v, ops, err)
	}
	if err := s2.Apply(w2.Context(ctx), []storage.Op{storage.Put("rows", []byte("second"), []byte("2"))}); err != nil {
		t.Fatal(err)
	}
	v, ops, err = reader.Changes(ctx, 1)
	if err != nil || v != 2 || len(ops) != 1 || string(ops[0].Key) != "second" {
		t.Fatalf("after the second commit: version %d, %v, %v", v, ops, err)
	}
}

// waitForLockWaiter returns once some session waits for a row lock (the
// second writer's SELECT ... FOR UPDATE). It polls a condition; it does
// not time anything.
func waitForLockWaiter(t *testing.T) {
	t.Helper()
	c, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for {
		var n int
		err := c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOpen_RefusesABadURL(t *testing.T) {
	for _, url := range []string{"postgres://user:secret@host:notaport/db", "mysql://x"} {
		s, err := pgstore.Open(ctx, url, "app", pgstore.Options{})
		if err == nil {
			s.Close()
			t.Fatalf("%s accepted", url)
		}
		if !errors.Is(err, pgstore.ErrBadURL) {
			t.Fatalf("%s: %v, want ErrBadURL", url, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
}
