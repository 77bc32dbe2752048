#!/usr/bin/env bash
# The browser end-to-end tests of the example apps: the built npm package and
# the built apps in headless Debian Chromium (playwright-core), against real
# sync servers (dist/jazz-tools) and dev issuers, one per test. ./build.sh test
# calls this after building dist/jazz-tools, the wasm core and bindings/js:
#
#   scripts/dev/e2e.sh [node --test options, e.g. --test-name-pattern=svelte]
#
# Installs what it needs (Chromium with apt when /usr/bin/chromium is missing,
# npm ci in web/examples), type-checks and builds the apps, and runs
# web/examples/e2e/tests with node's test runner. Screenshots land in
# web/examples/e2e/screenshots/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

require_built
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
	progress "installing chromium (apt)" apt_install chromium
fi
FORCE_NPM_CI=${FORCE_NPM_CI:-1} install_examples
(cd "$EXAMPLES" && progress "type-checking the apps, shared/ and the issuer (tsc, vue-tsc, svelte-check)" npm run --silent typecheck)
build_examples
rm -rf "$EXAMPLES/e2e/screenshots"

log "browser end-to-end tests (web/examples/e2e)"
cd "$EXAMPLES/e2e"
# One file at a time: each test starts its own server and browsers, and the
# machine has 2 cores.
exec node --test --test-concurrency=1 --test-reporter=spec "$@" tests/
