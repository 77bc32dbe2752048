package sync

import (
	"errors"
	stdsync "sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/limits"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

// A rows frame the client cannot decode (here: too deep, as a row stored
// before the server checked depth would be) is reported once and skipped;
// the ack behind it still settles the write, on the same connection.
func TestFrames_UndecodableFrameIsReportedAndTheAckBehindItSettles(t *testing.T) {
	var (
		mu   stdsync.Mutex
		errs []error
	)
	e := newEnv(t, func(o *Options) {
		o.OnError = func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	})
	e.c.Start()
	s := e.connect()
	e.insert("milk")
	id := e.pendingIDs()[0]
	wait := e.c.WaitFor(id)
	p := s.expect(protocol.TPush).(*protocol.Push)

	deep := ""
	for range limits.MaxFrameDepth {
		deep = "[" + deep + "]"
	}
	bad := `{"t":"rows","sub":"s","rows":[{"table":"todos","id":"` + p.Changes[0].Row + `","cells":{"meta":{"t":"0190b2a00000000000000n1","v":` + deep + `}}}],"cursor":9}`
	if err := s.c.Write(bg, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	s.serve(p)
	select {
	case err := <-wait:
		if err != nil {
			t.Fatalf("WaitFor = %v, want the ack to settle the write", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the ack behind the bad frame never settled the write")
	}
	eventually(t, "the report", func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) > 0 })
	mu.Lock()
	got := append([]error(nil), errs...)
	mu.Unlock()
	if len(got) != 1 || !errors.Is(got[0], ErrUndecodableFrame) || !errors.Is(got[0], protocol.ErrBadFrame) || !errors.Is(got[0], limits.ErrTooDeep) {
		t.Fatalf("reported %v, want one ErrUndecodableFrame", got)
	}
	if n := e.pipe.Dials(); n != 1 || e.c.Status() != Connected {
		t.Fatalf("%d dials, status %v: the bad frame must not drop the connection", n, e.c.Status())
	}
}
