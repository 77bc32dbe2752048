// Package live turns a live query's engine updates into the deltas that a
// consumer keeping its own copy of the result (a page's JavaScript) applies:
// what changed and where, never the whole result again. Updates that arrive
// before the consumer's next turn reach it as one delta, so a burst of
// writes costs one callback, and a change to a large result costs the size
// of the change.
package live

import (
	"bytes"
	"encoding/json"
	"strconv"
	gosync "sync"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
)

// Delta turns the result a consumer holds into the current one.
type Delta struct {
	// Rows are the rows the rest refers to by index: each changed row
	// once, in its newest version.
	Rows []engine.Row `json:"rows"`
	// Reset says the consumer's result is replaced: by Order (indexes into
	// Rows), before Steps apply.
	Reset bool  `json:"reset"`
	Order []int `json:"order,omitempty"`
	// Steps apply in order (see engine.Step).
	Steps []Step `json:"steps"`
	// Added, Updated and Removed say what changed between the result the
	// consumer held and the new one: rows (indexes into Rows) that entered
	// it, rows still in it that changed, and the ids of rows that left.
	Added   []int    `json:"added"`
	Updated []int    `json:"updated"`
	Removed []string `json:"removed"`
}

// Step is engine.Step with rows as indexes into Delta.Rows: Ins and Set
// hold [position, row] pairs.
type Step struct {
	Del []int    `json:"del,omitempty"`
	Ins [][2]int `json:"ins,omitempty"`
	Set [][2]int `json:"set,omitempty"`
}

// RowsJSON is the one encoding of a result as a list of rows: the result
// cache saves it, and Feed compares a computed result with a saved one in
// it.
func RowsJSON(rows []engine.Row) ([]byte, error) {
	return engine.AppendRowsJSON(nil, rows)
}

