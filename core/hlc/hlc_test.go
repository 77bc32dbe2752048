package hlc_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/hlc"
)

var epoch = time.UnixMilli(1_700_000_000_000)

// wobbly is a wall clock that can be set anywhere, including backwards,
// which clock.Fake refuses to do.
type wobbly struct {
	mu  sync.Mutex
	now time.Time
}

func (w *wobbly) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *wobbly) Set(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = t
}

func (w *wobbly) AfterFunc(time.Duration, func()) clock.Timer { panic("not used by hlc") }

func wantIncreasing(t *testing.T, prev, next hlc.Timestamp) {
	t.Helper()
	if next.Compare(prev) <= 0 {
		t.Fatalf("timestamp %s did not move past %s", next, prev)
	}
	if next.String() <= prev.String() {
		t.Fatalf("encoded %s does not sort after %s", next, prev)
	}
}

func TestNow_UsesWallTimeWhenItAdvances(t *testing.T) {
	fake := clock.NewFake(epoch)
	c := hlc.New(fake, "n1")
	a := c.Now()
	if a != (hlc.Timestamp{Wall: epoch.UnixMilli(), Node: "n1"}) {
		t.Errorf("first Now = %+v", a)
	}
	fake.Advance(5 * time.Millisecond)
	b := c.Now()
	if b != (hlc.Timestamp{Wall: epoch.UnixMilli() + 5, Node: "n1"}) {
		t.Errorf("Now after 5ms = %+v, want logical reset to 0", b)
	}
}

func TestNow_MonotonicWhenTheClockStandsStill(t *testing.T) {
	c := hlc.New(clock.NewFake(epoch), "n1")
	prev := c.Now()
	for i := 1; i <= 1000; i++ {
		next := c.Now()
		wantIncreasing(t, prev, next)
		if next.Wall != epoch.UnixMilli() || next.Logical != uint32(i) {
			t.Fatalf("Now #%d = %+v, want same wall, logical %d", i, next, i)
		}
		prev = next
	}
}

func TestNow_MonotonicWhenTheClockGoesBackwards(t *testing.T) {
	w := &wobbly{now: epoch}
	c := hlc.New(w, "n1")
	prev := c.Now()
	for _, step := range []time.Duration{-time.Hour, time.Millisecond, -time.Millisecond, 0, 2 * time.Hour, -24 * time.Hour, time.Millisecond} {
		w.Set(w.Now().Add(step))
		next := c.Now()
		wantIncreasing(t, prev, next)
		if next.Wall < prev.Wall {
			t.Fatalf("wall went back from %d to %d", prev.Wall, next.Wall)
		}
		prev = next
	}
}

func TestNow_ConcurrentCallsAreDistinct(t *testing.T) {
	c := hlc.New(clock.NewFake(epoch), "n1")
	const workers, each = 8, 200
	out := make(chan hlc.Timestamp, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				out <- c.Now()
			}
		}()
	}
	wg.Wait()
	close(out)
	seen := map[hlc.Timestamp]bool{}
	for ts := range out {
		if seen[ts] {
			t.Fatalf("duplicate timestamp %s", ts)
		}
		seen[ts] = true
	}
}

func TestObserve_LaterNowOrdersAfterRemote(t *testing.T) {
	fake := clock.NewFake(epoch)
	c := hlc.New(fake, "local")
	remotes := []hlc.Timestamp{
		{Wall: epoch.UnixMilli() + 60_000, Logical: 7, Node: "remote"}, // ahead of us
		{Wall: epoch.UnixMilli() + 60_000, Logical: 7, Node: "zzz"},    // same wall and logical, higher node
		{Wall: epoch.UnixMilli() - 60_000, Logical: 99, Node: "old"},   // behind us
		{Wall: epoch.UnixMilli() + hlc.MaxDrift, Node: "edge"},         // exactly at the drift limit
	}
	for _, r := range remotes {
		before := c.Now()
		if err := c.Observe(r); err != nil {
			t.Fatalf("Observe(%s): %v", r, err)
		}
		after := c.Now()
		if after.Compare(r) <= 0 {
			t.Errorf("Now %s after observing %s does not order after it", after, r)
		}
		wantIncreasing(t, before, after)
		if after.Node != "local" {
			t.Errorf("Now carries node %q, want local", after.Node)
		}
	}
}

