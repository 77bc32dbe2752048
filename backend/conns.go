package backend

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	gosync "sync"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/sync"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// conn is one actor's connection and replica.
type conn struct {
	ctx   *Context
	key   string
	actor actor
	store storage.Store
	eng   *engine.DB
	sc    *sync.Client
	elem  *list.Element // in ctx.lru; guarded by ctx.mu
	pins  int           // operations and subscriptions using it; ctx.mu

	schemaGen uint64 // Context.schemaGen its replica was opened with

	mu        gosync.Mutex
	queries   map[string]*queryReg // by query key: registered with the server
	qlru      *list.List           // of query keys, most recently read first
	failure   error                // credentials refused, or a fatal sync error
	failed    chan struct{}        // closed when failure is set
	closeOnce gosync.Once
}

// acquire returns the connection for a, opening it if needed, pinned until
// release is called.
func (c *Context) acquire(ctx context.Context, a actor) (*conn, func(), error) {
	key := a.key()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, nil, ErrClosed
	}
	if cn := c.conns[key]; cn != nil {
		if cn.err() == nil {
			cn.pins++
			c.lru.MoveToFront(cn.elem)
			c.mu.Unlock()
			return cn, c.releaser(cn), nil
		}
		// Refused earlier: drop it so this attempt starts afresh (the
		// server's configuration may have been fixed since).
		c.dropLocked(cn)
		go cn.close()
	}
	c.mu.Unlock()

	cn, err := c.open(ctx, key, a)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cn.close()
		return nil, nil, ErrClosed
	}
	if other := c.conns[key]; other != nil && other.err() == nil {
		// Opened concurrently by another caller: use theirs.
		other.pins++
		c.lru.MoveToFront(other.elem)
		c.mu.Unlock()
		cn.close()
		return other, c.releaser(other), nil
	} else if other != nil {
		c.dropLocked(other)
		go other.close()
	}
	cn.pins = 1
	cn.elem = c.lru.PushFront(cn)
	c.conns[key] = cn
	evict := c.evictLocked()
	c.mu.Unlock()
	for _, e := range evict {
		go e.close()
	}
	// A UseSchema that ran while the replica was being opened did not see
	// it in c.conns: bring it up to date (Extend is idempotent).
	c.schemaMu.Lock()
	if cn.schemaGen != c.schemaGen {
		if err := cn.eng.Extend(ctx, c.schema.Clone()); err != nil {
			c.report(fmt.Errorf("backend: extending the replica of %s: %w", a, err))
		}
	}
	c.schemaMu.Unlock()
	cn.sc.Start()
	return cn, c.releaser(cn), nil
}

// lookup returns a's connection if one is open, pinned until release.
func (c *Context) lookup(a actor) (*conn, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn := c.conns[a.key()]
	if cn == nil || c.closed {
		return nil, nil
	}
	cn.pins++
	return cn, c.releaser(cn)
}

func (c *Context) releaser(cn *conn) func() {
	var once gosync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			cn.pins--
			evict := c.evictLocked()
			c.mu.Unlock()
			for _, e := range evict {
				go e.close()
			}
		})
	}
}

func (c *Context) dropLocked(cn *conn) {
	if c.conns[cn.key] == cn {
		delete(c.conns, cn.key)
	}
	if cn.elem != nil {
		c.lru.Remove(cn.elem)
		cn.elem = nil
	}
}

// evictLocked removes least recently used connections beyond the bound
// that nothing is using and that have no unacknowledged writes. It returns
// them for closing outside the lock.
func (c *Context) evictLocked() []*conn {
	var out []*conn
	for e := c.lru.Back(); e != nil && c.lru.Len() > c.opts.MaxConnections; {
		cn := e.Value.(*conn)
		prev := e.Prev()
		if cn.pins == 0 && len(cn.eng.Pending()) == 0 {
			c.dropLocked(cn)
			out = append(out, cn)
		}
		e = prev
	}
	return out
}

