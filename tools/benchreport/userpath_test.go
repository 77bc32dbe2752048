package main

import (
	"strings"
	"testing"
)

// A run's lines as the three runtimes print them, one scenario timed out.
const sample = `BenchmarkNativeWriteSeenByOtherClient-2   	     200	   3078128 ns/op	         1.5 p50-ms	        9 p99-ms
BenchmarkNativeIngest/rows=5000-2   	       1	1000000000 ns/op
BenchmarkNativeIngest/rows=25000-2  	       1	5000000000 ns/op
BenchmarkNodeWriteSeenByOtherClient	1	8000000 ns/op	8.000 p50-ms	20.000 p99-ms
BenchmarkNodeIngest/rows=5000	1	120000000000 ns/op	120.000 timeout-s
BenchmarkChromiumWriteSeenByOtherClient	1	1900000 ns/op	1.900 p50-ms	9.000 p99-ms
BenchmarkChromiumIngest/rows=5000	1	3000000000 ns/op
BenchmarkChromiumIngest/rows=25000	1	18000000000 ns/op
BenchmarkNativeNewClient/rows=25000-2  	       1	500000000 ns/op
BenchmarkChromiumNewClient/rows=25000	1	120000000000 ns/op	120.000 timeout-s
BenchmarkReceiveRows-2   	      10	 100000000 ns/op	     20000 ns/row
BenchmarkReceiveRowsWasm 	       5	 500000000 ns/op	    100000 ns/row
`

func row(t *testing.T, table, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, "| "+prefix) {
			return l
		}
	}
	t.Fatalf("no row %q in:\n%s", prefix, table)
	return ""
}

func TestUserPathTable(t *testing.T) {
	res, _ := parse([]byte(sample))
	if _, ok := res["BenchmarkNodeIngest/rows=5000"]; ok {
		t.Fatal("a timed-out line was kept as a figure")
	}
	var b strings.Builder
	writeUserPath(&b, res)
	out := b.String()

	seen := row(t, out, "a write on A seen by B")
	for _, want := range []string{"| 1.5 ms / 9 ms |", "native meets, Node MISSES, Chromium meets", "| 5.3x | 1.3x |"} {
		if !strings.Contains(seen, want) {
			t.Errorf("write-seen row lacks %q:\n%s", want, seen)
		}
	}
	ingest := row(t, out, "A writes 5k rows")
	if !strings.Contains(ingest, "| timed out after 120 s |") || !strings.Contains(ingest, "> 120x") {
		t.Errorf("ingest row does not show Node's timeout:\n%s", ingest)
	}
	ratio := row(t, out, "ingest, 25k rows vs 5k rows")
	for _, want := range []string{"| 5.00x | timed out | 6.00x |", "native meets, Node MISSES, Chromium MISSES"} {
		if !strings.Contains(ratio, want) {
			t.Errorf("ratio row lacks %q:\n%s", want, ratio)
		}
	}
	if nc := row(t, out, "a new client subscribes to the 25k"); !strings.Contains(nc, "native meets, Node not measured, Chromium MISSES") {
		t.Errorf("new-client row does not judge the timeout:\n%s", nc)
	}
	// The floors come from the same run: 25k rows at 100 µs a row in wasm.
	for _, want := range []string{"20 µs natively and 100 µs as wasm (5.0x)", "less than 2.50 s", "takes 5.00 s with the native client"} {
		if !strings.Contains(out, want) {
			t.Errorf("the floors lack %q:\n%s", want, out)
		}
	}
	if fan := row(t, out, "50 subscribed clients"); strings.Count(fan, "not measured") != 6 {
		t.Errorf("fan-out row should be not measured everywhere:\n%s", fan)
	}
}
