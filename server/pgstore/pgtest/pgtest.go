// Package pgtest gives tests a PostgreSQL database: JAZZ_TEST_DATABASE_URL
// when set, else a throwaway cluster started from Debian's postgresql
// package in a temp dir, on a loopback port, as the postgres user when run
// as root (initdb refuses root), and removed by Stop.
//
// Without PostgreSQL installed, URL skips the test, unless
// JAZZ_REQUIRE_POSTGRES=1 (which ./build.sh test sets after installing
// it), where it fails: the suite that promises to test on PostgreSQL
// cannot pass by skipping.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	once    sync.Once
	url     string
	startEr error
	dir     string
	pgctl   string
	asUser  []string
)

// URL returns the database URL, starting the cluster on first use.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { url, startEr = start() })
	if startEr != nil {
		if os.Getenv("JAZZ_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL: %v", startEr)
		}
		t.Skipf("PostgreSQL not available (%v); set JAZZ_TEST_DATABASE_URL or install postgresql", startEr)
	}
	return url
}

// Stop stops the cluster URL started, if any, and removes its files. Call
// it from TestMain after m.Run.
func Stop() {
	if dir == "" {
		return
	}
	full := append(append([]string{}, asUser...), pgctl, "-D", filepath.Join(dir, "data"), "-m", "immediate", "stop")
	_ = exec.Command(full[0], full[1:]...).Run()
	_ = os.RemoveAll(dir)
	dir = ""
}

func start() (string, error) {
	if u := os.Getenv("JAZZ_TEST_DATABASE_URL"); u != "" {
		return u, nil
	}
	bin, err := binDir()
	if err != nil {
		return "", err
	}
	pgctl = filepath.Join(bin, "pg_ctl")
	d, err := os.MkdirTemp("", "jazz-pg-")
	if err != nil {
		return "", err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(d)
			return "", fmt.Errorf("running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(d, uid, gid); err != nil {
			os.RemoveAll(d)
			return "", err
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	dir = d
	run := func(name string, args ...string) error {
		full := append(append([]string{}, asUser...), append([]string{filepath.Join(bin, name)}, args...)...)
		out, err := exec.Command(full[0], full[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out)
		}
		return nil
	}
	data := filepath.Join(d, "data")
	if err := run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		Stop()
		return "", err
	}
	port, err := freePort()
	if err != nil {
		Stop()
		return "", err
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200", port, d)
	if err := run("pg_ctl", "-D", data, "-w", "-t", "60", "-l", filepath.Join(d, "log"), "-o", opts, "start"); err != nil {
		Stop()
		return "", err
	}
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		Stop()
		return "", err
	}
	c.Close(ctx)
	return u, nil
}

// binDir finds the PostgreSQL server programs: on PATH, else Debian's
// /usr/lib/postgresql/<newest>/bin.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		return "", errors.New("initdb not found")
	}
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return a < b
	})
	return filepath.Dir(dirs[len(dirs)-1]), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
