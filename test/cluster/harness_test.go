// Package cluster tests several sync servers over one PostgreSQL database,
// with the real parts: the jazz-tools binary run as separate processes (so
// they can be killed with SIGKILL and frozen with SIGSTOP), a throwaway
// PostgreSQL cluster (server/pgstore/pgtest), Go sync clients, and a TCP
// load balancer without sticky sessions in front of the servers.
package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/server/pgstore"
	"github.com/jazzgo/jazz-tools/server/pgstore/pgtest"
)

// todoBundle: owners read and write their own todos.
const todoBundle = `{"version":1,
 "schema":{"tables":[{"name":"todos","columns":[
   {"name":"title","type":"string"},{"name":"done","type":"boolean"},{"name":"owner_id","type":"string"}]}]},
 "policies":{"todos":{
   "read":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "insert":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "updateOld":{"eq":[{"col":"owner_id"},{"session":"user_id"}]},
   "delete":{"eq":[{"col":"owner_id"},{"session":"user_id"}]}}}}`

const adminSecret = "cluster-admin-secret"

// lockTimeout is the servers' idle_in_transaction_session_timeout: how long
// a frozen server may hold its app's lock before Postgres ends its session.
const lockTimeout = 1500 * time.Millisecond

var (
	binary  string
	workDir string
	ctx     = context.Background()
)

func TestMain(m *testing.M) {
	code := func() int {
		d, err := os.MkdirTemp("", "jazz-cluster-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(d)
		workDir = d
		binary = filepath.Join(d, "jazz-tools")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/jazzgo/jazz-tools/cmd/jazz-tools").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building jazz-tools: %v\n%s", err, out)
			return 1
		}
		defer pgtest.Stop()
		return m.Run()
	}()
	os.Exit(code)
}

// cluster is n servers of one fresh app over the test database.
type cluster struct {
	t      testing.TB
	app    string
	dbURL  string
	nodes  []*node
	bundle *bundle.Bundle
}

type node struct {
	name string
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:PORT
	addr string // 127.0.0.1:PORT
	log  string
	dead bool
}

func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	c := &cluster{t: t, app: "todo-" + hex.EncodeToString(b[:]), dbURL: pgtest.URL(t)}
	var err error
	if c.bundle, err = bundle.Decode([]byte(todoBundle)); err != nil {
		t.Fatal(err)
	}
	bundleFile := filepath.Join(workDir, c.app+".json")
	if err := os.WriteFile(bundleFile, []byte(todoBundle), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		// Only the first publishes the bundle at start: each start with
		// --bundle publishes again, which reconnects every client.
		extra := []string{}
		if i == 0 {
			extra = []string{"--bundle", bundleFile}
		}
		c.nodes = append(c.nodes, c.start(fmt.Sprintf("s%d", i), extra...))
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			c.kill(nd)
		}
		if t.Failed() {
			for _, nd := range c.nodes {
				if b, err := os.ReadFile(nd.log); err == nil {
					t.Logf("--- log of %s (last 4 KB):\n%s", nd.name, tail(b, 4096))
				}
			}
		}
	})
	return c
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// start runs one server; its sessions carry its name as application_name,
// so tests can find them in pg_stat_activity.
func (c *cluster) start(name string, extra ...string) *node {
	c.t.Helper()
	sep := "?"
	if strings.Contains(c.dbURL, "?") {
		sep = "&"
	}
	url := fmt.Sprintf("%s%sapplication_name=%s-%s&idle_in_transaction_session_timeout=%d", c.dbURL, sep, c.app, name, lockTimeout.Milliseconds())
	return startServer(c.t, c.app, name, append([]string{"--database-url", url}, extra...)...)
}

