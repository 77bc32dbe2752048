package jsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	gosync "sync"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/query"
)

// Tab coordination (docs/browser.md). Handles of one app and user share a
// persistent store; one holds the Lock named after it and leads: it alone
// syncs and writes. The others follow: they replay the batches the leader
// posts on the Channel of the same name (client.Follower) and send their
// writes to the leader. When the leader closes, the next handle waiting
// for the lock takes over.
//
// Messages are JSON. Everything a handle receives, and every change of
// role, is handled in order on one goroutine (the loop), so a batch is
// never replayed into a Db that is being replaced.

// callTimeout bounds a follower's write through the leader.
const callTimeout = 30 * time.Second

// errLeaderChanged fails a follower's call whose leader vanished without
// saying bye: the write may or may not have been applied.
var errLeaderChanged = NewError(Internal, "leader_changed",
	"jazz: the tab that writes for this app closed during the write; it may or may not have been applied")

type tabMsg struct {
	T    string          `json:"t"`
	From string          `json:"from"`
	To   string          `json:"to,omitempty"`
	N    int             `json:"n,omitempty"`
	W    *write          `json:"w,omitempty"`
	V    string          `json:"v,omitempty"`
	Err  *ErrorBody      `json:"err,omitempty"`
	B    json.RawMessage `json:"b,omitempty"`
	Q    json.RawMessage `json:"q,omitempty"`
	Def  json.RawMessage `json:"def,omitempty"`
	Op   string          `json:"op,omitempty"`
	Auth string          `json:"auth,omitempty"`
	S    json.RawMessage `json:"s,omitempty"` // the leader's sync state (syncStateWire)
	JWT  string          `json:"jwt,omitempty"`
}

type tabEvent struct {
	msg *tabMsg
	fn  func()
}

type call struct {
	n   int
	w   *write
	res chan callResult
}

type callResult struct {
	v   string
	err error
}

type retained struct {
	q   *query.Query
	def json.RawMessage
	n   int
}

type tabs struct {
	h     *Handle
	name  string
	ch    Channel // nil if joining failed (tryLead reports it)
	chErr error
	lock  Lock

	qmu      gosync.Mutex
	queue    []tabEvent
	wake     chan struct{}
	stopped  bool
	started  bool
	loopDone chan struct{}

	// Loop-owned.
	leader   string // the leader's id; "" while unknown
	sawBye   bool   // the last leader left cleanly
	leaving  bool   // shutting down: hears nothing more (a leader said bye)
	calls    map[int]*call
	waiting  []*call
	nextN    int
	retained map[string]*retained
	watch    []func() // stops the leader Db watchers
}

func newTabs(h *Handle, name string) *tabs {
	t := &tabs{
		h: h, name: name, wake: make(chan struct{}, 1), loopDone: make(chan struct{}),
		calls: map[int]*call{}, retained: map[string]*retained{},
		lock: h.env.Tabs.Lock(name),
	}
	t.ch, t.chErr = h.env.Tabs.Channel(name, t.receive)
	return t
}

// receive is the channel's callback: it decodes and queues, nothing more.
func (t *tabs) receive(data []byte) {
	m := new(tabMsg)
	if json.Unmarshal(data, m) != nil || m.From == t.h.id || (m.To != "" && m.To != t.h.id) {
		return
	}
	t.enqueue(tabEvent{msg: m})
}

func (t *tabs) enqueue(ev tabEvent) bool {
	t.qmu.Lock()
	defer t.qmu.Unlock()
	if t.stopped {
		return false
	}
	t.queue = append(t.queue, ev)
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return true
}

// do runs fn on the loop and waits for it.
func (t *tabs) do(fn func()) bool {
	done := make(chan struct{})
	if !t.enqueue(tabEvent{fn: func() { defer close(done); fn() }}) {
		return false
	}
	select {
	case <-done:
		return true
	case <-t.loopDone:
		return false
	}
}

func (t *tabs) next() (tabEvent, bool) {
	for {
		t.qmu.Lock()
		if len(t.queue) > 0 {
			ev := t.queue[0]
			t.queue = t.queue[1:]
			t.qmu.Unlock()
			return ev, true
		}
		stopped := t.stopped
		t.qmu.Unlock()
		if stopped {
			return tabEvent{}, false
		}
		<-t.wake
	}
}

func (t *tabs) start(r role) {
	t.qmu.Lock()
	t.started = true
	t.qmu.Unlock()
	go t.loop()
	t.enqueue(tabEvent{fn: func() {
		if r == roleLeader {
			t.leader = t.h.id
			t.announce()
			return
		}
		t.post(&tabMsg{T: "hello"})
		t.waitForLock()
	}})
}

