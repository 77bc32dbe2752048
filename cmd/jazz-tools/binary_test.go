package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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

const e2eBundle = `{"version":1,
 "schema":{"tables":[{"name":"notes","columns":[{"name":"title","type":"string"},{"name":"owner_id","type":"string"}]}]},
 "policies":{"notes":{"read":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},"insert":{"eq":[{"col":"owner_id"},{"session":"user_id"}]}}}}`

// buildBinary compiles the command once per test, as users get it.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "jazz-tools")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running server process.
type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	eof    chan struct{} // closed once all of stderr has been read
}

// wait reaps the process after reading all its output: exec.Cmd closes the
// pipe in Wait, which would drop lines not read yet.
func (p *proc) wait() error {
	select {
	case <-p.eof:
	case <-time.After(15 * time.Second):
	}
	return p.cmd.Wait()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) add(s string) { l.mu.Lock(); l.b.WriteString(s + "\n"); l.mu.Unlock() }
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs the binary and waits for its "listening on" line.
func startServer(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"server"}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_ENV=")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &lockedBuffer{}, eof: make(chan struct{})}
	t.Cleanup(func() {
		cmd.Process.Kill()
		p.wait()
		if t.Failed() {
			t.Logf("server stderr:\n%s", p.stderr.String())
		}
	})
	ready := make(chan string, 1)
	go func() {
		defer close(p.eof)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.add(line)
			if url, ok := listeningURL(line); ok {
				ready <- url
			}
		}
	}()
	select {
	case p.url = <-ready:
	case <-time.After(15 * time.Second):
		t.Fatalf("server not ready; stderr:\n%s", p.stderr.String())
	}
	return p
}

// listeningURL reads the server's URL from its "listening on" log line,
// which must be JSON like every other line.
func listeningURL(line string) (string, bool) {
	var l struct {
		Msg string `json:"msg"`
		URL string `json:"url"`
	}
	if json.Unmarshal([]byte(line), &l) != nil || !strings.HasPrefix(l.Msg, "listening on ") {
		return "", false
	}
	return l.URL, true
}