// startServer runs the binary for app with the given storage (and other)
// flags and waits until it listens.
func startServer(t testing.TB, app, name string, extra ...string) *node {
	t.Helper()
	args := append([]string{"server", app, "--port", "0", "--allow-local-first-auth", "--admin-secret", adminSecret}, extra...)
	cmd := exec.Command(binary, args...)
	logPath := filepath.Join(workDir, app+"-"+name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		defer logFile.Close()
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadString('\n')
			logFile.WriteString(line)
			// Every line is JSON; the listening line has the address in url.
			var l struct {
				Msg string `json:"msg"`
				URL string `json:"url"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Msg, "listening on ") {
				if a, ok := strings.CutPrefix(l.URL, "http://"); ok {
					addr <- a
				}
			}
			if err != nil {
				close(addr)
				return
			}
		}
	}()
	a, ok := <-addr
	if !ok {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("server %s exited before listening:\n%s", name, b)
	}
	return &node{name: name, cmd: cmd, url: "http://" + a, addr: a, log: logPath}
}

// kill ends a server with SIGKILL: no shutdown, no flush.
func (c *cluster) kill(nd *node) {
	if nd.dead {
		return
	}
	nd.dead = true
	_ = nd.cmd.Process.Signal(syscall.SIGCONT) // a frozen process dies too
	_ = nd.cmd.Process.Kill()
	_ = nd.cmd.Wait()
}

// restart starts a killed server again under its name.
func (c *cluster) restart(i int) {
	c.nodes[i] = c.start(c.nodes[i].name)
}

// client opens a sync client of the app at serverURL as the identity
// secret.
func (c *cluster) client(serverURL, secret string) *client.Db {
	c.t.Helper()
	o := client.Options{Config: client.Config{AppID: c.app, ServerURL: serverURL, Secret: secret}, Bundle: c.bundle, Logger: testLogger()}
	o.SyncOptions.MinBackoff = 20 * time.Millisecond
	o.SyncOptions.MaxBackoff = 200 * time.Millisecond
	db, err := client.Open(ctx, o)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close() })
	return db
}

func newSecret(t testing.TB) string {
	s, err := identity.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stored reads the app's rows as they are in PostgreSQL, through an engine
// of the test's own over the app's tables (what a server would load).
func (c *cluster) stored() map[string]string {
	c.t.Helper()
	ps, err := pgstore.Open(ctx, c.dbURL, c.app, pgstore.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	db, err := engine.Open(ctx, engine.Options{Bundle: c.bundle, Store: ps, Sequenced: true})
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.All(engine.Actor{Backend: true}, &query.Query{Table: "todos"})
	if err != nil {
		c.t.Fatal(err)
	}
	return digest(rows)
}

// digest maps each row id to its user-visible content, so two replicas'
// rows can be compared.
func digest(rows []engine.Row) map[string]string {
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.ID()] = fmt.Sprintf("%v|%v|%v|%v", r["title"], r["done"], r["owner_id"], r["$updatedAt"])
	}
	return out
}

func clientRows(t testing.TB, db *client.Db) map[string]string {
	t.Helper()
	rows, err := db.All(&query.Query{Table: "todos"})
	if err != nil {
		t.Fatal(err)
	}
	return digest(rows)
}

// eventually polls cond with real time; it never measures behaviour, it
// only waits for it (failing after a generous deadline).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sameRows(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func testLogger() *slog.Logger {
	if os.Getenv("JAZZ_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// balancer is a TCP load balancer without sticky sessions: each new
// connection goes to the next server that accepts it, round robin, so a
// client that reconnects usually lands on another server. mute drops what
// servers send (an ack lost on the way back); cut closes every connection.
type balancer struct {
	ln    net.Listener
	mu    sync.Mutex
	nodes []*node
	next  int
	only  *node // when set, every connection goes there
	conns map[net.Conn]struct{}
	mute  bool
}

func newBalancer(t testing.TB, nodes []*node) *balancer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, nodes: nodes, conns: map[net.Conn]struct{}{}}
	go b.serve()
	t.Cleanup(func() { ln.Close(); b.cut() })
	return b
}

func (b *balancer) url() string { return "http://" + b.ln.Addr().String() }

func (b *balancer) setNodes(nodes []*node) {
	b.mu.Lock()
	b.nodes = nodes
	b.mu.Unlock()
}

func (b *balancer) route(only *node) {
	b.mu.Lock()
	b.only = only
	b.mu.Unlock()
}

func (b *balancer) setMute(on bool) {
	b.mu.Lock()
	b.mute = on
	b.mu.Unlock()
}

func (b *balancer) muted() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mute
}

func (b *balancer) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.Close()
	}
}

func (b *balancer) serve() {
	for {
		in, err := b.ln.Accept()
		if err != nil {
			return
		}
		go b.handle(in)
	}
}

func (b *balancer) handle(in net.Conn) {
	var out net.Conn
	b.mu.Lock()
	candidates := b.nodes
	if b.only != nil {
		candidates = []*node{b.only}
	}
	start := b.next
	b.next++
	b.mu.Unlock()
	for i := range candidates {
		nd := candidates[(start+i)%len(candidates)]
		if c, err := net.DialTimeout("tcp", nd.addr, time.Second); err == nil {
			out = c
			break
		}
	}
	if out == nil {
		in.Close()
		return
	}
	b.mu.Lock()
	b.conns[in], b.conns[out] = struct{}{}, struct{}{}
	b.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := out.Read(buf)
			if n > 0 && !b.muted() {
				if _, werr := in.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	<-done
	in.Close()
	out.Close()
	b.mu.Lock()
	delete(b.conns, in)
	delete(b.conns, out)
	b.mu.Unlock()
}

// adminBundle sends method (GET or PUT, with body js) to one server's
// admin bundle route and returns the status and the body.
func adminBundle(t testing.TB, nd *node, app, method, js string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, nd.url+"/apps/"+app+"/admin/bundle", strings.NewReader(js))
	req.Header.Set("X-Jazz-Admin-Secret", adminSecret)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// publish PUTs a bundle to one server's admin route.
func publish(t testing.TB, nd *node, app, js string) {
	t.Helper()
	if status, body := adminBundle(t, nd, app, http.MethodPut, js); status/100 != 2 {
		t.Fatalf("publishing on %s: %d %s", nd.name, status, body)
	}
}

// servedBundle is the bundle a server serves, as JSON.
func servedBundle(t testing.TB, nd *node, app string) string {
	t.Helper()
	_, body := adminBundle(t, nd, app, http.MethodGet, "")
	return body
}

// clientOnEach opens a client of the user with secret on every server,
// each following the todos.
func (c *cluster) clientOnEach(t *testing.T, secret string) []*client.Db {
	t.Helper()
	var dbs []*client.Db
	for _, nd := range c.nodes {
		db := c.client(nd.url, secret)
		follow(t, db)
		dbs = append(dbs, db)
	}
	return dbs
}

func decodeBundle(js string) (*bundle.Bundle, error) { return bundle.Decode([]byte(js)) }
