#!/usr/bin/env bash
# Sync benchmarks of the built npm package's own client in Node (the same
# jazz.wasm a browser loads) against the real sync server. Prints Go benchmark
# lines on stdout (tools/benchreport runs this script for BENCHMARKS.md) and a
# readable summary on stderr.
#
#   scripts/browser/bench-node.sh                     # ROWS=5000 SAMPLES=200 FANOUT=50
#   ROWS=5000,25000 scripts/browser/bench-node.sh     # the 25k-row figures too (slow today)
#
# Needs a fresh build (./build.sh build); refuses a stale jazz.wasm.
source "$(dirname "$0")/common.sh"
log "Node benchmarks through the npm package (test/browser/bench/node.mjs)"
node "$TB/bench/node.mjs"
