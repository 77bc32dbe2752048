#!/usr/bin/env bash
# The user-path benchmarks through the built npm package's own client in
# Node (the same jazz.wasm a browser loads) against the real sync server:
# the scenarios of test/browser/bench/scenarios.mjs, as bench-chromium.sh
# runs them in a browser. Prints Go benchmark lines on stdout
# (tools/benchreport runs this script for BENCHMARKS.md) and a readable
# summary on stderr.
#
#   scripts/browser/bench-node.sh       # SIZES=5000,25000 SAMPLES=200 FANOUT=50 RUNS=3 TIMEOUT_S=120
#   SIZES=1000 RUNS=1 FANOUT=5 SAMPLES=50 scripts/browser/bench-node.sh   # a quick look
#
# Needs a fresh build (./build.sh build); refuses a stale jazz.wasm.
source "$(dirname "$0")/common.sh"
log "Node benchmarks through the npm package (test/browser/bench/node.mjs)"
node "$TB/bench/node.mjs"
