package jsapi

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/sync"
)

// wantCode fails unless err describes as name/code.
func wantCode(t *testing.T, err error, name, code string) {
	t.Helper()
	b := Describe(err)
	if err == nil || b.Name != name || b.Code != code {
		t.Fatalf("err = %v (%s/%s), want %s/%s", err, b.Name, b.Code, name, code)
	}
}

func TestTabs_FollowerWritesThroughTheLeaderAndBothSeeThem(t *testing.T) {
	b := newBrowser()
	cfg := secretConfig(t)
	a := open(t, b, cfg, nil)
	f := open(t, b, cfg, nil)
	if a.Role() != "leader" || f.Role() != "follower" {
		t.Fatalf("roles %s, %s; want leader, follower", a.Role(), f.Role())
	}
	// Only the follower knows the table: the leader learns it from the write.
	if err := f.UseSchema(todosJSON); err != nil {
		t.Fatal(err)
	}
	var live results
	stop, err := f.Subscribe(todosQuery, live.cb, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	row, err := insert(context.Background(), f, "from the follower")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(row, `"from the follower"`) {
		t.Fatalf("row = %s", row)
	}
	eventually(t, "the follower's subscription to show its write", func() bool { return live.has("from the follower") })
	if err := a.UseSchema(todosJSON); err != nil {
		t.Fatal(err)
	}
	if got := titles(t, a); len(got) != 1 || got[0] != "from the follower" {
		t.Fatalf("leader reads %v", got)
	}
	if _, err := insert(context.Background(), a, "from the leader"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the leader's write to reach the follower", func() bool { return live.has("from the leader") })
}

func TestTabs_NextTabLeadsWhenTheLeaderClosesAndTheStreamGoesOn(t *testing.T) {
	b := newBrowser()
	hs := openTabs(t, b, 2)
	a, f := hs[0], hs[1]
	live := watch(t, f)
	if _, err := insert(context.Background(), a, "before"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first write", func() bool { return live.has("before") })
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the follower to lead", func() bool { return f.Role() == "leader" })
	if _, err := insert(context.Background(), f, "after"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new leader's write", func() bool { return live.has("after") })
	if live.count() != 2 {
		t.Fatalf("the reopened Db's result has %d rows, want 2", live.count())
	}
	// A third tab follows the new leader.
	c := open(t, b, secretOf(a), nil)
	if c.Role() != "follower" {
		t.Fatalf("third tab is %s", c.Role())
	}
}

// A leader that vanishes without a bye may or may not have performed the
// call it had: the caller is told so, not left waiting, and the tab that
// takes over performs later calls.
func TestTabs_CallToALeaderThatVanishedFailsWithLeaderChanged(t *testing.T) {
	b := newBrowser()
	a, f, errc := callADeafLeader(t, b, "lost")
	eventually(t, "the call to be sent", func() bool {
		return onLoop(f, func() bool { return len(f.tabs.calls) == 1 })
	})
	b.crash(a)
	select {
	case err := <-errc:
		wantCode(t, err, Internal, "leader_changed")
	case <-time.After(10 * time.Second):
		t.Fatal("the call never ended")
	}
	eventually(t, "the follower to lead", func() bool { return f.Role() == "leader" })
	if _, err := insert(context.Background(), f, "next"); err != nil {
		t.Fatal(err)
	}
}

func TestTabs_ALeaderThatDoesNotAnswerTimesOut(t *testing.T) {
	b := newBrowser()
	_, _, errc := callADeafLeader(t, b, "unanswered")
	eventually(t, "the call's timer", func() bool { return b.clock.Pending() > 0 })
	b.clock.Advance(callTimeout - time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("the call ended before its timeout: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.clock.Advance(time.Millisecond)
	select {
	case err := <-errc:
		wantCode(t, err, Internal, "leader_timeout")
	case <-time.After(10 * time.Second):
		t.Fatal("the call never timed out")
	}
}

// Calls a follower made while no leader was known (the last one said bye)
// go to the next leader, once, in order.
func TestTabs_CallsMadeDuringAHandoverReachTheNextLeader(t *testing.T) {
	b := newBrowser()
	hs := openTabs(t, b, 3)
	a, f, g := hs[0], hs[1], hs[2]
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Whichever of f and g leads next, g's write is performed exactly once.
	if _, err := insert(context.Background(), g, "during"); err != nil {
		t.Fatalf("%v (f %s, g %s)", err, f.Role(), g.Role())
	}
	eventually(t, "someone to lead", func() bool { return f.Role() == "leader" || g.Role() == "leader" })
	eventually(t, "the write in both tabs", func() bool {
		return len(titles(t, f)) == 1 && len(titles(t, g)) == 1
	})
}

// The leader alone syncs, so a sync problem is its Db's; every tab hears
// of it, typed, on onError.
func TestTabs_FollowerHearsTheLeadersSyncProblems(t *testing.T) {
	b := newBrowser()
	tr := &refusing{go_: make(chan struct{})}
	env := b.env(nil)
	env.Transport = tr
	cfg, _ := json.Marshal(map[string]any{"appId": "app", "secret": mustSecret(t), "serverUrl": "ws://nowhere.test"})
	var hs []*Handle
	for range 2 {
		h, err := Open(context.Background(), string(cfg), env)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close(context.Background()) })
		hs = append(hs, h)
	}
	if hs[0].Role() != "leader" || hs[1].Role() != "follower" {
		t.Fatalf("roles %s, %s", hs[0].Role(), hs[1].Role())
	}
	got := make(chan string, 4)
	stop, err := hs[1].OnError(func(s string) { got <- s }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	close(tr.go_) // the leader's dial fails from now on
	select {
	case s := <-got:
		if !strings.Contains(s, `"code":"unreachable"`) {
			t.Fatalf("onError got %s", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the follower never heard of the leader's sync problem")
	}
}

// refusing is a transport whose dials fail once go_ is closed.
type refusing struct{ go_ chan struct{} }

func (r *refusing) Dial(ctx context.Context, url string) (sync.Conn, error) {
	select {
	case <-r.go_:
	case <-ctx.Done():
	}
	return nil, errors.New("connection refused")
}

// callADeafLeader opens a leader that hears nothing and a follower, and
// starts an insert in the follower; its error arrives on errc.
func callADeafLeader(t *testing.T, b *browser, title string) (a, f *Handle, errc chan error) {
	hs := openTabs(t, b, 2)
	a, f = hs[0], hs[1]
	eventually(t, "the follower to know the leader", func() bool {
		return onLoop(f, func() bool { return f.tabs.leader == a.id })
	})
	b.deafen(a)
	errc = make(chan error, 1)
	go func() {
		_, err := insert(context.Background(), f, title)
		errc <- err
	}()
	return a, f, errc
}

// onLoop asks cond on h's tabs loop, which owns what it reads.
func onLoop(h *Handle, cond func() bool) bool {
	var ok bool
	h.tabs.do(func() { ok = cond() })
	return ok
}

// A closing leader says bye last: a hello that reaches it after its bye is
// not answered, or the tabs would take it for a leader again and its
// departure for a crash.
func TestTabs_ALeavingLeaderDoesNotAnnounceItselfAfterItsBye(t *testing.T) {
	b := newBrowser()
	a := openTabs(t, b, 1)[0]
	var mu gosync.Mutex
	var heard []string
	spy, _ := b.Channel(a.storeName, func(msg []byte) {
		var m tabMsg
		_ = json.Unmarshal(msg, &m)
		mu.Lock()
		heard = append(heard, m.T)
		mu.Unlock()
	})
	defer spy.Close()
	// Hold a's loop, so the bye and a new tab's hello queue up behind it
	// in that order.
	release := make(chan struct{})
	a.tabs.enqueue(tabEvent{fn: func() { <-release }})
	closed := make(chan error, 1)
	go func() { closed <- a.Close(context.Background()) }()
	eventually(t, "the bye to be queued", func() bool {
		a.tabs.qmu.Lock()
		defer a.tabs.qmu.Unlock()
		return len(a.tabs.queue) == 1
	})
	a.tabs.receive([]byte(`{"t":"hello","from":"a new tab"}`))
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heard) == 0 || heard[len(heard)-1] != "bye" {
		t.Fatalf("the leader said %v; want bye last", heard)
	}
}
