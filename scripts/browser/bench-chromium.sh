#!/usr/bin/env bash
# The user-path benchmarks through the built npm package in headless
# Chromium (IndexedDB) against the real sync server: the same scenarios as
# bench-node.sh (test/browser/bench/scenarios.mjs). Prints Go benchmark lines
# on stdout (tools/benchreport runs this script for BENCHMARKS.md) and a
# readable summary on stderr.
#
#   scripts/browser/bench-chromium.sh   # SIZES=5000,25000 SAMPLES=200 FANOUT=50 RUNS=3 TIMEOUT_S=120
#   SIZES=1000 RUNS=1 FANOUT=5 SAMPLES=50 scripts/browser/bench-chromium.sh   # a quick look
#
# Needs a fresh build (./build.sh build); refuses a stale jazz.wasm.
source "$(dirname "$0")/common.sh"
log "Chromium benchmarks through the npm package (test/browser/bench/chromium.mjs)"
node "$TB/bench/chromium.mjs"
