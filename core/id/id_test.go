package id_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jazzgo/jazz-tools/core/clock"
	"github.com/jazzgo/jazz-tools/core/id"
)

var epoch = time.UnixMilli(1_700_000_000_000)

// checkUUIDv7 asserts the shape RFC 9562 gives a UUIDv7.
func checkUUIDv7(t *testing.T, s string) {
	t.Helper()
	if !id.Valid(s) {
		t.Fatalf("%q is not a valid id", s)
	}
	if s[14] != '7' {
		t.Fatalf("%q: version nibble %c, want 7", s, s[14])
	}
	if !strings.ContainsRune("89ab", rune(s[19])) {
		t.Fatalf("%q: variant nibble %c, want 10xx (8, 9, a or b)", s, s[19])
	}
}

// msOf reads the 48-bit millisecond timestamp back out of an id.
func msOf(t *testing.T, s string) int64 {
	t.Helper()
	var ms int64
	for _, c := range strings.ReplaceAll(s[:13], "-", "") {
		ms = ms<<4 | int64(strings.IndexRune("0123456789abcdef", c))
	}
	return ms
}

func TestNew_TenThousandUniqueValidIDs(t *testing.T) {
	g := id.NewGenerator(nil, nil)
	seen := make(map[string]bool, 10_000)
	for range 10_000 {
		s := g.New()
		checkUUIDv7(t, s)
		if seen[s] {
			t.Fatalf("duplicate id %s", s)
		}
		seen[s] = true
	}
}

func TestNew_OrderedWhenTheClockDoesNotAdvance(t *testing.T) {
	g := id.NewGenerator(clock.NewFake(epoch), nil)
	prev := g.New()
	if got := msOf(t, prev); got != epoch.UnixMilli() {
		t.Fatalf("first id carries ms %d, want %d", got, epoch.UnixMilli())
	}
	// Well past the 4096 ids the 12-bit counter holds in one millisecond.
	for i := 1; i < 10_000; i++ {
		next := g.New()
		checkUUIDv7(t, next)
		if next <= prev {
			t.Fatalf("id #%d %s does not sort after %s", i, next, prev)
		}
		prev = next
	}
}

func TestNew_OrderedAcrossMillisecondTicks(t *testing.T) {
	fake := clock.NewFake(epoch)
	g := id.NewGenerator(fake, nil)
	var all []string
	for tick := range 50 {
		for range 1 + tick*37%200 {
			all = append(all, g.New())
		}
		fake.Advance(time.Millisecond)
	}
	// A burst that overflows one millisecond's counter, then time moves on.
	for range 5000 {
		all = append(all, g.New())
	}
	fake.Advance(time.Millisecond)
	all = append(all, g.New(), g.New())
	fake.Advance(time.Second)
	next := g.New()
	if got := msOf(t, next); got != fake.Now().UnixMilli() {
		t.Errorf("after a second the id carries ms %d, want the clock's %d", got, fake.Now().UnixMilli())
	}
	all = append(all, next)
	for i := 1; i < len(all); i++ {
		checkUUIDv7(t, all[i])
		if all[i] <= all[i-1] {
			t.Fatalf("id #%d %s does not sort after %s", i, all[i], all[i-1])
		}
	}
}

func TestNew_TimestampAndCounterLayout(t *testing.T) {
	fake := clock.NewFake(epoch)
	g := id.NewGenerator(fake, bytes.NewReader(make([]byte, 1<<10)))
	a, b := g.New(), g.New()
	if msOf(t, a) != epoch.UnixMilli() || msOf(t, b) != epoch.UnixMilli() {
		t.Errorf("ids %s %s do not carry ms %d", a, b, epoch.UnixMilli())
	}
	// With all-zero random bytes the id is fully determined.
	if want := "018bcfe5-6800-7000-8000-000000000000"; a != want {
		t.Errorf("first id = %s, want %s", a, want)
	}
	if want := "018bcfe5-6800-7001-8000-000000000000"; b != want {
		t.Errorf("second id = %s, want %s", b, want)
	}
	fake.Advance(time.Millisecond)
	if c := g.New(); c != "018bcfe5-6801-7000-8000-000000000000" {
		t.Errorf("id after a tick = %s, want the counter reset", c)
	}
}

func TestNew_SetsVariantBitsWhateverTheRandomBytes(t *testing.T) {
	g := id.NewGenerator(clock.NewFake(epoch), bytes.NewReader(bytes.Repeat([]byte{0xff}, 1<<10)))
	s := g.New()
	checkUUIDv7(t, s)
	if want := "018bcfe5-6800-7000-bfff-ffffffffffff"; s != want {
		t.Errorf("id = %s, want %s", s, want)
	}
}

func TestNew_ClockGoingBackwardsKeepsOrder(t *testing.T) {
	w := &wobbly{now: epoch}
	g := id.NewGenerator(w, nil)
	prev := g.New()
	for _, step := range []time.Duration{-time.Hour, time.Millisecond, -time.Second, 0, time.Hour} {
		w.Set(w.Now().Add(step))
		next := g.New()
		if next <= prev {
			t.Fatalf("after a %v step, %s does not sort after %s", step, next, prev)
		}
		prev = next
	}
}

func TestNew_ConcurrentIDsAreUnique(t *testing.T) {
	g := id.NewGenerator(clock.NewFake(epoch), nil)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				s := g.New()
				mu.Lock()
				if seen[s] {
					t.Errorf("duplicate %s", s)
				}
				seen[s] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestNew_PanicsWhenRandomSourceFails(t *testing.T) {
	g := id.NewGenerator(clock.NewFake(epoch), failingReader{})
	defer func() {
		if r := recover(); r == nil {
			t.Error("New with a failing random source did not panic")
		}
	}()
	g.New()
}

func TestValid(t *testing.T) {
	cases := []struct {
		s    string
		want bool
	}{
		{"018bcfe5-6800-7000-8000-000000000000", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"6ba7b810-9dad-11d1-80b4-00c04fd430c8", true}, // v1: any version is valid
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", true},
		{"", false},
		{"018BCFE5-6800-7000-8000-000000000000", false},  // uppercase
		{"018bcfe5-6800-7000-8000-00000000000A", false},  // one uppercase digit
		{"018bcfe5-6800-7000-8000-00000000000", false},   // too short
		{"018bcfe5-6800-7000-8000-0000000000000", false}, // too long
		{"018bcfe56800-7000-8000-0000000000000", false},  // dash missing
		{"018bcfe-56800-7000-8000-000000000000", false},  // dash early
		{"018bcfe56-800-7000-8000-000000000000", false},  // dash late
		{"018bcfe5-6800-7000-8000_000000000000", false},  // wrong separator
		{"018bcfe5-6800-7000-8000-00000000000g", false},  // non-hex
		{"018bcfe5-6800-7000-8000-00000000000-", false},  // dash in a digit position
		{"018bcfe568007000800000000000000000000", false}, // no dashes, padded to 36
		{"{18bcfe5-6800-7000-8000-000000000000}", false},
		{"018bcfe5-6800-7000-8000-00000000000é", false},
	}
	for _, tc := range cases {
		if got := id.Valid(tc.s); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestValid_AcceptsEveryGeneratedID(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	fake := clock.NewFake(time.UnixMilli(r.Int64N(1 << 47)))
	g := id.NewGenerator(fake, nil)
	for range 1000 {
		fake.Advance(time.Duration(r.IntN(3)) * time.Millisecond)
		checkUUIDv7(t, g.New())
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

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

func (w *wobbly) AfterFunc(time.Duration, func()) clock.Timer { panic("not used by id") }
