package server

import (
	"fmt"
	"sync"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/session"
)

// Budget names, as sent in protocol.Error.Budget and logged.
const (
	BudgetSubscriptionsPerConnection = "subscriptions_per_connection"
	BudgetSubscriptionsPerSession    = "subscriptions_per_session"
	BudgetAnonymousSubscriptions     = "anonymous_subscriptions"
)

// Budgets bound the work one client can make the server do, so that no
// client slows the others by more than a small factor. Anonymous sessions
// get lower bounds: anyone can open as many as they like. Backend actors
// (protocol.Auth.ActAs) are trusted and only bound per connection. Zero
// fields take the defaults (DefaultBudgets).
type Budgets struct {
	// SubscriptionsPerConnection bounds one connection's live queries (at
	// most protocol.MaxSubscriptions); AnonymousSubscriptionsPerConnection
	// does for an anonymous session's connection.
	SubscriptionsPerConnection          int
	AnonymousSubscriptionsPerConnection int
	// SubscriptionsPerSession bounds the live queries of one user id over
	// all its connections.
	SubscriptionsPerSession int
	// AnonymousSubscriptions bounds the live queries of every anonymous
	// session together. Each anonymous socket is a session of its own, so
	// a per-session bound cannot stop many sockets; this does.
	AnonymousSubscriptions int
	// RowsInFlight is how many rows a connection reads for its results
	// before it waits for its socket to take them: a result is streamed
	// in pages of this many rows, so the memory a subscription holds is
	// bounded by the page, not by the result. AnonymousRowsInFlight is the
	// same for an anonymous session's connection.
	RowsInFlight          int
	AnonymousRowsInFlight int
	// FramesPerSecond is how many frames a connection may send per second,
	// in bursts of up to a second's worth; beyond that the server reads
	// its socket no faster, so a client flooding frames slows itself
	// (its writes wait) rather than the server. AnonymousFramesPerSecond
	// is the same for an anonymous session's connection.
	FramesPerSecond          int
	AnonymousFramesPerSecond int
	// AnonymousWorkers is how many anonymous connections may build results
	// or prepare live rows at the same time: together they never take
	// more than this many cores from everyone else.
	AnonymousWorkers int
	// AnonymousCPUPercent is the share of one core, in percent, that the
	// workers of all anonymous sessions may use together, over any second
	// (in bursts of up to a second's worth): past it they wait. A worker
	// holds the core for as long as one step takes (a query over a large
	// table, a page of rows), and Go's scheduler preempts it only every
	// 10 ms, so a worker kept busy by anonymous sockets delays every
	// other connection's goroutines on that core; this keeps it idle most
	// of the time instead.
	AnonymousCPUPercent int
}

// DefaultBudgets are the budgets of a Config that sets none.
var DefaultBudgets = Budgets{
	SubscriptionsPerConnection:          protocol.MaxSubscriptions,
	AnonymousSubscriptionsPerConnection: 64,
	SubscriptionsPerSession:             1024,
	AnonymousSubscriptions:              8192,
	RowsInFlight:                        1000,
	AnonymousRowsInFlight:               250,
	FramesPerSecond:                     1000,
	AnonymousFramesPerSecond:            100,
	AnonymousWorkers:                    1,
	AnonymousCPUPercent:                 20,
}

// withDefaults fills in zero fields and refuses impossible values.
func (b Budgets) withDefaults() (Budgets, error) {
	fields := []struct {
		name string
		v    *int
		def  int
		max  int
	}{
		{"SubscriptionsPerConnection", &b.SubscriptionsPerConnection, DefaultBudgets.SubscriptionsPerConnection, protocol.MaxSubscriptions},
		{"AnonymousSubscriptionsPerConnection", &b.AnonymousSubscriptionsPerConnection, DefaultBudgets.AnonymousSubscriptionsPerConnection, protocol.MaxSubscriptions},
		{"SubscriptionsPerSession", &b.SubscriptionsPerSession, DefaultBudgets.SubscriptionsPerSession, 0},
		{"AnonymousSubscriptions", &b.AnonymousSubscriptions, DefaultBudgets.AnonymousSubscriptions, 0},
		{"RowsInFlight", &b.RowsInFlight, DefaultBudgets.RowsInFlight, 0},
		{"AnonymousRowsInFlight", &b.AnonymousRowsInFlight, DefaultBudgets.AnonymousRowsInFlight, 0},
		{"FramesPerSecond", &b.FramesPerSecond, DefaultBudgets.FramesPerSecond, 0},
		{"AnonymousFramesPerSecond", &b.AnonymousFramesPerSecond, DefaultBudgets.AnonymousFramesPerSecond, 0},
		{"AnonymousWorkers", &b.AnonymousWorkers, DefaultBudgets.AnonymousWorkers, 0},
		{"AnonymousCPUPercent", &b.AnonymousCPUPercent, DefaultBudgets.AnonymousCPUPercent, 100},
	}
	for _, f := range fields {
		switch {
		case *f.v < 0:
			return b, &ConfigError{Field: "Budgets." + f.name, Problem: "must not be negative"}
		case *f.v == 0:
			*f.v = f.def
		case f.max > 0 && *f.v > f.max:
			return b, &ConfigError{Field: "Budgets." + f.name, Problem: fmt.Sprintf("must be at most %d", f.max)}
		}
	}
	return b, nil
}

