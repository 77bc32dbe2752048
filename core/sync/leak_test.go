package sync

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/protocol"
)

func TestClose_LeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newEnv(t, nil)
	if err := e.c.Subscribe("all", mustQuery(t, `{"table":"todos"}`)); err != nil {
		t.Fatal(err)
	}
	e.insert("a")
	w := e.c.WaitFor(e.pendingIDs()[0])
	e.c.Start()
	s := e.connect()
	s.expect(protocol.TSub)
	s.expect(protocol.TPush)
	e.clock.Advance(DefaultHeartbeatInterval)
	s.expect(protocol.TPing)
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-w; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending waiter got %v", err)
	}
	var ce *CloseError
	if err := s.readErr(); !errors.As(err, &ce) || ce.Code != closeNormal {
		t.Fatalf("server saw %v, want a normal close", err)
	}
	if e.c.Status() != Closed {
		t.Fatalf("status %v", e.c.Status())
	}
	if n := e.clock.Pending(); n != 0 {
		t.Fatalf("%d timers left armed", n)
	}
	deadline := time.Now().Add(waitTimeout)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}