// AppendJSON appends d's JSON (the form json.Marshal gives it, without the
// reflection: a page receives every change this way).
func (d *Delta) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"rows":`...)
	b, err := engine.AppendRowsJSON(b, d.Rows)
	if err != nil {
		return b, err
	}
	b = strconv.AppendBool(append(b, `,"reset":`...), d.Reset)
	if len(d.Order) > 0 {
		b = appendInts(append(b, `,"order":`...), d.Order)
	}
	b = append(b, `,"steps":[`...)
	for i, s := range d.Steps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		sep := func() {
			if b[len(b)-1] != '{' {
				b = append(b, ',')
			}
		}
		if len(s.Del) > 0 {
			b = appendInts(append(b, `"del":`...), s.Del)
		}
		if len(s.Ins) > 0 {
			sep()
			b = appendPairs(append(b, `"ins":`...), s.Ins)
		}
		if len(s.Set) > 0 {
			sep()
			b = appendPairs(append(b, `"set":`...), s.Set)
		}
		b = append(b, '}')
	}
	b = appendInts(append(b, `],"added":`...), d.Added)
	b = appendInts(append(b, `,"updated":`...), d.Updated)
	b = append(b, `,"removed":`...)
	b = append(b, '[')
	for i, id := range d.Removed {
		if i > 0 {
			b = append(b, ',')
		}
		j, err := json.Marshal(id)
		if err != nil {
			return b, err
		}
		b = append(b, j...)
	}
	return append(b, "]}"...), nil
}

func appendInts(b []byte, xs []int) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return append(b, ']')
}

func appendPairs(b []byte, ps [][2]int) []byte {
	b = append(b, '[')
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(strconv.AppendInt(append(b, '['), int64(p[0]), 10), ',')
		b = append(strconv.AppendInt(b, int64(p[1]), 10), ']')
	}
	return append(b, ']')
}

// Feed delivers one subscription's updates as Deltas. Push queues an
// update; the delta is delivered Delay after the first update queued since
// the last delivery (zero: as soon as the delivering goroutine runs, which
// in a browser is after the page's current task, as a timer).
//
// An engine subscription's updates follow one another; a consumer may move
// to a new engine subscription (the page's Db was reopened) with Attach,
// and the first result from there is a Reset relative to what the consumer
// holds.
type Feed struct {
	opts Options

	// order makes deliveries run one at a time, in order; held while one
	// runs.
	order gosync.Mutex

	mu      gosync.Mutex
	stopped bool
	gen     int
	// have is the ids in the result the consumer holds.
	have map[string]struct{}
	// cached is the rows JSON the consumer was shown from a saved result
	// (Cached), until the first computed result: if that is the same, it
	// is not sent.
	cached []byte
	p      *batch
	timer  clock.Timer
}

// batch is what is queued since the last delivery.
type batch struct {
	rows  []engine.Row
	ref   map[string]int // id -> index in rows
	reset bool
	order []int
	steps []Step
	// now is whether each id touched since the last delivery is in the
	// result after the latest update, in the order first touched.
	now     map[string]bool
	touched []string
}

// Options configure a Feed.
type Options struct {
	Clock clock.Clock
	// Delay is how long a delta waits for more updates after its first.
	Delay time.Duration
	// Deliver is called with each delta, one at a time, in order.
	Deliver func(Delta)
	// CacheConfirmed, if set, is called when the first computed result is
	// the one shown from the cache (and so is not delivered).
	CacheConfirmed func()
}

// New returns a Feed.
func New(opts Options) *Feed {
	if opts.Clock == nil {
		opts.Clock = clock.System{}
	}
	return &Feed{opts: opts, have: map[string]struct{}{}}
}

// Attach moves the feed to updates of generation gen (a new engine
// subscription): updates of other generations are dropped from now on, and
// so is whatever is queued from the old one.
func (f *Feed) Attach(gen int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen = gen
	f.dropLocked()
}

// Cached records that the consumer is shown rows (JSON, as RowsJSON
// encodes them) from a saved result before any computed one, and returns
// the JSON of the Delta that shows them. Rows are not decoded: this is a
// page's first result, there to be fast.
func (f *Feed) Cached(rows []byte) []byte {
	var ids []struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(rows, &ids)
	f.mu.Lock()
	f.cached = rows
	f.have = make(map[string]struct{}, len(ids))
	for _, r := range ids {
		f.have[r.ID] = struct{}{}
	}
	f.mu.Unlock()
	count := make([]byte, 0, 6*len(ids)+2)
	count = append(count, '[')
	for i := range ids {
		if i > 0 {
			count = append(count, ',')
		}
		count = strconv.AppendInt(count, int64(i), 10)
	}
	count = append(count, ']')
	b := make([]byte, 0, len(rows)+2*len(count)+96)
	b = append(b, `{"rows":`...)
	b = append(b, rows...)
	b = append(b, `,"reset":true,"order":`...)
	b = append(b, count...)
	b = append(b, `,"steps":[],"added":`...)
	b = append(b, count...)
	b = append(b, `,"updated":[],"removed":[]}`...)
	return b
}

// Push queues u, an update of generation gen.
func (f *Feed) Push(gen int, u engine.Update) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped || gen != f.gen {
		return
	}
	p := f.p
	if p == nil {
		p = &batch{ref: map[string]int{}, now: map[string]bool{}}
		f.p = p
		f.timer = f.opts.Clock.AfterFunc(f.opts.Delay, func() { f.flush(p) })
	}
	if u.First {
		p.reset, p.steps = true, nil
		p.order = make([]int, len(u.Added))
		in := make(map[string]bool, len(u.Added))
		for i, r := range u.Added {
			p.order[i] = p.put(r)
			in[r.ID()] = true
			p.touch(r.ID(), true)
		}
		for id := range f.have {
			if !in[id] {
				p.touch(id, false)
			}
		}
		return
	}
	for _, r := range u.Added {
		p.put(r)
		p.touch(r.ID(), true)
	}
	for _, r := range u.Updated {
		p.put(r)
		p.touch(r.ID(), true)
	}
	for _, id := range u.Removed {
		p.touch(id, false)
	}
	for _, s := range u.Steps {
		out := Step{Del: s.Del}
		for _, x := range s.Ins {
			out.Ins = append(out.Ins, [2]int{x.At, p.put(x.Row)})
		}
		for _, x := range s.Set {
			out.Set = append(out.Set, [2]int{x.At, p.put(x.Row)})
		}
		p.steps = append(p.steps, out)
	}
}

// put returns r's index in rows, making r the version every reference to
// its id uses.
func (p *batch) put(r engine.Row) int {
	id := r.ID()
	if i, ok := p.ref[id]; ok {
		p.rows[i] = r
		return i
	}
	p.ref[id] = len(p.rows)
	p.rows = append(p.rows, r)
	return len(p.rows) - 1
}

func (p *batch) touch(id string, is bool) {
	if _, ok := p.now[id]; !ok {
		p.touched = append(p.touched, id)
	}
	p.now[id] = is
}

// Flush delivers what is queued now, if anything.
func (f *Feed) Flush() { f.flush(nil) }

// flush delivers the queued batch; only if it is only (a timer's batch:
// one delivered early by Flush is not followed by the next one early).
func (f *Feed) flush(only *batch) {
	f.order.Lock()
	defer f.order.Unlock()
	f.mu.Lock()
	p := f.p
	if only != nil && p != only {
		f.mu.Unlock()
		return
	}
	f.p = nil
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	if p == nil || f.stopped {
		f.mu.Unlock()
		return
	}
	d := Delta{Rows: p.rows, Reset: p.reset, Order: p.order, Steps: p.steps,
		Added: []int{}, Updated: []int{}, Removed: []string{}}
	for _, id := range p.touched {
		_, was := f.have[id]
		is := p.now[id]
		switch {
		case is && was:
			d.Updated = append(d.Updated, p.ref[id])
		case is:
			d.Added = append(d.Added, p.ref[id])
			f.have[id] = struct{}{}
		case was:
			d.Removed = append(d.Removed, id)
			delete(f.have, id)
		}
	}
	cached := f.cached
	if p.reset {
		f.cached = nil
	}
	f.mu.Unlock()
	if d.Rows == nil {
		d.Rows = []engine.Row{}
	}
	if d.Steps == nil {
		d.Steps = []Step{}
	}
	if cached != nil && p.reset && len(p.steps) == 0 && sameRows(cached, p.rows, p.order) {
		if f.opts.CacheConfirmed != nil {
			f.opts.CacheConfirmed() // the result the consumer was shown
		}
		return
	}
	if !d.Reset && len(d.Added)+len(d.Updated)+len(d.Removed) == 0 {
		return // every row touched came and went: the result is as it was
	}
	f.opts.Deliver(d)
}

// sameRows reports whether cached (rows JSON) is rows in order.
func sameRows(cached []byte, rows []engine.Row, order []int) bool {
	inOrder := make([]engine.Row, len(order))
	for i, j := range order {
		inOrder[i] = rows[j]
	}
	b, err := RowsJSON(inOrder)
	return err == nil && bytes.Equal(b, cached)
}

// Stop ends deliveries; one already running may finish.
func (f *Feed) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	f.dropLocked()
}

func (f *Feed) dropLocked() {
	f.p = nil
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
}
