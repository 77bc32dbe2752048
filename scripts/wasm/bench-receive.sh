#!/usr/bin/env bash
# The client's cost per received row (core/live BenchmarkReceiveRows: decode
# a rows frame, merge it under a live subscription, encode the page's delta),
# natively and compiled to WebAssembly in Node. Prints Go benchmark lines,
# the wasm ones renamed ...Wasm, for tools/benchreport.
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench 'BenchmarkReceiveRows$' -benchtime 10x -count "${COUNT:-3}" ./core/live | grep '^Benchmark'
GOOS=js GOARCH=wasm go test -run '^$' -bench 'BenchmarkReceiveRows$' -benchtime 5x -count "${COUNT:-3}" \
	-exec "$PWD/scripts/wasm/go_js_wasm_exec" ./core/live | grep '^Benchmark' | sed 's/^BenchmarkReceiveRows/BenchmarkReceiveRowsWasm/'
