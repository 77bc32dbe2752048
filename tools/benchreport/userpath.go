package main

import (
	"fmt"
	"math"
	"strings"
)

// The path users run: the same scenarios natively (the Go client,
// test/integration/userpath_bench_test.go), through the npm package in
// Node (scripts/browser/bench-node.sh) and in headless Chromium
// (scripts/browser/bench-chromium.sh), in one table with the goals. The
// native column is the reference: Node/native and Chromium/native are what
// the wasm bridge and the JS around it add.

// timeoutUnit is the metric of a scenario that missed its deadline.
const timeoutUnit = "timeout-s"

// runtimes are the columns, by benchmark name prefix.
var runtimes = []struct{ name, prefix string }{
	{"native", "BenchmarkNative"},
	{"Node", "BenchmarkNode"},
	{"Chromium", "BenchmarkChromium"},
}

// figure is one runtime's result of one scenario.
type figure struct {
	a, b     float64 // the figure (ms): a time, or p50 and p99
	timedOut float64 // the deadline (s) it missed, else 0
	ok       bool    // measured
}

// cell shows f; latency figures as "p50 / p99".
func (f figure) cell(latency bool) string {
	switch {
	case f.timedOut > 0:
		return fmt.Sprintf("timed out after %.0f s", f.timedOut)
	case !f.ok:
		return "not measured"
	case latency:
		return fmt.Sprintf("%s / %s", ms(f.a), ms(f.b))
	}
	return human(f.a * 1e6)
}

func ms(x float64) string {
	if x < 1 {
		return fmt.Sprintf("%.3f ms", x)
	}
	return fmt.Sprintf("%.3g ms", x)
}

// timedOut describes name's timeouts (ns/op figures of its completed runs too).
func timedOut(res map[string][]float64, name string) string {
	to := res[name+"|"+timeoutUnit]
	s := fmt.Sprintf("timed out after %.0f s", median(to))
	if done := res[name]; len(done) > 0 {
		s += fmt.Sprintf(" in %d of %d runs (the others: median %s)", len(to), len(to)+len(done), human(median(done)))
	}
	return s
}

// get reads one runtime's figure: ns/op for a time (in ms), else the
// p50-ms and p99-ms metrics. Any timeout makes it a timeout.
func get(res map[string][]float64, name string, latency bool) figure {
	if to := res[name+"|"+timeoutUnit]; len(to) > 0 {
		return figure{timedOut: median(to)}
	}
	if latency {
		p50, p99 := res[name+"|p50-ms"], res[name+"|p99-ms"]
		if len(p50) == 0 || len(p99) == 0 {
			return figure{}
		}
		return figure{a: median(p50), b: median(p99), ok: true}
	}
	if x := res[name]; len(x) > 0 {
		return figure{a: median(x) / 1e6, ok: true}
	}
	return figure{}
}

// scenario is one row of the table.
type scenario struct {
	what    string
	name    string // after the runtime prefix
	latency bool
	goal    string
	// meets reports whether a measured figure meets the goal (nil: no goal).
	meets func(f figure) bool
}

func hasPrefix(res map[string][]float64, prefixes ...string) bool {
	for k := range res {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
	}
	return false
}

