package jsapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	gosync "sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/storage"
)

// The browser, faked: a broadcast hub and a lock manager (what
// BroadcastChannel and Web Locks give tabs of one origin), stores shared
// by name (IndexedDB databases), and a clock whose timers the test fires.

// browser is one origin's tabs and storage.
type browser struct {
	mu      gosync.Mutex
	members map[string][]*member // channel name -> who joined
	locks   map[string]*lockState
	stores  map[string]*storage.Memory
	clock   *testClock
	logs    []string
}

func newBrowser() *browser {
	return &browser{
		members: map[string][]*member{}, locks: map[string]*lockState{}, stores: map[string]*storage.Memory{},
		clock: &testClock{Fake: clock.NewFake(time.Unix(1_800_000_000, 0))},
	}
}

// testClock fires zero delays at once, as a page's end of turn does, and
// longer ones when the test advances it.
type testClock struct{ *clock.Fake }

func (c *testClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	if d <= 0 {
		return time.AfterFunc(0, f)
	}
	return c.Fake.AfterFunc(d, f)
}

// member is one tab's membership of a channel. Messages reach it in the
// order they were posted; deaf drops them (a tab that stopped answering).
type member struct {
	b    *browser
	name string
	recv func([]byte)
	deaf bool
	gone bool
}

func (b *browser) Channel(name string, recv func([]byte)) (Channel, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := &member{b: b, name: name, recv: recv}
	b.members[name] = append(b.members[name], m)
	return m, nil
}

func (m *member) Post(msg []byte) {
	m.b.mu.Lock()
	if m.gone {
		m.b.mu.Unlock()
		return
	}
	var to []*member
	for _, o := range m.b.members[m.name] {
		if o != m && !o.deaf {
			to = append(to, o)
		}
	}
	m.b.mu.Unlock()
	for _, o := range to {
		o.recv(append([]byte(nil), msg...))
	}
}

func (m *member) Close() {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()
	m.gone = true
	list := m.b.members[m.name]
	for i, o := range list {
		if o == m {
			m.b.members[m.name] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
}

// lockState is one lock name: its holder and the queue, first come first
// served.
type lockState struct {
	holder *fakeLock
	queue  []*fakeLock
}

type fakeLock struct {
	b       *browser
	name    string
	granted func()
}

func (b *browser) Lock(name string) Lock { return &fakeLock{b: b, name: name} }

func (b *browser) state(name string) *lockState {
	s := b.locks[name]
	if s == nil {
		s = &lockState{}
		b.locks[name] = s
	}
	return s
}

func (l *fakeLock) TryAcquire(context.Context) (bool, error) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	s := l.b.state(l.name)
	if s.holder != nil {
		return false, nil
	}
	s.holder = l
	return true, nil
}

func (l *fakeLock) Wait(granted func()) error {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	s := l.b.state(l.name)
	l.granted = granted
	if s.holder == nil {
		s.holder = l
		go granted()
		return nil
	}
	s.queue = append(s.queue, l)
	return nil
}

func (l *fakeLock) Release() {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	s := l.b.state(l.name)
	for i, w := range s.queue {
		if w == l {
			s.queue = append(s.queue[:i:i], s.queue[i+1:]...)
			break
		}
	}
	if s.holder != l {
		return
	}
	s.holder = nil
	if len(s.queue) > 0 {
		next := s.queue[0]
		s.queue = s.queue[1:]
		s.holder = next
		go next.granted()
	}
}

// sharedStore is a tab's connection to a store: closing it leaves the
// store to the other tabs.
type sharedStore struct{ storage.Store }

func (sharedStore) Close() error { return nil }

func (b *browser) openStore(_ context.Context, name, want string) (storage.Store, string) {
	if want == Memory {
		return storage.NewMemory(), Memory
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stores[name]
	if s == nil {
		s = storage.NewMemory()
		b.stores[name] = s
	}
	return sharedStore{s}, Persistent
}

// env is a tab of this browser; trace, if set, hears the handle's events.
func (b *browser) env(trace func(string)) Env {
	return Env{
		OpenStore: b.openStore,
		Clock:     b.clock,
		Tabs:      b,
		Log: func(level, msg string) {
			b.mu.Lock()
			b.logs = append(b.logs, level+": "+msg)
			b.mu.Unlock()
		},
		Trace: trace,
	}
}

// crash makes h's tab vanish as a killed tab does: it hears and says
// nothing more, and its lock goes to the next tab, with no bye.
func (b *browser) crash(h *Handle) {
	b.mu.Lock()
	for _, list := range b.members {
		for _, m := range list {
			if m == h.tabs.ch {
				m.gone, m.deaf = true, true
			}
		}
	}
	b.mu.Unlock()
	h.tabs.lock.Release()
}

// deafen makes h's tab stop hearing messages (a tab stuck in a long task).
func (b *browser) deafen(h *Handle) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h.tabs.ch.(*member).deaf = true
}

const (
	todosJSON  = `{"tables":[{"name":"todos","columns":[{"name":"title","type":"string"},{"name":"done","type":"boolean","optional":true}]}]}`
	todosQuery = `{"table":"todos","orderBy":[{"col":"title"}]}`
)

func secretConfig(t *testing.T) string {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"appId": "app", "secret": mustSecret(t)})
	return string(b)
}

