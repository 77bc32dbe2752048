package integration

import (
	"context"
	"errors"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/sync"
)

// frameLog is a WebSocket transport that records the type of every frame
// sent and received, and can drop a connection when an ack arrives (the
// ack lost on the way, the push applied).
type frameLog struct {
	mu       gosync.Mutex
	sent     map[string]int
	got      map[string]int
	pushes   []*protocol.Push
	loseAcks atomic.Int32 // acks still to lose
}

func newFrameLog() *frameLog { return &frameLog{sent: map[string]int{}, got: map[string]int{}} }

func (l *frameLog) Dial(ctx context.Context, url string) (sync.Conn, error) {
	c, err := sync.WebSocket{}.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	return &loggedConn{Conn: c, l: l}, nil
}

func (l *frameLog) count(m map[string]int, typ string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return m[typ]
}

type loggedConn struct {
	sync.Conn
	l *frameLog
}

func (c *loggedConn) Write(ctx context.Context, data []byte) error {
	if f, err := protocol.Decode(data); err == nil {
		c.l.mu.Lock()
		c.l.sent[f.Type]++
		if p, ok := f.Body.(*protocol.Push); ok {
			c.l.pushes = append(c.l.pushes, p)
		}
		c.l.mu.Unlock()
	}
	return c.Conn.Write(ctx, data)
}

func (c *loggedConn) Read(ctx context.Context) ([]byte, error) {
	data, err := c.Conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	if f, err := protocol.Decode(data); err == nil {
		if f.Type == protocol.TAck && c.l.loseAcks.Add(-1) >= 0 {
			c.Conn.Close(1001, "the ack is lost")
			return nil, errors.New("connection lost before the ack")
		}
		c.l.mu.Lock()
		c.l.got[f.Type]++
		c.l.mu.Unlock()
	}
	return data, nil
}