func TestObserve_MaxLogicalDoesNotWrapAround(t *testing.T) {
	fake := clock.NewFake(epoch)
	c := hlc.New(fake, "local")
	r := hlc.Timestamp{Wall: epoch.UnixMilli() + 10, Logical: math.MaxUint32, Node: "remote"}
	if err := c.Observe(r); err != nil {
		t.Fatal(err)
	}
	a := c.Now()
	if a.Compare(r) <= 0 {
		t.Fatalf("Now %+v after observing %+v orders before it (logical wrapped)", a, r)
	}
	b := c.Now()
	wantIncreasing(t, a, b)
}

func TestObserve_RefusesDrift(t *testing.T) {
	fake := clock.NewFake(epoch)
	c := hlc.New(fake, "local")
	before := c.Now()
	far := hlc.Timestamp{Wall: epoch.UnixMilli() + hlc.MaxDrift + 1, Node: "broken"}
	if err := c.Observe(far); !errors.Is(err, hlc.ErrDrift) {
		t.Fatalf("Observe(far future) = %v, want ErrDrift", err)
	}
	after := c.Now()
	if after.Wall != before.Wall || after.Logical != before.Logical+1 {
		t.Errorf("a refused timestamp moved the clock: %s then %s", before, after)
	}
	// Once our own clock catches up, the same timestamp is accepted.
	fake.Advance(time.Millisecond)
	if err := c.Observe(far); err != nil {
		t.Errorf("Observe after the clock caught up: %v", err)
	}
}