func (p *proc) health(t *testing.T) (seq uint64) {
	t.Helper()
	resp, err := http.Get(p.url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Status string `json:"status"`
		Seq    uint64 `json:"seq"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != 200 || h.Status != "ok" {
		t.Fatalf("health: %d %v %+v", resp.StatusCode, err, h)
	}
	return h.Seq
}

// wsClient is a raw protocol client over one socket.
type wsClient struct {
	c *websocket.Conn
}

func dialApp(t *testing.T, p *proc, token string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.url, "http")+"/apps/e2e-app/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(8 << 20)
	t.Cleanup(func() { c.CloseNow() })
	w := &wsClient{c: c}
	w.send(t, protocol.THello, protocol.Hello{V: protocol.Version, AppID: "e2e-app", Auth: protocol.Auth{Bearer: token}})
	if f := w.read(t); f.Type != protocol.TWelcome {
		t.Fatalf("handshake: %s %+v", f.Type, f.Body)
	}
	return w
}

func (w *wsClient) send(t *testing.T, typ string, body any) error {
	b, err := protocol.Encode(typ, body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return w.c.Write(ctx, websocket.MessageText, b)
}

func (w *wsClient) read(t *testing.T) *protocol.Frame {
	t.Helper()
	f, err := w.tryRead()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (w *wsClient) tryRead() (*protocol.Frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := w.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	return protocol.Decode(data)
}

// TestBinary_KillNineLosesNoAckedChange builds the command, publishes a
// bundle with deploy, streams pushes from a raw client, SIGKILLs the server
// in the middle of the stream, restarts it on the same data directory and
// checks that every change it had acked is there.
func TestBinary_KillNineLosesNoAckedChange(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	bundleFile := filepath.Join(dir, "bundle.json")
	if err := os.WriteFile(bundleFile, []byte(e2eBundle), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"e2e-app", "--port", "0", "--data-dir", dataDir, "--allow-local-first-auth"}
	p := startServer(t, bin, append(args, "--admin-secret", "s3cret")...)
	if p.health(t) != 0 {
		t.Fatal("fresh server has data")
	}

	// deploy: a wrong secret fails, the right one publishes.
	if out, err := exec.Command(bin, "deploy", "e2e-app", "--server", p.url, "--admin-secret", "wrong", "--bundle", bundleFile).CombinedOutput(); err == nil {
		t.Fatalf("deploy with a wrong secret succeeded: %s", out)
	}
	cmd := exec.Command(bin, "deploy", "e2e-app", "--server", p.url, "--bundle", bundleFile)
	cmd.Env = append(os.Environ(), "JAZZ_ADMIN_SECRET=s3cret")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), `"ok":true`) {
		t.Fatalf("deploy: %v: %s", err, out)
	}

	secret, _ := identity.NewSecret(rand.Reader)
	me, _ := identity.FromSecret(secret)
	token, err := me.MintToken("e2e-app", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cl := dialApp(t, p, token)

	// Push one change per frame without waiting for acks, so the kill lands
	// while changes are in flight; record exactly what was acked.
	var (
		mu    sync.Mutex
		acked = map[string]string{} // change id -> row id
		rows  = map[string]string{}
	)
	gen := id.NewGenerator(clock.System{}, nil)
	hc := hlc.New(clock.System{}, "e2e-client")
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ch := &engine.Change{ID: gen.New(), Table: "notes", Row: gen.New(), Kind: engine.KindInsert, TS: hc.Now(), By: "x",
				Values: map[string]any{"title": "n", "owner_id": me.UserID}}
			mu.Lock()
			rows[ch.ID] = ch.Row
			mu.Unlock()
			if cl.send(t, protocol.TPush, protocol.Push{Changes: []*engine.Change{ch}}) != nil {
				return
			}
		}
	}()
	killed := false
	for {
		f, err := cl.tryRead()
		if err != nil {
			if !killed {
				t.Fatalf("connection lost before the kill: %v", err)
			}
			break
		}
		if f.Type != protocol.TAck {
			t.Fatalf("unexpected %s: %+v", f.Type, f.Body)
		}
		mu.Lock()
		for _, cid := range f.Body.(*protocol.Ack).IDs {
			acked[cid] = rows[cid]
		}
		n := len(acked)
		mu.Unlock()
		if n >= 200 && !killed {
			killed = true
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	p.wait()
	mu.Lock()
	want := make(map[string]bool, len(acked))
	for _, row := range acked {
		want[row] = true
	}
	mu.Unlock()
	t.Logf("%d changes acked before SIGKILL", len(want))

	// Restart on the same data directory: the bundle and every acked row
	// must be there.
	p2 := startServer(t, bin, args...)
	if seq := p2.health(t); seq < uint64(len(want)) {
		t.Fatalf("seq after restart = %d, fewer than %d acked changes", seq, len(want))
	}
	cl2 := dialApp(t, p2, token)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl2.c.Write(ctx, websocket.MessageText, []byte(`{"t":"sub","id":"all","query":{"table":"notes"}}`)); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for {
		f := cl2.read(t)
		if f.Type != protocol.TRows {
			t.Fatalf("unexpected %s: %+v", f.Type, f.Body)
		}
		r := f.Body.(*protocol.Rows)
		for _, st := range r.Rows {
			got[st.ID] = true
		}
		if r.Complete {
			break
		}
	}
	for row := range want {
		if !got[row] {
			t.Errorf("acked row %s lost", row)
		}
	}
}

func TestBinary_SIGTERMClosesSocketsAndExitsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	bundleFile := filepath.Join(dir, "bundle.json")
	if err := os.WriteFile(bundleFile, []byte(e2eBundle), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, bin, "e2e-app", "--port", "0", "--in-memory", "--bundle", bundleFile)
	cl := dialApp(t, p, "")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, err := cl.tryRead()
	if websocket.CloseStatus(err) != protocol.CloseGoingAway {
		t.Fatalf("socket ended with %v, want close 1001", err)
	}
	if err := p.wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if !strings.Contains(p.stderr.String(), `"server closed"`) {
		t.Fatalf("no graceful close in the logs:\n%s", p.stderr.String())
	}
}