func (t *tabs) loop() {
	defer close(t.loopDone)
	for {
		ev, ok := t.next()
		if !ok {
			return
		}
		if ev.fn != nil {
			t.h.safely("tab event", ev.fn)
			continue
		}
		t.h.safely("tab message "+ev.msg.T, func() { t.handle(ev.msg) })
	}
}

func (t *tabs) post(m *tabMsg) {
	m.From = t.h.id
	if b, err := json.Marshal(m); err == nil && t.ch != nil {
		t.ch.Post(b)
	}
}

// publishBatch is the leader store's tap: it runs inside the engine's
// commit, so batches go out in commit order, before any reply that
// follows from them.
func (t *tabs) publishBatch(b []byte) {
	t.post(&tabMsg{T: "ops", B: b})
}

func (t *tabs) role() role {
	t.h.mu.Lock()
	defer t.h.mu.Unlock()
	return t.h.role
}

func (t *tabs) handle(m *tabMsg) {
	if t.leaving {
		// A leader that said bye must not announce itself again (to a
		// hello queued behind its bye): followers would take it for a
		// leader that vanished without one.
		return
	}
	ctx := context.Background()
	r := t.role()
	switch m.T {
	case "hello":
		if r == roleLeader {
			t.announce()
		}
	case "leader":
		t.onLeader(m)
	case "bye":
		if r == roleFollower && m.From == t.leader {
			t.leader, t.sawBye = "", true
			// The leader answers every call it takes before it says bye,
			// so these were never performed: send them to the next one.
			t.waiting = append(t.waiting, t.takeCalls()...)
		}
	case "ops":
		if r == roleFollower {
			t.replay(ctx, m.B)
		}
	case "call":
		if r != roleLeader || m.W == nil || t.h.isClosed() {
			// A closing leader takes no more calls: after its bye the
			// follower sends them to the next leader.
			return
		}
		answer := func() {
			v, err := t.serve(ctx, m)
			reply := &tabMsg{T: "reply", To: m.From, N: m.N, V: v}
			if err != nil {
				b := Describe(err)
				reply.Err = &b
			}
			t.post(reply)
		}
		if m.W.Kind == "wait" {
			// A wait for the server's answer to a batch must not hold the
			// loop (it takes as long as the server does).
			go t.h.safely("wait for a batch", answer)
			return
		}
		answer()
	case "reply":
		if c := t.calls[m.N]; c != nil {
			delete(t.calls, m.N)
			if m.Err != nil {
				c.res <- callResult{err: &Error{Name: m.Err.Name, Code: m.Err.Code, Message: m.Err.Message}}
			} else {
				c.res <- callResult{v: m.V}
			}
		}
	case "q":
		if r == roleLeader {
			t.serveRetain(m)
		}
	case "auth":
		if r == roleFollower {
			if db, _, _, err := t.h.current(); err == nil {
				db.MirrorAuthError(client.AuthError(m.Auth))
			}
		}
	case "sync":
		if r == roleFollower {
			t.h.mirrorSync(m.S)
		}
	case "error":
		if r == roleFollower && m.Err != nil {
			t.h.reportBody(*m.Err)
		}
	case "token":
		if r == roleLeader && m.JWT != "" {
			if db, _, _, err := t.h.current(); err == nil {
				tok := m.JWT
				_ = db.UpdateAuthToken(&tok)
			}
		}
	}
}

// byN orders calls by number, the order they were made in.
type byN []*call

func (c byN) Len() int           { return len(c) }
func (c byN) Less(i, j int) bool { return c[i].n < c[j].n }
func (c byN) Swap(i, j int)      { c[i], c[j] = c[j], c[i] }

func (t *tabs) takeCalls() []*call {
	out := make([]*call, 0, len(t.calls))
	for _, c := range t.calls {
		out = append(out, c)
	}
	sort.Sort(byN(out))
	t.calls = map[int]*call{}
	return out
}