func anonymous(a engine.Actor) bool {
	return a.Session != nil && a.Session.AuthMode == session.Anonymous
}

// subscriptionsPerConnection is a's per-connection budget.
func (b Budgets) subscriptionsPerConnection(a engine.Actor) int {
	if anonymous(a) {
		return b.AnonymousSubscriptionsPerConnection
	}
	return b.SubscriptionsPerConnection
}

// rowsInFlight is a's page size.
func (b Budgets) rowsInFlight(a engine.Actor) int {
	if anonymous(a) {
		return b.AnonymousRowsInFlight
	}
	return b.RowsInFlight
}

// framesPerSecond is a's frame rate.
func (b Budgets) framesPerSecond(a engine.Actor) int {
	if anonymous(a) {
		return b.AnonymousFramesPerSecond
	}
	return b.FramesPerSecond
}

// pacer is a token bucket over a connection's incoming frames: a second's
// worth of frames may come at once, then they are read at the rate.
type pacer struct {
	clk    clock.Clock
	rate   float64
	tokens float64
	last   time.Time
}

func newPacer(clk clock.Clock, perSecond float64) *pacer {
	return &pacer{clk: clk, rate: perSecond, tokens: perSecond, last: clk.Now()}
}

// wait takes one frame's token, first waiting for it to accrue; false if
// stop was closed meanwhile.
func (p *pacer) wait(stop <-chan struct{}) bool {
	if !p.waitFor(1, stop) {
		return false
	}
	p.tokens--
	return true
}

// waitFor waits until the bucket holds need tokens; false if stop was
// closed meanwhile.
func (p *pacer) waitFor(need float64, stop <-chan struct{}) bool {
	p.refill()
	// The slack absorbs float rounding: a wait timed to pay a debt off
	// exactly may leave it a hair short.
	if p.tokens >= need-1e-9 {
		return true
	}
	ready := make(chan struct{})
	t := p.clk.AfterFunc(time.Duration((need-p.tokens)/p.rate*float64(time.Second)), func() { close(ready) })
	select {
	case <-ready:
	case <-stop:
		t.Stop()
		return false
	}
	p.refill()
	return true
}

func (p *pacer) refill() {
	now := p.clk.Now()
	p.tokens = min(p.rate, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	p.last = now
}

// cpuBudget is Budgets.AnonymousCPUPercent: a bucket of seconds of work,
// shared by the anonymous workers. A worker waits while it is in debt,
// then pays for its step once done.
type cpuBudget struct {
	mu sync.Mutex
	p  *pacer
	// held counts the steps that had to wait for the budget.
	held int
}

func newCPUBudget(clk clock.Clock, percent int) *cpuBudget {
	return &cpuBudget{p: newPacer(clk, float64(percent)/100)}
}

// run runs step once the budget is out of debt and charges the time it
// took; false (step not run) if stop was closed first.
func (b *cpuBudget) run(stop <-chan struct{}, step func()) bool {
	b.mu.Lock()
	b.p.refill()
	if b.p.tokens < 0 {
		b.held++
	}
	ok := b.p.waitFor(0, stop)
	b.mu.Unlock()
	if !ok {
		return false
	}
	start := b.p.clk.Now()
	step()
	took := b.p.clk.Now().Sub(start).Seconds()
	b.mu.Lock()
	b.p.refill()
	b.p.tokens -= took
	b.mu.Unlock()
	return true
}

// subscriptionCounts counts live subscriptions across connections, for the
// budgets that span them.
type subscriptionCounts struct {
	mu        sync.Mutex
	bySession map[string]int
	anonymous int
}

// take counts one more subscription for a, or says which budget it would
// exceed. Backend actors have no session and are not counted.
func (sc *subscriptionCounts) take(b Budgets, a engine.Actor) *BudgetError {
	if a.Session == nil {
		return nil
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.bySession[a.Session.UserID] >= b.SubscriptionsPerSession {
		return &BudgetError{Budget: BudgetSubscriptionsPerSession, Limit: b.SubscriptionsPerSession}
	}
	if anonymous(a) {
		if sc.anonymous >= b.AnonymousSubscriptions {
			return &BudgetError{Budget: BudgetAnonymousSubscriptions, Limit: b.AnonymousSubscriptions}
		}
		sc.anonymous++
	}
	if sc.bySession == nil {
		sc.bySession = map[string]int{}
	}
	sc.bySession[a.Session.UserID]++
	return nil
}

// give returns n subscriptions of a taken earlier.
func (sc *subscriptionCounts) give(a engine.Actor, n int) {
	if a.Session == nil || n == 0 {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if anonymous(a) {
		sc.anonymous -= n
	}
	if left := sc.bySession[a.Session.UserID] - n; left > 0 {
		sc.bySession[a.Session.UserID] = left
	} else {
		delete(sc.bySession, a.Session.UserID)
	}
}

// errorBody is the frame that reports e, refusing subscription sub, to the
// client.
func (e *BudgetError) errorBody(sub string) protocol.Error {
	return protocol.Error{Error: "protocol", Code: protocol.CodeBudgetExceeded, Message: e.Error(), Budget: e.Budget, Limit: e.Limit, Sub: sub}
}
