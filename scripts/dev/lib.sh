# Shared by run.sh and e2e.sh (sourced). Checks that ./build.sh has built
# what the examples use, and installs the examples' npm dependencies.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EXAMPLES=$ROOT/web/examples
SERVER_BIN=${JAZZ_SERVER_BIN:-$ROOT/dist/jazz-tools}

# log, as_root, progress, apt_install
source "$ROOT/scripts/steps.sh"
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# require_built fails with a clear message when the server binary, the npm
# package or its wasm core is missing.
require_built() {
	[ -x "$SERVER_BIN" ] || die "$SERVER_BIN is missing: build the sync server first (./build.sh build, or go build -o dist/jazz-tools ./cmd/jazz-tools)"
	[ -f "$ROOT/bindings/js/dist/index.js" ] || die "bindings/js is not built (bindings/js/dist/index.js missing): run ./build.sh build (or: cd bindings/js && npm ci && npm run build)"
	[ -f "$ROOT/bindings/js/dist/wasm/jazz.wasm" ] || die "bindings/js/dist/wasm/jazz.wasm is missing: build the wasm core (./build.sh build), then npm run build in bindings/js"
	[ -d "$ROOT/bindings/js/node_modules" ] || die "bindings/js/node_modules is missing: run npm ci in bindings/js (./build.sh build does)"
}

# install_examples runs npm ci in web/examples (one npm workspace: the three
# apps, shared/, issuer/, e2e/) unless node_modules already matches the lockfile.
install_examples() {
	local marker=$EXAMPLES/node_modules/.package-lock.json
	if [ "${FORCE_NPM_CI:-0}" = 1 ] || [ ! -f "$marker" ] || [ "$EXAMPLES/package-lock.json" -nt "$marker" ]; then
		(cd "$EXAMPLES" && progress "npm ci (web/examples)" npm ci --no-audit --no-fund --loglevel=error)
	fi
}

# build_examples compiles shared/schema.ts to shared/bundle.json with the
# package's jazz-tools-bundle CLI, then vite-builds the three apps.
build_examples() {
	(cd "$EXAMPLES" && progress "compiling the schema and permissions bundle (jazz-tools-bundle)" npm run --silent bundle)
	(cd "$EXAMPLES" && progress "building the React, Vue and Svelte apps (vite build)" npm run --silent build)
}