func (t *tabs) onLeader(m *tabMsg) {
	if t.role() != roleFollower {
		return
	}
	if db, _, _, err := t.h.current(); err == nil {
		db.MirrorAuthError(client.AuthError(m.Auth))
	}
	if len(m.S) > 0 {
		t.h.mirrorSync(m.S)
	}
	if m.From == t.leader {
		return
	}
	// A new leader with no bye from the last: it ended abruptly. Calls it
	// had may or may not have been performed, and batches may be missing.
	crashed := t.leader != "" && !t.sawBye
	if crashed {
		for _, c := range t.takeCalls() {
			c.res <- callResult{err: errLeaderChanged}
		}
	}
	t.leader, t.sawBye = m.From, false
	waiting := t.waiting
	t.waiting = nil
	for _, c := range waiting {
		t.send(c)
	}
	for _, r := range t.retained {
		t.post(&tabMsg{T: "q", To: t.leader, Op: "retain", Q: mustJSON(r.q), Def: r.def, N: r.n})
	}
	if crashed {
		if err := t.h.reload(context.Background(), roleFollower); err != nil && !errors.Is(err, client.ErrClosed) {
			t.h.report(fmt.Errorf("jazz: reloading after the leader tab vanished: %w", err))
		}
	}
}

func (t *tabs) announce() {
	auth := ""
	var s json.RawMessage
	if db, _, _, err := t.h.current(); err == nil {
		auth = string(db.GetAuthState().Error)
		s = json.RawMessage(encodeSyncState(db.SyncState()))
	}
	t.post(&tabMsg{T: "leader", Auth: auth, S: s})
}

func (t *tabs) replay(ctx context.Context, b json.RawMessage) {
	t.h.mu.Lock()
	f := t.h.follower
	t.h.mu.Unlock()
	if f == nil {
		return
	}
	err := f.Replay(ctx, b)
	if err == nil || errors.Is(err, client.ErrClosed) {
		return
	}
	// Start over from the store rather than drift.
	if err := t.h.reload(ctx, roleFollower); err != nil && !errors.Is(err, client.ErrClosed) {
		t.h.report(fmt.Errorf("jazz: reloading from the shared store: %w", err))
	}
}

// serve performs a follower's write on the leader's Db.
func (t *tabs) serve(ctx context.Context, m *tabMsg) (string, error) {
	if len(m.W.Schema) > 0 {
		sc, err := DecodeSchema(string(m.W.Schema))
		if err != nil {
			return "", err
		}
		if err := t.h.addSchema(sc, true); err != nil {
			return "", err
		}
	}
	return t.h.exec(ctx, m.W)
}

func (t *tabs) serveRetain(m *tabMsg) {
	q, err := query.Decode(m.Q)
	if err != nil {
		return
	}
	if len(m.Def) > 0 {
		if sc, err := DecodeSchema(string(m.Def)); err == nil {
			_ = t.h.addSchema(sc, true)
		}
	}
	db, _, _, err := t.h.current()
	if err != nil {
		return
	}
	for i := 0; i < max(m.N, 1); i++ {
		if m.Op == "retain" {
			db.RetainServerQuery(q)
		} else {
			db.ReleaseServerQuery(q.Key())
		}
	}
}

// retain (or release) q at the leader on behalf of this follower.
func (t *tabs) retain(q *query.Query, add bool) {
	t.h.mu.Lock()
	sc := t.h.schema.Closure(q.Table)
	t.h.mu.Unlock()
	var def json.RawMessage
	if sc != nil {
		def = mustJSON(sc)
	}
	t.enqueue(tabEvent{fn: func() {
		key := q.Key()
		r := t.retained[key]
		op := "retain"
		if add {
			if r == nil {
				r = &retained{q: q, def: def}
				t.retained[key] = r
			}
			r.n++
		} else {
			if r == nil {
				return
			}
			op = "release"
			if r.n--; r.n <= 0 {
				delete(t.retained, key)
			}
		}
		if t.leader != "" && t.role() == roleFollower {
			t.post(&tabMsg{T: "q", To: t.leader, Op: op, Q: mustJSON(q), Def: def, N: 1})
		}
	}})
}

