package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"nhooyr.io/websocket"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/hlc"
	"github.com/jazzgo/jazz-tools/core/id"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/protocol"
)

// Hostile load, as an attacker measured it: anonymous sockets, each
// subscribing as much as it is let on the public rows, with windows that
// differ so no two results can be shared, re-subscribing in a loop and
// reading everything the server sends.
const (
	hostileClients       = 20
	hostileSubsPerClient = 256
	publicRows           = 2000
)

// wsPeer is a raw protocol connection.
type wsPeer struct {
	c *websocket.Conn
}

func dialPeer(b testing.TB, url string, a protocol.Auth) *wsPeer {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/apps/"+appID+"/ws", nil)
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(8 << 20)
	p := &wsPeer{c: c}
	b.Cleanup(func() { c.CloseNow() })
	p.send(b, protocol.THello, protocol.Hello{V: protocol.Version, AppID: appID, Auth: a})
	if f := p.next(b); f.Type != protocol.TWelcome {
		b.Fatalf("handshake: %s", f.Type)
	}
	return p
}

func (p *wsPeer) send(b testing.TB, typ string, body any) {
	msg, err := protocol.Encode(typ, body)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.c.Write(context.Background(), websocket.MessageText, msg); err != nil {
		b.Fatal(err)
	}
}

func (p *wsPeer) next(b testing.TB) *protocol.Frame {
	_, data, err := p.c.Read(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	f, err := protocol.Decode(data)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// until reads frames until one of type typ.
func (p *wsPeer) until(b testing.TB, typ string) {
	for p.next(b).Type != typ {
	}
}

// hostile runs one attacker until ctx ends.
func hostile(ctx context.Context, url string, n int, wg *sync.WaitGroup) {
	defer wg.Done()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/apps/"+appID+"/ws", nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(8 << 20)
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	write := func(typ string, body any) bool {
		msg, _ := protocol.Encode(typ, body)
		return c.Write(ctx, websocket.MessageText, msg) == nil
	}
	if !write(protocol.THello, protocol.Hello{V: protocol.Version, AppID: appID}) {
		return
	}
	sub := func(i, round int) bool {
		q := fmt.Sprintf(`{"table":"todos","orderBy":[{"col":"title"}],"limit":%d}`, 1+(n*hostileSubsPerClient+i+round)%publicRows)
		msg := fmt.Appendf(nil, `{"t":"sub","id":"h%d","query":%s}`, i, q)
		return c.Write(ctx, websocket.MessageText, msg) == nil
	}
	for round := 0; ctx.Err() == nil; round++ {
		for i := range hostileSubsPerClient {
			if !sub(i, round) {
				return
			}
		}
	}
}

// TestHostileClientsProcess is the attackers' process of
// BenchmarkHostileAnonymous; run alone it does nothing.
func TestHostileClientsProcess(t *testing.T) {
	url := os.Getenv("JAZZ_HOSTILE_URL")
	if url == "" {
		t.Skip("the attackers of BenchmarkHostileAnonymous, started by it")
	}
	var wg sync.WaitGroup
	for n := range hostileClients {
		wg.Add(1)
		go hostile(context.Background(), url, n, &wg)
	}
	wg.Wait() // until the benchmark kills this process
}

// BenchmarkHostileAnonymous: a writer's push until its ack (one change,
// fsynced) on a durable server, without and with hostile anonymous clients;
// floor is an empty round trip (ping to pong) on the same connection.
func BenchmarkHostileAnonymous(b *testing.B) {
	for _, mode := range []string{"floor", "quiet", "hostile"} {
		b.Run(mode, func(b *testing.B) {
			e := newBenchEnv(b)
			secret, _ := identity.NewSecret(rand.Reader)
			me, _ := identity.FromSecret(secret)
			tok, err := me.MintToken(appID, time.Now(), time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			w := dialPeer(b, e.url, protocol.Auth{Bearer: tok})
			clk := clock.System{}
			stamps, ids := hlc.New(clk, "writer"), id.NewGenerator(clk, nil)
			change := func() *engine.Change {
				return &engine.Change{ID: ids.New(), Table: "todos", Row: ids.New(), Kind: engine.KindInsert, TS: stamps.Now(),
					Values: map[string]any{"title": "public", "done": false, "owner_id": me.UserID}}
			}
			for start := 0; start < publicRows; start += protocol.MaxChangesPerPush {
				var batch []*engine.Change
				for range min(protocol.MaxChangesPerPush, publicRows-start) {
					batch = append(batch, change())
				}
				w.send(b, protocol.TPush, protocol.Push{Changes: batch})
				w.until(b, protocol.TAck)
			}
			if mode == "hostile" {
				// The attackers run in a process of their own, as they
				// would on other machines: sharing this process's Go
				// scheduler, their goroutines would delay the writer's
				// by the scheduler's time slice, which no server budget
				// can prevent. They still share this machine's 2 cores.
				attack := exec.Command(os.Args[0], "-test.run=^TestHostileClientsProcess$")
				attack.Env = append(os.Environ(), "JAZZ_HOSTILE_URL="+e.url)
				if err := attack.Start(); err != nil {
					b.Fatal(err)
				}
				defer func() { attack.Process.Kill(); attack.Wait() }()
				time.Sleep(2 * time.Second) // let the attack reach its stride
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if mode == "floor" {
					w.send(b, protocol.TPing, protocol.Ping{N: uint64(i)})
					w.until(b, protocol.TPong)
				} else {
					w.send(b, protocol.TPush, protocol.Push{Changes: []*engine.Change{change()}})
					w.until(b, protocol.TAck)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			b.ReportMetric(percentile(lat, 0.5), "p50-ms")
			b.ReportMetric(percentile(lat, 0.99), "p99-ms")
		})
	}
}
