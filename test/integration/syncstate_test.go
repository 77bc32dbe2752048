package integration

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/sync"
	"github.com/jazzgo/jazz-tools/server"
	"github.com/jazzgo/jazz-tools/server/auth"
)

// errLog collects what a Db reports to OnError.
type errLog struct {
	mu   gosync.Mutex
	errs []error
}

func (l *errLog) add(err error) { l.mu.Lock(); l.errs = append(l.errs, err); l.mu.Unlock() }
func (l *errLog) count(target error) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.errs {
		if errors.Is(e, target) {
			n++
		}
	}
	return n
}

func stateIs(db *client.Db, c client.Connection) func() bool {
	return func() bool { return db.SyncState().Connection == c }
}

func TestSyncState_OnlineOfflineAndBackWithPendingWritesAndAckTime(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := &cutter{next: e.srv.Handler()}
	hs := httptest.NewServer(c)
	defer hs.Close()
	var errs errLog
	var mu gosync.Mutex
	var seen []client.SyncState
	db := e.open(client.Config{Secret: newSecret(t), ServerURL: hs.URL}, func(o *client.Options) { o.OnError = errs.add })
	stop := db.OnSyncStateChanged(func(s client.SyncState) { mu.Lock(); seen = append(seen, s); mu.Unlock() })
	defer stop()
	eventually(t, "online", stateIs(db, client.Online))
	if s := db.SyncState(); s.Error != nil || s.PendingWrites != 0 || !s.LastAckedAt.IsZero() {
		t.Fatalf("fresh online state %+v", s)
	}
	uid := db.GetAuthState().Session.UserID

	c.cut()
	eventually(t, "offline", stateIs(db, client.Offline))
	for i := 0; i < 3; i++ {
		if _, err := db.Insert(ctx, "todos", todo(uid, "offline")); err != nil {
			t.Fatal(err)
		}
	}
	if n := db.SyncState().PendingWrites; n != 3 {
		t.Fatalf("%d pending writes offline, want 3", n)
	}
	// Failed attempts against the cut server: unreachable, said once.
	eventually(t, "unreachable reported", func() bool {
		e.clock.Advance(time.Minute)
		return errors.Is(db.SyncState().Error, sync.ErrUnreachable)
	})
	for i := 0; i < 3; i++ {
		e.clock.Advance(time.Minute)
		time.Sleep(5 * time.Millisecond) // let a failed dial happen in real time
	}
	if n := errs.count(sync.ErrUnreachable); n != 1 {
		t.Fatalf("onError heard of the unreachable server %d times, want once", n)
	}

	ackAt := e.clock.Now()
	c.down.Store(false)
	db.Reconnect()
	eventually(t, "online and drained", func() bool {
		s := db.SyncState()
		return s.Connection == client.Online && s.PendingWrites == 0
	})
	s := db.SyncState()
	if s.Error != nil || s.LastAckedAt.Before(ackAt) {
		t.Fatalf("after reconnecting: %+v (acked before %v)", s, ackAt)
	}
	mu.Lock()
	defer mu.Unlock()
	var sawPending, sawConnecting bool
	for _, st := range seen {
		sawPending = sawPending || st.PendingWrites == 3
		sawConnecting = sawConnecting || st.Connection == client.Connecting
	}
	if !sawPending || !sawConnecting {
		t.Fatalf("listener missed states (pending 3: %v, connecting: %v): %+v", sawPending, sawConnecting, seen)
	}
}

func TestSyncState_UnknownAppStopsWithATypedErrorReportedOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	var errs errLog
	db, err := client.Open(context.Background(), client.Options{
		Config: client.Config{AppID: "not-this-app", ServerURL: e.url}, Clock: e.clock, Logger: testLogger(), OnError: errs.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eventually(t, "stopped", stateIs(db, client.Stopped))
	s := db.SyncState()
	if !errors.Is(s.Error, sync.ErrUnknownApp) || !strings.Contains(s.Error.Error(), "check appId") || errs.count(sync.ErrUnknownApp) != 1 {
		t.Fatalf("state %+v, reported %d times", s, errs.count(sync.ErrUnknownApp))
	}
}

func TestSyncState_ServerURLWithAPathIsAWrongServer(t *testing.T) {
	e := newEnv(t, envOpts{})
	var errs errLog
	db := e.open(client.Config{ServerURL: e.url + "/api"}, func(o *client.Options) { o.OnError = errs.add })
	eventually(t, "wrong server", func() bool { return errors.Is(db.SyncState().Error, sync.ErrWrongServer) })
	s := db.SyncState()
	if s.Connection == client.Online || !strings.Contains(s.Error.Error(), "HTTP 404") || !strings.Contains(s.Error.Error(), "no path") {
		t.Fatalf("state %+v", s)
	}
	if n := errs.count(sync.ErrWrongServer); n != 1 {
		t.Fatalf("reported %d times", n)
	}
}

func TestSyncState_NothingListeningIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e := newEnv(t, envOpts{})
	db := e.open(client.Config{ServerURL: "http://" + addr}, nil)
	eventually(t, "unreachable", func() bool { return errors.Is(db.SyncState().Error, sync.ErrUnreachable) })
	if s := db.SyncState(); s.Connection == client.Online || !strings.Contains(s.Error.Error(), addr) {
		t.Fatalf("state %+v", s)
	}
}

func TestSyncState_NoBundlePublishedIsReportedWhileOnline(t *testing.T) {
	e := newEnv(t, envOpts{})
	srv, err := server.New(server.Config{AppID: appID, InMemory: true, Clock: e.clock, Logger: testLogger(), HeartbeatTimeout: 24 * time.Hour,
		Resolver: &auth.Resolver{AppID: appID, AllowLocalFirst: true, Clock: e.clock, Leeway: -1}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer func() { srv.Close(); hs.Close() }()
	var errs errLog
	db := e.open(client.Config{Secret: newSecret(t), ServerURL: hs.URL}, func(o *client.Options) { o.OnError = errs.add })
	eventually(t, "no bundle", func() bool { return errors.Is(db.SyncState().Error, sync.ErrNoBundle) })
	if s := db.SyncState(); s.Connection != client.Online || !strings.Contains(s.Error.Error(), "deploy") || errs.count(sync.ErrNoBundle) != 1 {
		t.Fatalf("state %+v", s)
	}
}

func TestSyncState_LocalOnlyDbIsOffline(t *testing.T) {
	db, err := client.Open(context.Background(), client.Options{Config: client.Config{AppID: appID}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if s := db.SyncState(); s.Connection != client.Offline || s.Error != nil {
		t.Fatalf("state %+v", s)
	}
}

func TestSyncState_RefusedCredentialsArePaused(t *testing.T) {
	e := newEnv(t, envOpts{})
	db := e.open(client.Config{JWTToken: e.jwt("bob", -time.Minute)}, nil)
	eventually(t, "paused", stateIs(db, client.Paused))
	if s, a := db.SyncState(), db.GetAuthState(); s.Error != nil || a.Error != client.AuthExpired {
		t.Fatalf("sync state %+v, auth state %+v", s, a)
	}
	if err := db.UpdateAuthToken(ptr(e.jwt("bob", time.Hour))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "online with the new token", stateIs(db, client.Online))
}

func ptr[T any](v T) *T { return &v }