func TestCompare_OrdersByWallThenLogicalThenNode(t *testing.T) {
	ordered := []hlc.Timestamp{
		{},
		{Wall: 0, Logical: 0, Node: "a"},
		{Wall: 0, Logical: 1},
		{Wall: 1, Logical: 0, Node: ""},
		{Wall: 1, Logical: 0, Node: "a"},
		{Wall: 1, Logical: 0, Node: "b"},
		{Wall: 1, Logical: 0, Node: "ba"},
		{Wall: 1, Logical: 2, Node: "a"},
		{Wall: 2, Logical: 0, Node: "a"},
	}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := ordered[i].Compare(ordered[j]); got != want {
				t.Errorf("%+v.Compare(%+v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	if !(hlc.Timestamp{}).IsZero() || (hlc.Timestamp{Node: "a"}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestString_Format(t *testing.T) {
	ts := hlc.Timestamp{Wall: 0x18bcfe56800, Logical: 0x2a, Node: "node-1"}
	if got, want := ts.String(), "0018bcfe56800"+"0000002a"+"node-1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func randomTimestamp(r *rand.Rand) hlc.Timestamp {
	const nodes = "ab-_01zé"
	n := r.IntN(6)
	var sb strings.Builder
	for range n {
		sb.WriteByte(nodes[r.IntN(len(nodes))])
	}
	ts := hlc.Timestamp{Wall: r.Int64N(1 << 52), Logical: r.Uint32(), Node: sb.String()}
	// Cluster some values so ties on wall and logical are common.
	if r.IntN(2) == 0 {
		ts.Wall = r.Int64N(3)
	}
	if r.IntN(2) == 0 {
		ts.Logical = r.Uint32N(3)
	}
	return ts
}

func TestString_ByteOrderIsTimestampOrder(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ts := make([]hlc.Timestamp, 2000)
	for i := range ts {
		ts[i] = randomTimestamp(r)
	}
	for i := 0; i+1 < len(ts); i++ {
		a, b := ts[i], ts[i+1]
		if got, want := strings.Compare(a.String(), b.String()), a.Compare(b); got != want {
			t.Fatalf("byte order %d != Compare %d for %+v and %+v", got, want, a, b)
		}
	}
	byString := append([]hlc.Timestamp(nil), ts...)
	sort.Slice(byString, func(i, j int) bool { return byString[i].String() < byString[j].String() })
	if !sort.SliceIsSorted(byString, func(i, j int) bool { return byString[i].Compare(byString[j]) < 0 }) {
		t.Fatal("sorting by String does not sort by Compare")
	}
}

func TestParse_RoundTripsString(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	fixed := []hlc.Timestamp{
		{},
		{Wall: 1<<52 - 1, Logical: math.MaxUint32, Node: strings.Repeat("n", 64)},
		{Wall: 1, Node: "with space and ünïcode"},
	}
	for i := 0; i < 2000; i++ {
		ts := randomTimestamp(r)
		if i < len(fixed) {
			ts = fixed[i]
		}
		got, err := hlc.Parse(ts.String())
		if err != nil {
			t.Fatalf("Parse(%q): %v", ts.String(), err)
		}
		if got != ts {
			t.Fatalf("Parse(String(%+v)) = %+v", ts, got)
		}
		text, _ := ts.MarshalText()
		var back hlc.Timestamp
		if err := back.UnmarshalText(text); err != nil || back != ts {
			t.Fatalf("UnmarshalText(MarshalText(%+v)) = %+v, %v", ts, back, err)
		}
	}
}

func TestParse_RefusesMalformedAndNonCanonical(t *testing.T) {
	// A valid timestamp is 13 hex digits of wall, 8 of logical, then the node.
	const wall, logical, node = "0018bcfe56800", "0000002a", "n"
	valid := wall + logical + node
	cases := []struct{ name, s string }{
		{"empty", ""},
		{"too short", valid[:20]},
		{"wall only", wall},
		{"node over 64 bytes", wall + logical + strings.Repeat("x", 65)},
		{"uppercase wall", "0018BCFE56800" + logical + node},
		{"uppercase logical", wall + "0000002A" + node},
		{"non-hex wall", "0018bcfe5680g" + logical + node},
		{"non-hex logical", wall + "0000002z" + node},
		{"plus sign in wall", "+018bcfe56800" + logical + node},
		{"plus sign in logical", wall + "+000002a" + node},
		{"minus sign in wall", "-000000000001" + logical + node},
		{"minus sign in logical", wall + "-0000001" + node},
		{"space in wall", " 018bcfe56800" + logical + node},
		{"0x prefix in wall", "0x18bcfe56800" + logical + node},
		{"0x prefix in logical", wall + "0x00002a" + node},
		{"underscore in wall", "0018bcfe_6800" + logical + node},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := hlc.Parse(tc.s)
			if !errors.Is(err, hlc.ErrBadTimestamp) {
				t.Errorf("Parse(%q) = %+v, %v; want ErrBadTimestamp", tc.s, ts, err)
			}
			var u hlc.Timestamp
			if err := u.UnmarshalText([]byte(tc.s)); !errors.Is(err, hlc.ErrBadTimestamp) {
				t.Errorf("UnmarshalText(%q) = %v", tc.s, err)
			}
		})
	}
	if ts, err := hlc.Parse(valid); err != nil || ts != (hlc.Timestamp{Wall: 0x18bcfe56800, Logical: 0x2a, Node: "n"}) {
		t.Errorf("control: Parse(%q) = %+v, %v", valid, ts, err)
	}
}

// Raise is for timestamps the replica already stored: beyond the drift
// limit too, later local timestamps order after them; an older one
// changes nothing.
func TestRaise_LaterNowOrdersAfterStoredTimestamps(t *testing.T) {
	fake := clock.NewFake(epoch)
	c := hlc.New(fake, "local")
	stored := hlc.Timestamp{Wall: epoch.UnixMilli() + 2*hlc.MaxDrift, Logical: 4, Node: "other"}
	c.Raise(stored)
	first := c.Now()
	if first.Compare(stored) <= 0 {
		t.Fatalf("Now %s after Raise(%s) does not order after it", first, stored)
	}
	c.Raise(hlc.Timestamp{Wall: epoch.UnixMilli(), Logical: 1})
	if next := c.Now(); next.Compare(first) <= 0 {
		t.Fatalf("Raise with an older timestamp moved the clock back: %s after %s", next, first)
	}
}