func writeUserPath(b *strings.Builder, res map[string][]float64) {
	rows := []scenario{
		{what: "floor: an empty round trip through the bridge (all() of a query no row matches, no server; natively the Go client's All())", name: "Floor", latency: true},
		{what: "second floor: a raw WebSocket to the server, ping to pong (no package)", name: "Echo", latency: true},
		{what: "a write on A seen by B's subscription", name: "WriteSeenByOtherClient", latency: true, goal: "p50 ≤ 2 ms, p99 ≤ 10 ms",
			meets: func(f figure) bool { return f.a <= 2 && f.b <= 10 }},
		{what: "A writes 5k rows until B's subscription shows them all", name: "Ingest/rows=5000"},
		{what: "A writes 25k rows until B's subscription shows them all", name: "Ingest/rows=25000", goal: "≤ 2 s",
			meets: func(f figure) bool { return f.a <= 2000 }},
		{what: "a new client subscribes to the 5k rows until it has them all", name: "NewClient/rows=5000"},
		{what: "a new client subscribes to the 25k rows until it has them all", name: "NewClient/rows=25000", goal: "≤ 0.8 s",
			meets: func(f figure) bool { return f.a <= 800 }},
		{what: "50 subscribed clients, one writer: until the last shows a write", name: "Fanout/subscribers=50", latency: true, goal: "p50 ≤ 20 ms, p99 ≤ 60 ms",
			meets: func(f figure) bool { return f.a <= 20 && f.b <= 60 }},
		{what: "local insert to its own subscription's callback, 5k rows in the result", name: "InsertToCallback/rows=5000", latency: true},
		{what: "local insert to its own subscription's callback, 25k rows in the result", name: "InsertToCallback/rows=25000", latency: true, goal: "p50 ≤ 1 ms",
			meets: func(f figure) bool { return f.a <= 1 }},
	}
	b.WriteString("\n## The path users run: native, Node and Chromium\n\n")
	b.WriteString("The same scenarios (test/browser/bench/scenarios.mjs) with the Go client natively (test/integration/userpath_bench_test.go), ")
	b.WriteString("through the npm package's own client in Node (memory storage; all clients in one worker thread) and in headless Chromium ")
	b.WriteString("(IndexedDB; A, B and each new client a separate browser profile, the 50 subscribers a page each), against the durable server ")
	b.WriteString("(bbolt, fsync). All clients are devices of one user. Latencies are p50 / p99; each figure is the median of several runs. ")
	b.WriteString("A scenario that misses its deadline shows as timed out and ends its run (a larger size is then not measured). ")
	b.WriteString("The ratios compare the medians (p50 for latencies) with the native figure: what the bridge and the JS around it add.\n\n")
	b.WriteString("| scenario | native | Node | Chromium | goal | verdict | Node / native | Chromium / native |\n|---|---|---|---|---|---|---|---|\n")
	figs := func(name string, latency bool) []figure {
		var out []figure
		for _, r := range runtimes {
			out = append(out, get(res, r.prefix+name, latency))
		}
		return out
	}
	for _, sc := range rows {
		fs := figs(sc.name, sc.latency)
		cells := make([]string, len(fs))
		for i, f := range fs {
			cells[i] = f.cell(sc.latency)
		}
		goal, verdicts := "—", "—"
		if sc.meets != nil {
			goal = sc.goal
			var vs []string
			for i, f := range fs {
				vs = append(vs, runtimes[i].name+" "+judge(f, sc.meets))
			}
			verdicts = strings.Join(vs, ", ")
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", sc.what, cells[0], cells[1], cells[2], goal, verdicts, over(fs[1], fs[0]), over(fs[2], fs[0]))
	}
	// The scaling goal: 25k rows may cost at most 5.5 times 5k rows.
	var cells, vs []string
	for _, r := range runtimes {
		small, large := get(res, r.prefix+"Ingest/rows=5000", false), get(res, r.prefix+"Ingest/rows=25000", false)
		switch {
		case small.ok && large.ok:
			x := large.a / small.a
			cells = append(cells, fmt.Sprintf("%.2fx", x))
			vs = append(vs, r.name+" "+verdict(x <= 5.5))
		case small.timedOut > 0 || large.timedOut > 0:
			cells = append(cells, "timed out")
			vs = append(vs, r.name+" MISSES")
		default:
			cells = append(cells, "not measured")
			vs = append(vs, r.name+" not measured")
		}
	}
	fmt.Fprintf(b, "| ingest, 25k rows vs 5k rows | %s | %s | %s | ≤ 5.5x | %s | | |\n", cells[0], cells[1], cells[2], strings.Join(vs, ", "))
	writeFloors(b, res)
}

// writeFloors says, from this run's own figures, what each goal stands on:
// the floors the issue asks to state where a goal is out of reach here.
func writeFloors(b *strings.Builder, res map[string][]float64) {
	node := func(name string, latency bool) figure { return get(res, runtimes[1].prefix+name, latency) }
	native := func(name string, latency bool) figure { return get(res, runtimes[0].prefix+name, latency) }
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	rowNative, rowWasm := medianOr0(res["BenchmarkReceiveRows|ns/row"]), medianOr0(res["BenchmarkReceiveRowsWasm|ns/row"])
	if rowNative > 0 && rowWasm > 0 {
		add("Receiving a row (decode its frame, merge it under a live query, encode the page's delta; core/live BenchmarkReceiveRows) costs %.0f µs natively and %.0f µs as wasm (%.1fx). "+
			"A new client's 25k rows through the package therefore cannot arrive in less than %.2f s of the core's own work here, against a goal of 0.8 s.",
			rowNative/1e3, rowWasm/1e3, rowWasm/rowNative, 25000*rowWasm/1e9)
	}
	if f := native("Ingest/rows=25000", false); f.ok {
		add("Writing 25k rows until another client has them takes %.2f s with the native client against the same server (%.0f µs a row: the writer's batches, the server's checks and fsync, the reader's merge), so the 2 s goal is below what the native path does here before any wasm is involved.",
			f.a/1e3, f.a*1e3/25000)
	}
	if w, fl, e := node("WriteSeenByOtherClient", true), node("Floor", true), node("Echo", true); w.ok && fl.ok && e.ok {
		add("A write seen by another client in Node (p50 %.2f ms) stands on an empty round trip through the bridge (%.2f ms) on each side and a WebSocket round trip (%.2f ms); the rest is the core's handling of the push and of the rows frame, in wasm on both clients.",
			w.a, fl.a, e.a)
	}
	if f := node("Fanout/subscribers=50", true); f.ok {
		add("The 50 subscribers in Node share one thread: the last one sees the write after the other 49 have handled it, %.2f ms each at the p50. In Chromium each is its own page with its own wasm instance, 50 of them on this machine's 2 cores.",
			f.a/50)
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("\nWhere the time goes (the floors under the goals this machine misses):\n\n")
	for _, l := range lines {
		fmt.Fprintf(b, "- %s\n", l)
	}
}

// judge is a verdict on f: a timeout misses every goal here (each deadline is
// longer than any goal).
func judge(f figure, meets func(figure) bool) string {
	switch {
	case f.timedOut > 0:
		return "MISSES"
	case !f.ok:
		return "not measured"
	}
	return verdict(meets(f))
}

// over is x's figure over the native one's (p50 for latencies).
func over(x, native figure) string {
	switch {
	case !native.ok:
		return ""
	case x.timedOut > 0:
		return fmt.Sprintf("> %.0fx", x.timedOut*1000/native.a)
	case !x.ok:
		return ""
	case native.a == 0 || math.IsInf(x.a/native.a, 0):
		return ""
	}
	return fmt.Sprintf("%.1fx", x.a/native.a)
}

// medianOr0 is median, or 0 for no figures.
func medianOr0(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return median(xs)
}
