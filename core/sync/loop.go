package sync

// phase is the loop's precise state; Status is its public summary.
type phase int

const (
	phIdle         phase = iota // not started
	phWaiting                   // a reconnect is scheduled
	phDialing                   // Transport.Dial in progress
	phHandshake                 // hello sent, waiting for welcome
	phConnected                 // syncing
	phPausedOpen                // credentials expired, socket kept open
	phPausedClosed              // credentials refused, no socket, no retry
	phFatal                     // unrecoverable, no socket, no retry
	phClosed
)

func (p phase) status() Status {
	switch p {
	case phDialing, phHandshake:
		return Connecting
	case phConnected:
		return Connected
	case phPausedOpen, phPausedClosed:
		return Paused
	case phClosed:
		return Closed
	}
	return Offline
}

type evKind int

const (
	evDialed   evKind = iota // a dial finished
	evFrame                  // a frame arrived
	evReadErr                // the reader stopped
	evWriteErr               // the writer stopped
	evTimer                  // a timer fired
	evFunc                   // run fn on the loop (tests)
)

type event struct {
	kind  evKind
	gen   uint64 // connection generation, or timer generation for evTimer
	timer timerKind
	conn  Conn
	data  []byte
	err   error
	fn    func()
}

// send hands e to the loop, giving up when the client is closing.
func (c *Client) send(e event) bool {
	select {
	case c.ev <- e:
		return true
	case <-c.quit:
		return false
	}
}

// do runs fn on the loop and waits for it (tests use it as a barrier).
func (c *Client) do(fn func()) bool {
	done := make(chan struct{})
	if !c.send(event{kind: evFunc, fn: func() { fn(); close(done) }}) {
		return false
	}
	select {
	case <-done:
		return true
	case <-c.loopDone:
		return false
	}
}

func (c *Client) run() {
	defer close(c.loopDone)
	// A Reauthenticate before Start is moot: the first hello asks for
	// fresh credentials anyway.
	select {
	case <-c.reauth:
	default:
	}
	c.connect()
	for {
		select {
		case <-c.quit:
			c.shutdown()
			return
		case e := <-c.ev:
			c.handleEvent(e)
		case <-c.poke:
			c.sync()
		case <-c.reauth:
			c.reauthenticate()
		case <-c.wake:
			if c.phase == phWaiting {
				c.log.Info("reconnecting now: the network is back")
				c.attempt = 0
				c.connect()
			}
		}
	}
}

func (c *Client) shutdown() {
	c.closeConn(closeNormal, "client closed")
	for k := range c.timers {
		c.disarm(timerKind(k))
	}
	c.setPhase(phClosed)
	c.failRoundtrips(ErrClosed)
	c.failWaiters()
	c.cb.stop()
}

func (c *Client) handleEvent(e event) {
	switch e.kind {
	case evFunc:
		e.fn()
	case evDialed:
		c.onDialed(e)
	case evFrame:
		if c.cs != nil && c.cs.gen == e.gen {
			c.onFrame(e.data)
		}
	case evReadErr:
		if c.cs != nil && c.cs.gen == e.gen {
			c.connLost(e.err)
		}
	case evWriteErr:
		// The reader reports the same failure with the close code, which
		// decides what happens next; acting on the write error first would
		// race it and lose that code. If the reader stays blocked, the dead
		// timer ends the connection.
		if c.cs != nil && c.cs.gen == e.gen {
			c.log.Info("write failed", "err", e.err)
			c.cs.writeFailed = true
		}
	case evTimer:
		c.onTimer(e)
	}
}

func (c *Client) setPhase(p phase) {
	c.phase = p
	c.publish(p.status())
}

func (c *Client) publish(s Status) {
	if Status(c.status.Swap(int32(s))) == s {
		return
	}
	c.log.Debug("status", "status", s.String())
	if f := c.opts.OnStatus; f != nil {
		c.cb.post(func() { f(s) })
	}
}
