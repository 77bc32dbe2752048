package sync

import (
	"context"
	stdsync "sync"
	"sync/atomic"

	"github.com/jazzgo/jazz-tools/core/session"
)

// Client syncs one DB with one server. Create it with New, call Start, and
// call Close when done. It is safe for concurrent use.
type Client struct {
	opts Options
	url  string
	log  Logger

	ctx    context.Context // canceled by Close; parent of every connection
	cancel context.CancelFunc

	ev       chan event    // everything the loop handles, in order
	poke     chan struct{} // Notify and subscription changes (coalesced)
	reauth   chan struct{} // Reauthenticate (coalesced)
	wake     chan struct{} // Reconnect (coalesced)
	quit     chan struct{} // closed by Close
	loopDone chan struct{}
	wg       stdsync.WaitGroup // connection goroutines started by the loop
	cb       dispatcher

	life    stdsync.Mutex
	started bool
	closed  bool

	// inForeign counts calls by the loop into code that may call Close
	// (DB merges run subscription callbacks; Credentials is the app's).
	// Close does not wait for the loop while it is non-zero, since the
	// caller may be the loop itself.
	inForeign atomic.Int32

	status atomic.Int32
	sess   atomic.Pointer[session.Session]

	mu      stdsync.Mutex // guards the fields below; never held across calls out
	subs    map[string]*subEntry
	subVer  uint64
	waiters map[string][]chan error
	// rejected remembers recent rejections so a late WaitFor still learns
	// the error; rejecting marks one being rolled back right now.
	rejected  map[string]error
	rejOrder  []string
	rejecting map[string]bool
	doneWait  bool // Close resolved all waiters; new ones get ErrClosed

	// Loop-owned state: touched only by the loop goroutine (or by a test
	// driving the handlers with no loop running).
	phase         phase
	gen           uint64
	dialCtx       context.Context
	dialCancel    context.CancelFunc
	cs            *connState
	attempt       int
	timers        [numTimers]timerSlot
	reauthPending bool
	pingN         uint64
	fatalErr      error      // set by fatal
	rtQueue       []rtWaiter // Roundtrip calls waiting for a connection
}

// New validates opts and returns a client that is not yet connecting.
func New(opts Options) (*Client, error) {
	u, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		opts:      opts,
		url:       u,
		log:       With(opts.Logger, "component", "sync"),
		ctx:       ctx,
		cancel:    cancel,
		ev:        make(chan event, 64),
		poke:      make(chan struct{}, 1),
		reauth:    make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		loopDone:  make(chan struct{}),
		subs:      map[string]*subEntry{},
		waiters:   map[string][]chan error{},
		rejected:  map[string]error{},
		rejecting: map[string]bool{},
	}
	c.cb.init()
	c.cb.onPanic = func(p any) { c.log.Error("callback panicked", "panic", p) }
	c.status.Store(int32(Offline))
	return c, nil
}

// URL is the WebSocket address the client dials.
func (c *Client) URL() string { return c.url }

// Start begins connecting in the background. Calling it again, or after
// Close, does nothing.
func (c *Client) Start() {
	c.life.Lock()
	defer c.life.Unlock()
	if c.started || c.closed {
		return
	}
	c.started = true
	go c.cb.run()
	go c.run()
}

// Close stops syncing: the connection is closed, timers stopped, goroutines
// end, and WaitFor channels of changes still pending receive ErrClosed. It
// does not close the DB or the Store. It waits for the client's goroutines,
// except when called from a callback or from a DB subscription callback
// running inside a merge, where waiting would deadlock; they then end
// shortly after Close returns.
func (c *Client) Close() error {
	c.life.Lock()
	if c.closed {
		c.life.Unlock()
		return nil
	}
	c.closed = true
	started := c.started
	c.life.Unlock()
	close(c.quit)
	c.cancel()
	if !started {
		c.status.Store(int32(Closed))
		c.failWaiters()
		if f := c.opts.OnStatus; f != nil {
			f(Closed)
		}
		return nil
	}
	if c.inForeign.Load() == 0 {
		<-c.loopDone
		c.wg.Wait()
		c.dropUnhandled()
		if !c.cb.inCallback.Load() {
			<-c.cb.done
		}
	}
	return nil
}

// Status returns the current status.
func (c *Client) Status() Status { return Status(c.status.Load()) }

// Session returns the session the server resolved for our credentials at the
// last welcome or authed, nil before the first.
func (c *Client) Session() *session.Session { return c.sess.Load() }

// Notify tells the client the DB has new local writes to push. The layer
// that writes to the DB calls it after each write; it never blocks. (Pending
// writes are also picked up on connect and at every heartbeat, so a missed
// Notify only delays a push.)
func (c *Client) Notify() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// Reauthenticate presents fresh Credentials: in-band with an auth frame if a
// socket is open (the Paused-after-expiry case), otherwise by reconnecting
// at once, without waiting for a scheduled backoff. It is how the
// application resumes after OnAuthError, and how it hands over a refreshed
// token before the old one expires. It does nothing after a fatal error.
func (c *Client) Reauthenticate() {
	select {
	case c.reauth <- struct{}{}:
	default:
	}
}

// Reconnect dials at once when the client is waiting out a reconnect
// delay, and starts the delays over from MinBackoff. It is for a sign that
// the network is back, such as the browser's online event: after a long
// outage the delay has grown to MaxBackoff, and a user who reconnects
// should not wait that long for their offline writes to go out. In any
// other state (connected, connecting, paused for credentials, stopped) it
// does nothing.
func (c *Client) Reconnect() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// dropUnhandled closes connections whose dial finished as the loop was
// shutting down: their event may have been queued after the loop's last
// look at the queue.
func (c *Client) dropUnhandled() {
	for {
		select {
		case e := <-c.ev:
			if e.conn != nil {
				e.conn.Close(closeNormal, "client closed")
			}
		default:
			return
		}
	}
}
