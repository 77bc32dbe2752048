package sync

import (
	"fmt"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

type timerKind int

const (
	tBackoff timerKind = iota // next reconnect
	tPing                     // next heartbeat
	tDead                     // no frame for DeadAfter
	numTimers
)

// timerSlot holds one armed timer. Stopping a clock timer cannot recall a
// callback that already started, so every arming gets a generation and the
// loop ignores ticks from older ones.
type timerSlot struct {
	t   clock.Timer
	gen uint64
}

func (c *Client) arm(k timerKind, d time.Duration) {
	c.disarm(k)
	s := &c.timers[k]
	gen := s.gen
	s.t = c.opts.Clock.AfterFunc(d, func() { c.send(event{kind: evTimer, timer: k, gen: gen}) })
}

func (c *Client) disarm(k timerKind) {
	s := &c.timers[k]
	if s.t != nil {
		s.t.Stop()
		s.t = nil
	}
	s.gen++
}

func (c *Client) onTimer(e event) {
	s := &c.timers[e.timer]
	if e.gen != s.gen || s.t == nil {
		return
	}
	s.t = nil
	switch e.timer {
	case tBackoff:
		if c.phase == phWaiting {
			c.connect()
		}
	case tPing:
		if c.cs != nil && (c.phase == phConnected || c.phase == phPausedOpen) {
			c.pingN++
			c.write(protocol.TPing, &protocol.Ping{N: c.pingN})
			c.arm(tPing, c.opts.HeartbeatInterval)
			// A safety net for a missed Notify.
			c.sync()
		}
	case tDead:
		switch c.phase {
		case phDialing, phHandshake, phConnected, phPausedOpen:
			c.log.Warn("connection is dead", "silent_for", c.opts.DeadAfter)
			switch c.phase {
			case phDialing:
				c.problem(c.dialProblem(fmt.Errorf("no answer within %s", c.opts.DeadAfter)))
			case phHandshake:
				c.problem(fmt.Errorf("%w: %s opened a WebSocket but sent no welcome within %s; check serverUrl", ErrWrongServer, c.url, c.opts.DeadAfter))
			}
			c.connLost(errDead)
		}
	}
}
