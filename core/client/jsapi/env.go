package jsapi

import (
	"context"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/sync"
)

// Env is what the host gives a Handle: the browser's APIs, adapted to Go.
// In the page, wasm/bridge fills it from IndexedDB, WebSocket,
// BroadcastChannel, Web Locks and the event loop; tests fill it with fakes.
type Env struct {
	// OpenStore opens the store called name. want is the config's storage
	// ("", Persistent or Memory); mode says what it got: Persistent, or
	// Memory when asked to or when nothing persistent can be opened here
	// (it then warns the developer itself).
	OpenStore func(ctx context.Context, name, want string) (s storage.Store, mode string)
	// EarlyName is the store the page began opening before the core loaded
	// (its guess at name), or "": leadership for it is asked at once.
	EarlyName string
	// Transport reaches the sync server.
	Transport sync.Transport
	// Background runs connecting and loading tables; see
	// client.Options.Background. Nil: on a new goroutine.
	Background func(func())
	// Clock runs subscription feeds, whose zero delay means "at the end of
	// this turn" in a page, and the handle's timers. Nil: the system clock.
	Clock clock.Clock
	// Tabs lets handles of one app and user in several tabs share one
	// persistent store. Nil: each handle syncs and writes alone.
	Tabs Tabs
	// Log reports what has no caller to return to ("warn" or "error"), as
	// console.warn and console.error do. Nil: dropped.
	Log func(level, msg string)
	// Trace, when set (tests), is told of named moments such as a
	// subscription shown from the saved result.
	Trace func(event string)
}

// Tabs is what tabs of one origin coordinate with: per name, a channel
// every tab hears (BroadcastChannel) and an exclusive lock (Web Locks).
type Tabs interface {
	// Channel joins the channel called name. recv gets every message
	// another member posts, in the order each member posted them; it must
	// not block.
	Channel(name string, recv func(msg []byte)) (Channel, error)
	// Lock is the lock called name, as this handle takes it.
	Lock(name string) Lock
}

// Channel is one membership of a broadcast channel.
type Channel interface {
	// Post sends msg to every other member.
	Post(msg []byte)
	// Close leaves the channel; recv is not called after it returns.
	Close()
}

// Lock is an exclusive lock shared by the tabs of an origin. A tab that
// holds it keeps it until Release, or until the tab goes away.
type Lock interface {
	// TryAcquire takes the lock if nobody holds it and says whether it did.
	TryAcquire(ctx context.Context) (bool, error)
	// Wait queues for the lock; granted runs (on any goroutine) once it is
	// held.
	Wait(granted func()) error
	// Release lets go of the lock if held and leaves the queue if waiting.
	Release()
}

func (e *Env) log(level, msg string) {
	if e.Log != nil {
		e.Log(level, msg)
	}
}

func (e *Env) trace(event string) {
	if e.Trace != nil {
		e.Trace(event)
	}
}

func (e *Env) clock() clock.Clock {
	if e.Clock == nil {
		return clock.System{}
	}
	return e.Clock
}