func batchOf(owners ...string) []engine.Op {
	ops := make([]engine.Op, len(owners))
	for i, o := range owners {
		ops[i] = engine.Op{Kind: engine.KindInsert, Table: "todos", Values: todo(o, "batched")}
	}
	return ops
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestBatch_ManyInsertsGoAndAreAcknowledgedAsOne(t *testing.T) {
	e := newEnv(t, envOpts{})
	log := newFrameLog()
	db := e.open(client.Config{Secret: newSecret(t)}, func(o *client.Options) { o.Transport = log })
	uid := db.GetAuthState().Session.UserID
	eventually(t, "connected", connected(db))
	res, err := db.Batch(ctx, "", batchOf(repeat(uid, 500)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.WaitFor(bounded(t), res.ID); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if n := len(e.serverRows(t)); n != 500 {
		t.Fatalf("server has %d rows, want 500", n)
	}
	if p, a := log.count(log.sent, protocol.TPush), log.count(log.got, protocol.TAck); p != 1 || a != 1 {
		t.Fatalf("%d pushes and %d acks for one batch, want 1 and 1", p, a)
	}
	if len(db.Pending()) != 0 {
		t.Fatal("acknowledged batch still pending")
	}
	rows, _ := db.All(&query.Query{Table: "todos"})
	if len(rows) != 500 || rows[0]["$createdBy"] != uid {
		t.Fatalf("local rows after the ack: %d", len(rows))
	}
}

// One row the policy refuses (another user's todo) refuses the batch:
// nothing of it on the server, all of it rolled back locally, the wait
// answered with the typed error and the Db's onError told once.
func TestBatch_OneRefusedRowRejectsTheWholeBatch(t *testing.T) {
	e := newEnv(t, envOpts{})
	var reports atomic.Int32
	var reported atomic.Value
	db := e.open(client.Config{Secret: newSecret(t)}, func(o *client.Options) {
		o.OnError = func(err error) { reported.Store(err); reports.Add(1) }
	})
	uid := db.GetAuthState().Session.UserID
	res, err := db.Batch(ctx, "", batchOf(uid, uid, "someone-else", uid))
	if err != nil {
		t.Fatal(err)
	}
	if rows, _ := db.All(&query.Query{Table: "todos"}); len(rows) != 4 {
		// Only if the server's answer already came (on loopback it can
		// beat this read) may the batch be gone.
		done, cancel := context.WithTimeout(ctx, time.Millisecond)
		err := db.WaitFor(done, res.ID)
		cancel()
		var de *policy.DeniedError
		if len(rows) != 0 || !errors.As(err, &de) {
			t.Fatalf("locally %d rows before the server answers, want 4", len(rows))
		}
	}
	err = db.WaitFor(bounded(t), res.ID)
	var de *policy.DeniedError
	if !errors.As(err, &de) || de.Table != "todos" || de.Operation != policy.Insert {
		t.Fatalf("wait = %v, want a permission denial", err)
	}
	if n := len(e.serverRows(t)); n != 0 {
		t.Fatalf("the server kept %d rows of a refused batch", n)
	}
	if rows, _ := db.All(&query.Query{Table: "todos"}); len(rows) != 0 || len(db.Pending()) != 0 {
		t.Fatalf("after the rejection: %d rows, %d pending locally", len(rows), len(db.Pending()))
	}
	for _, id := range res.Changes {
		if err := db.WaitFor(bounded(t), id); !errors.As(err, &de) {
			t.Fatalf("a change of the batch: wait = %v", err)
		}
	}
	eventually(t, "the rejection reported", func() bool { return reports.Load() >= 1 })
	if err := reported.Load().(error); !errors.As(err, &de) || reports.Load() != 1 {
		t.Fatalf("reported %d times: %v", reports.Load(), err)
	}
}

// An anonymous session may not write: its Db refuses the batch, and the
// server refuses it too when a client sends it anyway.
func TestBatch_AnonymousRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	db := e.open(client.Config{}, nil)
	var ae *policy.AnonymousWriteDeniedError
	if _, err := db.Batch(ctx, "", batchOf("x", "y")); !errors.As(err, &ae) {
		t.Fatalf("local: %v", err)
	}
	p := dialPeer(t, e.url, protocol.Auth{})
	batch := db.Engine().NewID()
	var cs []*engine.Change
	for i := 0; i < 2; i++ {
		cs = append(cs, &engine.Change{ID: db.Engine().NewID(), Table: "todos", Row: db.Engine().NewID(), Kind: engine.KindInsert,
			TS: db.Engine().Timestamp(), Values: todo("x", "anon")})
	}
	p.send(t, protocol.TPush, protocol.Push{Changes: cs, Batch: batch})
	for {
		f := p.next(t)
		if f.Type == protocol.TAck {
			t.Fatal("the server acknowledged an anonymous batch")
		}
		if r, ok := f.Body.(*protocol.Reject); ok {
			if r.Batch != batch || r.Error.Name != protocol.NameAnonymousWriteDenied {
				t.Fatalf("reject = %+v", r)
			}
			break
		}
	}
	if n := len(e.serverRows(t)); n != 0 {
		t.Fatalf("the server kept %d anonymous rows", n)
	}
}

// A batch the server applied but whose ack was lost goes again on the
// next connection and is applied once; so does one whose client was
// killed before the ack and reopened over the same store.
func TestBatch_ResentAfterALostAckOrAKillIsAppliedOnce(t *testing.T) {
	for _, kill := range []bool{false, true} {
		e := newEnv(t, envOpts{})
		log := newFrameLog()
		log.loseAcks.Store(1)
		store := storage.NewMemory()
		secret := newSecret(t)
		db := e.open(client.Config{Secret: secret}, func(o *client.Options) {
			o.Transport = log
			o.Store = keepOpen{store}
		})
		uid := db.GetAuthState().Session.UserID
		res, err := db.Batch(ctx, "", batchOf(repeat(uid, 5)...))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the batch applied on the server", func() bool { return len(e.serverRows(t)) == 5 })
		if kill {
			// Killed mid-flight: the server has the batch, the client
			// never heard. Reopened over the same store, it still holds
			// the batch as pending, whole, and sends it again.
			db.Close()
			db = e.open(client.Config{Secret: secret}, func(o *client.Options) {
				o.Transport = log
				o.Store = keepOpen{store}
			})
			if cs, complete := db.Engine().PendingBatch(res.ID); len(cs) != 5 || !complete {
				t.Fatalf("after reopening, %d changes of the batch pending (complete %v)", len(cs), complete)
			}
		}
		eventually(t, "the resend acknowledged", func() bool {
			e.clock.Advance(time.Minute) // fire the reconnect backoff
			return len(db.Pending()) == 0
		})
		if err := db.WaitFor(bounded(t), res.ID); err != nil {
			t.Fatal(err)
		}
		if n := len(e.serverRows(t)); n != 5 {
			t.Fatalf("kill=%v: server has %d rows, want 5", kill, n)
		}
		log.mu.Lock()
		pushes := log.pushes
		log.mu.Unlock()
		// At least twice (the fake clock's minutes may also time out a
		// connection and send it a third time), always whole, applied once.
		if len(pushes) < 2 {
			t.Fatalf("kill=%v: %d pushes, want the batch at least twice", kill, len(pushes))
		}
		for _, p := range pushes {
			if p.Batch != res.ID || len(p.Changes) != 5 {
				t.Fatalf("kill=%v: a push of %d changes of batch %q, want the whole batch %q", kill, len(p.Changes), p.Batch, res.ID)
			}
		}
		if rows, _ := db.All(&query.Query{Table: "todos"}); len(rows) != 5 {
			t.Fatalf("kill=%v: %d local rows", kill, len(rows))
		}
	}
}

// bounded is a context that ends the test's wait for an answer that would
// otherwise never come (a broken build), instead of hanging it.
func bounded(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}
