package boltstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/storage"
)

// The crash test re-executes this test binary as a writer child. These
// variables carry its instructions.
const (
	crashChildEnv = "BOLTSTORE_CRASH_CHILD" // database path; set only in the child
	crashStartEnv = "BOLTSTORE_CRASH_START" // first batch number to write
)

// crashBatchKeys is how many keys each numbered batch writes to "batches".
const crashBatchKeys = 8

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path))
	}
	os.Exit(m.Run())
}

func crashKey(n, i int) []byte { return fmt.Appendf(nil, "%08d/%02d", n, i) }

// crashValue varies in size so batches span page boundaries differently.
func crashValue(n, i int) []byte {
	return []byte(fmt.Sprintf("batch %d key %d ", n, i) + strings.Repeat("x", (n*7+i*13)%300))
}

// crashBatch is batch n: crashBatchKeys puts, plus a cross-bucket
// overwrite and a delete, so a torn batch would show in several places.
func crashBatch(n int) []storage.Op {
	ops := make([]storage.Op, 0, crashBatchKeys+3)
	for i := range crashBatchKeys {
		ops = append(ops, storage.Put("batches", crashKey(n, i), crashValue(n, i)))
	}
	return append(ops,
		storage.Put("meta", []byte("last"), []byte(strconv.Itoa(n))),
		storage.Del("tmp", []byte(strconv.Itoa(n-1))),
		storage.Put("tmp", []byte(strconv.Itoa(n)), nil),
	)
}

// crashChild writes numbered batches until killed, printing each batch
// number on stdout only after Apply has returned nil: a printed number is an
// acknowledged, supposedly durable batch.
func crashChild(path string) int {
	start, err := strconv.Atoi(os.Getenv(crashStartEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad start:", err)
		return 2
	}
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// Safety net if the parent dies without killing us; a write to a closed
	// stdout pipe would also end the process.
	deadline := time.Now().Add(30 * time.Second)
	for n := start; time.Now().Before(deadline); n++ {
		if err := s.Apply(context.Background(), crashBatch(n)); err != nil {
			fmt.Fprintln(os.Stderr, "apply:", err)
			return 2
		}
		fmt.Println(n) // one write(2) per line, after the ack
	}
	fmt.Fprintln(os.Stderr, "child was never killed")
	return 3
}

// TestCrashKeepsAckedBatches SIGKILLs a writer at random points and checks
// that every batch it acknowledged survived, complete, and that no batch is
// torn. SIGKILL tests process death (the kernel keeps the page cache); it
// cannot simulate power loss, for which bbolt relies on fsync, which Apply
// always does.
func TestCrashKeepsAckedBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writer processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	next := 0 // the same file is reused, so later rounds reopen a crashed file
	for round := range 3 {
		killAfter := 150 + rand.IntN(250)
		lastAck := crashRound(t, path, next, killAfter)
		maxPresent := verifyCrashFile(t, path, lastAck)
		t.Logf("round %d: killed after %d acks (batches %d..%d acked, %d..%d on disk)",
			round, killAfter, next, lastAck, next, maxPresent)
		next = maxPresent + 1
	}
}

// crashRound runs one child from batch start, kills it once it has acked at
// least killAfter batches plus a random extra delay, and returns the highest
// acknowledged batch number.
func crashRound(t *testing.T, path string, start, killAfter int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashStartEnv+"="+strconv.Itoa(start))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lastAck, acks, killed := start-1, 0, false
	sc := bufio.NewScanner(out)
	// Keep reading after the kill: lines already in the pipe were acked too.
	for sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		if err != nil {
			_ = cmd.Process.Kill()
			t.Fatalf("child printed %q", sc.Text())
		}
		if n != lastAck+1 {
			_ = cmd.Process.Kill()
			t.Fatalf("child acked %d after %d", n, lastAck)
		}
		lastAck = n
		acks++
		if acks == killAfter && !killed {
			// Land the kill at a random point of the next Apply (or between).
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d acks before being killed: %v\n%s", acks, err, stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Fatalf("child did not die by signal: %v\n%s", err, stderr.String())
	}
	return lastAck
}

// verifyCrashFile reopens the file and checks it: every batch up to lastAck
// is complete, at most one unacknowledged batch (the one in flight) landed,
// and it too is complete, with meta and tmp agreeing. It returns the highest
// batch on disk.
func verifyCrashFile(t *testing.T, path string, lastAck int) int {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	checkFile(t, s)

	counts := map[int]int{}
	err = s.Scan(ctx, "batches", nil, func(k, v []byte) error {
		var n, i int
		if _, err := fmt.Sscanf(string(k), "%08d/%02d", &n, &i); err != nil {
			return fmt.Errorf("bad key %q: %v", k, err)
		}
		if string(v) != string(crashValue(n, i)) {
			return fmt.Errorf("key %q holds a wrong value (%d bytes)", k, len(v))
		}
		counts[n]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	maxPresent := -1
	for n, c := range counts {
		if c != crashBatchKeys {
			t.Errorf("batch %d is torn: %d of %d keys", n, c, crashBatchKeys)
		}
		maxPresent = max(maxPresent, n)
	}
	for n := 0; n <= lastAck; n++ {
		if counts[n] == 0 {
			t.Errorf("acknowledged batch %d is missing", n)
		}
	}
	if len(counts) != maxPresent+1 {
		t.Errorf("batches 0..%d should all be present, found %d", maxPresent, len(counts))
	}
	if maxPresent < lastAck || maxPresent > lastAck+1 {
		t.Errorf("highest batch on disk %d, last ack %d: want ack or ack+1", maxPresent, lastAck)
	}
	if v, ok, err := s.Get(ctx, "meta", []byte("last")); err != nil || !ok || string(v) != strconv.Itoa(maxPresent) {
		t.Errorf("meta/last = %q %v %v, want %d", v, ok, err, maxPresent)
	}
	var tmp []string
	if err := s.Scan(ctx, "tmp", nil, func(k, v []byte) error { tmp = append(tmp, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(tmp) != 1 || tmp[0] != strconv.Itoa(maxPresent) {
		t.Errorf("tmp bucket = %v, want exactly [%d]", tmp, maxPresent)
	}
	if t.Failed() {
		t.FailNow()
	}
	return maxPresent
}