// open creates the replica and the sync client (not yet started).
func (c *Context) open(ctx context.Context, key string, a actor) (*conn, error) {
	var (
		st  storage.Store
		err error
	)
	if c.opts.Store != nil {
		if st, err = c.opts.Store(storeName(key)); err != nil {
			return nil, fmt.Errorf("backend: opening the store of %s: %w", a, err)
		}
	} else {
		st = storage.NewMemory()
	}
	cn := &conn{ctx: c, key: key, actor: a, store: st, queries: map[string]*queryReg{}, qlru: list.New(), failed: make(chan struct{})}
	c.schemaMu.Lock()
	b := &bundle.Bundle{Version: bundle.Version, Schema: c.schema.Clone()}
	cn.schemaGen = c.schemaGen
	c.schemaMu.Unlock()
	cn.eng, err = engine.Open(ctx, engine.Options{Bundle: b, Store: st, Clock: c.opts.Clock, Optimistic: true, OnError: c.report})
	if err != nil {
		st.Close()
		return nil, err
	}
	log := c.opts.Logger.With("actor", a.String())
	cn.sc, err = sync.New(sync.Options{
		DB: cn.eng, Store: st, URL: c.opts.ServerURL, AppID: c.opts.AppID, Transport: c.opts.Transport, Clock: c.opts.Clock,
		Credentials: func() protocol.Auth { return a.credentials(c.opts.BackendSecret) },
		OnAuthError: func(e protocol.Error) {
			cn.fail(&AuthError{Code: auth.Code(e.Code), Message: "the server refused the backend's credentials for " + a.String() + ": " + e.Message})
		},
		OnFatal: func(err error) { cn.fail(err) },
		OnReject: func(ch *engine.Change, rerr *protocol.RemoteError) {
			c.rememberRejection(ch.ID, rerr)
			if ch.Batch != "" {
				// A batch is rejected whole, reported once (see Handle.Batch).
				c.rememberRejection(ch.Batch, rerr)
				c.report(fmt.Errorf("backend: batch %s as %s was rejected by the server and rolled back whole (its %s of %s/%s failed): %w", ch.Batch, a, ch.Kind, ch.Table, ch.Row, rerr))
				return
			}
			c.report(fmt.Errorf("backend: %s of %s/%s as %s was rejected by the server and rolled back: %w", ch.Kind, ch.Table, ch.Row, a, rerr))
		},
		Logger: log,
	})
	if err != nil {
		cn.eng.Close()
		st.Close()
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return cn, nil
}

func (cn *conn) fail(err error) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.failure == nil {
		cn.failure = err
		close(cn.failed)
		cn.ctx.opts.Logger.Warn("backend connection failed", "actor", cn.actor.String(), "err", err)
	}
}

func (cn *conn) err() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.failure
}

// close flushes unacknowledged writes (bounded by CloseTimeout) and
// releases everything.
func (cn *conn) close() {
	cn.closeOnce.Do(func() {
		if len(cn.eng.Pending()) > 0 && cn.err() == nil {
			ctx, cancel := context.WithTimeout(context.Background(), cn.ctx.opts.CloseTimeout)
			_ = cn.roundtrip(ctx)
			cancel()
		}
		cn.sc.Close()
		cn.eng.Close()
		cn.store.Close()
	})
}

// roundtrip waits for the server to answer everything sent so far, or for
// the connection to fail.
func (cn *conn) roundtrip(ctx context.Context) error {
	done := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { done <- cn.sc.Roundtrip(rctx) }()
	select {
	case err := <-done:
		if errors.Is(err, sync.ErrClosed) {
			return ErrClosed
		}
		return err
	case <-cn.failed:
		return cn.err()
	}
}

// maxQueries bounds the queries a connection keeps registered with the
// server for reads (the protocol allows 256 per connection). Past it the
// least recently read ones are dropped; reading them again resumes from
// their cursor, so only what changed since is sent.
const maxQueries = 64

// queryReg is one query registered with the server.
type queryReg struct {
	id   string
	pins int // live Subscribe calls using it: never dropped while > 0
	elem *list.Element
}

// retainQuery registers q with the server (kept live so later reads of it
// need only a round trip). pin keeps it until the returned release is
// called (a live subscription); reads do not pin.
func (cn *conn) retainQuery(q *query.Query, pin bool) (release func(), err error) {
	key := q.Key()
	cn.mu.Lock()
	defer cn.mu.Unlock()
	reg := cn.queries[key]
	if reg == nil {
		reg = &queryReg{id: subID(key)}
		if err := cn.sc.Subscribe(reg.id, q); err != nil {
			return nil, err
		}
		reg.elem = cn.qlru.PushFront(key)
		cn.queries[key] = reg
	} else {
		cn.qlru.MoveToFront(reg.elem)
	}
	if pin {
		reg.pins++
	}
	for e := cn.qlru.Back(); e != nil && cn.qlru.Len() > maxQueries; {
		prev := e.Prev()
		k := e.Value.(string)
		if r := cn.queries[k]; r.pins == 0 && r != reg {
			cn.sc.Unsubscribe(r.id)
			cn.qlru.Remove(e)
			delete(cn.queries, k)
		}
		e = prev
	}
	if !pin {
		return func() {}, nil
	}
	var once gosync.Once
	return func() {
		once.Do(func() {
			cn.mu.Lock()
			reg.pins--
			cn.mu.Unlock()
		})
	}, nil
}

// subID is a short stable id for a query (the protocol caps ids at 64).
func subID(key string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return "q" + strconv.FormatUint(h, 36)
}

// storeName is a file-system-safe name for an actor's store.
func storeName(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:12])
}