func (t *tabs) forwardToken(jwt string) {
	t.enqueue(tabEvent{fn: func() {
		if t.leader != "" {
			t.post(&tabMsg{T: "token", To: t.leader, JWT: jwt})
		}
	}})
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// call sends a write to the leader and waits for its answer.
func (t *tabs) call(ctx context.Context, w *write) (string, error) {
	c := &call{w: w, res: make(chan callResult, 1)}
	if !t.enqueue(tabEvent{fn: func() { t.send(c) }}) {
		return "", client.ErrClosed
	}
	var timeout chan struct{}
	if w.Kind != "wait" {
		// Waiting for the server's answer to a batch takes as long as
		// the server (or the network) does: only ctx bounds it.
		timeout = make(chan struct{})
		timer := t.h.env.clock().AfterFunc(callTimeout, func() { close(timeout) })
		defer timer.Stop()
	}
	select {
	case r := <-c.res:
		return r.v, r.err
	case <-ctx.Done():
		t.forget(c)
		return "", ctx.Err()
	case <-timeout:
		t.forget(c)
		return "", NewError(Internal, "leader_timeout", "jazz: the tab that writes for this app did not answer within %s", callTimeout)
	case <-t.loopDone:
		return "", client.ErrClosed
	}
}

func (t *tabs) forget(c *call) {
	t.enqueue(tabEvent{fn: func() {
		delete(t.calls, c.n)
		for i, w := range t.waiting {
			if w == c {
				t.waiting = append(t.waiting[:i], t.waiting[i+1:]...)
				break
			}
		}
	}})
}

// send (on the loop) delivers c to the leader, performs it if this tab
// leads now, or keeps it until a leader is known.
func (t *tabs) send(c *call) {
	if t.role() == roleLeader {
		run := func() {
			v, err := t.h.exec(context.Background(), c.w)
			c.res <- callResult{v: v, err: err}
		}
		if c.w.Kind == "wait" {
			go t.h.safely("wait for a batch", run) // see handle's "call"
			return
		}
		run()
		return
	}
	t.nextN++
	c.n = t.nextN
	if t.leader == "" {
		t.waiting = append(t.waiting, c)
		return
	}
	t.calls[c.n] = c
	t.post(&tabMsg{T: "call", To: t.leader, N: c.n, W: c.w})
}

// watchLeaderDb forwards the leader Db's auth state, sync state and
// background errors to the followers.
func (t *tabs) watchLeaderDb(db *client.Db) {
	for _, stop := range t.watch {
		stop()
	}
	t.watch = []func(){
		db.OnAuthChanged(func(st client.AuthState) { t.post(&tabMsg{T: "auth", Auth: string(st.Error)}) }),
		db.OnSyncStateChanged(func(s client.SyncState) { t.post(&tabMsg{T: "sync", S: json.RawMessage(encodeSyncState(s))}) }),
		db.OnError(func(err error) {
			b := Describe(err)
			t.post(&tabMsg{T: "error", Err: &b})
		}),
	}
}

// tryLead takes the lock if nobody holds it.
func (t *tabs) tryLead(ctx context.Context) (bool, error) {
	if t.chErr != nil {
		return false, t.chErr
	}
	return t.lock.TryAcquire(ctx)
}

// waitForLock queues for the lock; when it is granted this tab leads.
func (t *tabs) waitForLock() {
	err := t.lock.Wait(func() {
		if !t.enqueue(tabEvent{fn: t.promote}) {
			t.lock.Release()
		}
	})
	if err != nil {
		t.h.report(fmt.Errorf("jazz: cannot queue for leadership: %w", err))
	}
}

// promote makes this follower the leader (on the loop, lock held).
func (t *tabs) promote() {
	if t.h.isClosed() {
		t.lock.Release()
		return
	}
	if err := t.h.reload(context.Background(), roleLeader); err != nil {
		if !errors.Is(err, client.ErrClosed) {
			t.h.report(fmt.Errorf("jazz: taking over syncing from the closed tab: %w", err))
		}
		t.lock.Release()
		if !t.h.isClosed() {
			t.waitForLock()
		}
		return
	}
	calls := t.takeCalls()
	if t.leader != "" && !t.sawBye {
		for _, c := range calls {
			c.res <- callResult{err: errLeaderChanged}
		}
		calls = nil
	}
	t.leader, t.sawBye = t.h.id, false
	waiting := append(calls, t.waiting...)
	t.waiting = nil
	t.retained = map[string]*retained{}
	for _, c := range waiting {
		t.send(c)
	}
	t.announce()
}

// shutdown stops coordinating: a leader finishes the calls it has, says
// bye and releases the lock (the next tab takes over); pending calls of a
// follower fail with ClosedError.
func (t *tabs) shutdown() {
	t.qmu.Lock()
	started := t.started
	t.qmu.Unlock()
	if started {
		t.do(func() {
			t.leaving = true
			if t.role() == roleLeader {
				t.post(&tabMsg{T: "bye"})
			}
			for _, c := range append(t.takeCalls(), t.waiting...) {
				c.res <- callResult{err: client.ErrClosed}
			}
			t.waiting = nil
			for _, stop := range t.watch {
				stop()
			}
			t.watch = nil
		})
	}
	t.qmu.Lock()
	t.stopped = true
	t.qmu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
	if started {
		<-t.loopDone
	}
	t.lock.Release()
	if t.ch != nil {
		t.ch.Close()
	}
}
