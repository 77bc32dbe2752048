package server

import (
	"sync"
)

// hub is the set of open connections, from upgrade to close, so that a
// bundle swap and Close can reach every one of them.
type hub struct {
	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool // set by shutdown; no connection joins after it
	wg     sync.WaitGroup
}

// add registers c; false means the server is shutting down.
func (h *hub) add(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if h.conns == nil {
		h.conns = map[*conn]struct{}{}
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	return true
}

// shutdown refuses further connections and calls fn for every open one.
func (h *hub) shutdown(fn func(*conn)) {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.each(fn)
}

func (h *hub) remove(c *conn) {
	h.mu.Lock()
	_, ok := h.conns[c]
	delete(h.conns, c)
	h.mu.Unlock()
	if ok {
		h.wg.Done()
	}
}

// each calls fn for a snapshot of the open connections; fn must not block.
func (h *hub) each(fn func(*conn)) {
	h.mu.Lock()
	list := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		list = append(list, c)
	}
	h.mu.Unlock()
	for _, c := range list {
		fn(c)
	}
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// wait returns a channel closed once every connection has finished.
func (h *hub) wait() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(ch)
	}()
	return ch
}
