#!/usr/bin/env bash
# Browser tests of the built jazz-tools (bindings/js/dist + its jazz.wasm) in
# Debian's headless Chromium, driven by playwright-core, against the real sync
# server: offline writes across a reload, two tabs, the private-mode fallback,
# and a freshness check of the artifact. Build it first:
#
#   ./build.sh build                  # or build_wasm + (cd bindings/js && npm ci && npm run build)
#   scripts/browser/test.sh           # all tests (about 1 minute once installed)
#   scripts/browser/test.sh --test-name-pattern=tabs
#
# Extra arguments go to `node --test`. Environment: JAZZ_JS_DIST, JAZZ_WASM_DIR,
# JAZZ_SERVER_BIN, JAZZ_CHROMIUM (see test/browser/lib/harness.mjs).
source "$(dirname "$0")/common.sh"
log "browser tests (test/browser/tests)"
cd "$TB"
node --test --test-concurrency=1 --test-reporter=spec "$@" tests/
