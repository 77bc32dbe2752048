package sync

import (
	"context"
	"errors"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/protocol"
)

// problems records what OnProblem reports.
type problems struct {
	mu   stdsync.Mutex
	errs []error
}

func (p *problems) add(err error) { p.mu.Lock(); p.errs = append(p.errs, err); p.mu.Unlock() }
func (p *problems) last() (error, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) == 0 {
		return nil, 0
	}
	return p.errs[len(p.errs)-1], len(p.errs)
}

func TestProtocolVersion_RefusedHelloIsFatal(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.accept()
	s.expect(protocol.THello)
	s.send(protocol.TError, &protocol.Error{Error: "protocol", Code: protocol.CodeUnsupportedVersion, Message: "protocol version 1 is not supported (server speaks 2)"})
	s.c.Close(protocol.CloseProtocolError, "protocol error")
	eventually(t, "OnFatal", func() bool { e.mu.Lock(); defer e.mu.Unlock(); return len(e.fatals) == 1 })
	e.mu.Lock()
	err := e.fatals[0]
	e.mu.Unlock()
	if !errors.Is(err, ErrProtocolVersion) || !strings.Contains(err.Error(), "same jazz-tools version") {
		t.Fatalf("fatal %v", err)
	}
	e.clock.Advance(time.Hour)
	e.barrier()
	if d := e.pipe.Dials(); d != 1 {
		t.Fatalf("%d dials after a protocol version error, want 1", d)
	}
}

func TestProtocolVersion_WelcomeOfAnotherVersionIsFatal(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Start()
	s := e.accept()
	s.expect(protocol.THello)
	s.send(protocol.TWelcome, &protocol.Welcome{V: protocol.Version + 1, Session: aliceSess})
	eventually(t, "OnFatal", func() bool { e.mu.Lock(); defer e.mu.Unlock(); return len(e.fatals) == 1 })
	if e.c.Status() == Connected {
		t.Fatal("connected to a server of another protocol version")
	}
}

func TestWrongServer_UndecodableFrameBeforeWelcome(t *testing.T) {
	var p problems
	e := newEnv(t, func(o *Options) { o.OnProblem = p.add })
	e.c.Start()
	s := e.accept()
	s.expect(protocol.THello)
	if err := s.c.Write(bg, []byte("<html>hello</html>")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "OnProblem", func() bool { _, n := p.last(); return n == 1 })
	if err, _ := p.last(); !errors.Is(err, ErrWrongServer) {
		t.Fatalf("problem %v, want ErrWrongServer", err)
	}
	e.waitStatus(Offline)
	// It is retried: a redeploy may fix it.
	e.clock.Advance(DefaultMaxBackoff)
	e.connect()
}

func TestWrongServer_NoWelcomeBeforeDeadAfter(t *testing.T) {
	var p problems
	e := newEnv(t, func(o *Options) { o.OnProblem = p.add })
	e.c.Start()
	s := e.accept()
	s.expect(protocol.THello)
	e.barrier()
	e.clock.Advance(DefaultDeadAfter)
	eventually(t, "OnProblem", func() bool { _, n := p.last(); return n == 1 })
	if err, _ := p.last(); !errors.Is(err, ErrWrongServer) || !strings.Contains(err.Error(), "no welcome") {
		t.Fatalf("problem %v", err)
	}
}

// failDial is a Transport whose dials fail with err.
type failDial struct{ err error }

func (f failDial) Dial(context.Context, string) (Conn, error) { return nil, f.err }

func TestDialFailures_ReportedAsTypedProblems(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
		text string
	}{
		{errors.New("connection refused"), ErrUnreachable, "is the server running"},
		{&HTTPError{Status: 404}, ErrWrongServer, "with no path"},
		{&HTTPError{Status: 0}, ErrWrongServer, "did not open a WebSocket"},
		{&HTTPError{Status: 502}, ErrUnreachable, "HTTP 502"},
	} {
		var p problems
		e := newEnv(t, func(o *Options) { o.OnProblem = p.add; o.Transport = failDial{tc.err} })
		e.c.Start()
		eventually(t, "OnProblem", func() bool { _, n := p.last(); return n == 1 })
		err, _ := p.last()
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("dial error %v reported as %v, want %v mentioning %q", tc.err, err, tc.want, tc.text)
		}
		e.c.Close()
	}
}

func TestNoBundle_ReportedAfterWelcomeAndConnectionKept(t *testing.T) {
	var p problems
	e := newEnv(t, func(o *Options) { o.OnProblem = p.add })
	e.c.Start()
	s := e.connect()
	s.send(protocol.TError, &protocol.Error{Error: protocol.ErrorNoBundle, Code: protocol.ErrorNoBundle, Message: "no schema"})
	eventually(t, "OnProblem", func() bool { _, n := p.last(); return n == 1 })
	if err, _ := p.last(); !errors.Is(err, ErrNoBundle) || !strings.Contains(err.Error(), "deploy") {
		t.Fatalf("problem %v", err)
	}
	e.barrier()
	if e.c.Status() != Connected {
		t.Fatalf("status %v after no_bundle, want connected", e.c.Status())
	}
}

func TestOnAck_CalledAfterTheMerge(t *testing.T) {
	acks := make(chan int, 4)
	var e *env
	e = newEnv(t, func(o *Options) { o.OnAck = func() { acks <- len(e.db.Pending()) } })
	e.c.Start()
	s := e.connect()
	e.insert("a")
	s.serve(s.expect(protocol.TPush).(*protocol.Push))
	select {
	case n := <-acks:
		if n != 0 {
			t.Fatalf("%d changes still pending when OnAck ran", n)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no OnAck")
	}
}
