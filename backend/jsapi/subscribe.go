package jsapi

import (
	"context"
	gosync "sync"

	"github.com/jazzgo/jazz-tools/core/client/jsapi"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/live"
)

// sub is one live query; its callbacks belong to the caller.
type sub struct {
	feed  *live.Feed // turns engine updates into the deltas cb gets
	ended func()

	mu     gosync.Mutex
	dead   bool
	cancel func()
}

// Subscribe starts a live query as the actor. cb receives each update's
// JSON (as the browser Db's subscribe does: added, updated, removed,
// rows); onErr the ErrorBody JSON of a failure to start it. The returned
// stop ends it; Close ends it too. ended, if not nil, runs once when it
// ends either way, so the caller can release what it handed out.
func (h *Handle) Subscribe(actorJSON, queryJSON string, cb, onErr func(string), ended func()) (stop func(), err error) {
	a, q, err := h.actorQuery(actorJSON, queryJSON)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	id := h.nextID
	h.nextID++
	ready := h.schemaDone
	s := &sub{ended: ended}
	report := func(err error) {
		j, _ := jsapi.Marshal(jsapi.Describe(Err(err)))
		onErr(j)
	}
	s.feed = live.New(live.Options{Clock: h.env.Clock, Deliver: func(d live.Delta) {
		j, err := d.AppendJSON(nil)
		if err != nil {
			report(err)
			return
		}
		if !s.isDead() {
			cb(string(j))
		}
	}})
	s.feed.Attach(1)
	h.subs[id] = s
	h.mu.Unlock()
	go func() {
		defer h.recovered("subscribe")
		<-ready
		cancel, err := a.Subscribe(context.Background(), q, func(u engine.Update) { s.feed.Push(1, u) })
		if err != nil {
			if !s.isDead() {
				report(err)
			}
			return
		}
		s.mu.Lock()
		if s.dead {
			s.mu.Unlock()
			cancel()
			return
		}
		s.cancel = cancel
		s.mu.Unlock()
	}()
	return func() {
		h.mu.Lock()
		delete(h.subs, id)
		h.mu.Unlock()
		s.stop(h)
	}, nil
}

func (s *sub) isDead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// stop ends the subscription once; the engine's side is cancelled in the
// background (it may wait for the connection).
func (s *sub) stop(h *Handle) {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.dead = true
	cancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	if s.ended != nil {
		s.ended()
	}
	s.feed.Stop()
	if cancel != nil {
		go func() {
			defer h.recovered("unsubscribe")
			cancel()
		}()
	}
}