func mustSecret(t *testing.T) string {
	t.Helper()
	s, err := identity.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func open(t *testing.T, b *browser, cfg string, trace func(string)) *Handle {
	t.Helper()
	h, err := Open(context.Background(), cfg, b.env(trace))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func titles(t *testing.T, h *Handle) []string {
	t.Helper()
	out, err := h.All(context.Background(), todosQuery)
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	var ts []string
	for _, r := range rows {
		ts = append(ts, r.Title)
	}
	return ts
}

func insert(ctx context.Context, h *Handle, title string) (string, error) {
	return h.Write(ctx, "insert", "todos", "", `{"title":"`+title+`"}`, "")
}

// results collects a subscription's deltas, rebuilt into titles.
type results struct {
	mu     gosync.Mutex
	deltas int
	rows   map[string]string // id -> title
}

func (r *results) cb(delta string) {
	var d struct {
		Reset   bool              `json:"reset"`
		Rows    []json.RawMessage `json:"rows"`
		Removed []string          `json:"removed"`
	}
	if err := json.Unmarshal([]byte(delta), &d); err != nil {
		panic(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deltas++
	if r.rows == nil || d.Reset {
		r.rows = map[string]string{}
	}
	for _, raw := range d.Rows {
		var row struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		_ = json.Unmarshal(raw, &row)
		r.rows[row.ID] = row.Title
	}
	for _, id := range d.Removed {
		delete(r.rows, id)
	}
}

func (r *results) has(title string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.rows {
		if t == title {
			return true
		}
	}
	return false
}

func (r *results) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.rows)
}

// openTabs opens n handles of one user in b (the first leads), each
// declaring the todos table.
func openTabs(t *testing.T, b *browser, n int) []*Handle {
	t.Helper()
	cfg := secretConfig(t)
	hs := make([]*Handle, n)
	for i := range hs {
		hs[i] = open(t, b, cfg, nil)
		if err := hs[i].UseSchema(todosJSON); err != nil {
			t.Fatal(err)
		}
	}
	return hs
}

// watch subscribes to todosQuery on h until the test ends.
func watch(t *testing.T, h *Handle) *results {
	t.Helper()
	r := &results{}
	stop, err := h.Subscribe(todosQuery, r.cb, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return r
}

// secretOf is the config of another tab of h's user.
func secretOf(h *Handle) string {
	b, _ := json.Marshal(map[string]any{"appId": h.cfg.AppID, "secret": h.cfg.Secret})
	return string(b)
}
