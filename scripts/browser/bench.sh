#!/usr/bin/env bash
# Browser benchmarks of the built jazz-tools in headless Chromium: cold start
# over 10k rows persisted in IndexedDB, and insert-to-subscription-callback.
# Prints Go benchmark lines on stdout (tools/benchreport parses them; it runs
# this script for BENCHMARKS.md) and a readable summary on stderr.
#
#   scripts/browser/bench.sh                        # COLD_RUNS=9 ROWS=10000 SAMPLES=500
#   COLD_RUNS=3 ROWS=1000 scripts/browser/bench.sh  # a quick look
#
# Needs a fresh build (./build.sh build); refuses a stale jazz.wasm.
source "$(dirname "$0")/common.sh"
log "browser benchmarks (test/browser/bench/bench.mjs)"
node "$TB/bench/bench.mjs"
