#!/usr/bin/env bash
# One entry point for building, running and testing the project.
#
#   ./build.sh dev     build everything and run the sync server with the example apps
#   ./build.sh test    install what the tests need, then run every test layer
#   ./build.sh bench   run the benchmarks and rewrite BENCHMARKS.md
#   ./build.sh build   build the server binary (dist/), the wasm core and the npm package
#
# Every subcommand installs what it needs on a fresh Debian machine with Go and
# Node, so a clean clone works with no manual steps.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# log, as_root, progress, apt_install
source scripts/steps.sh

# server_version is the version stamped into dist/jazz-tools: the npm
# package's (one number for the whole project), the commit and, when the
# work tree has changes, ".dirty". "jazz-tools version" prints it.
server_version() {
	local v rev
	v=$(node -p 'require("./bindings/js/package.json").version')
	if rev=$(git rev-parse --short=12 HEAD 2>/dev/null); then
		v="$v+g$rev"
		[ -z "$(git status --porcelain 2>/dev/null)" ] || v="$v.dirty"
	fi
	printf '%s\n' "$v"
}

build_server() {
	mkdir -p dist
	local v
	v=$(server_version)
	progress "building dist/jazz-tools $v" go build -trimpath -ldflags "-X main.version=$v" -o dist/jazz-tools ./cmd/jazz-tools
}

# check_server_version fails when the built binary does not report the
# version build_server stamped (a renamed variable makes -X a no-op).
check_server_version() {
	local want got
	want=$(server_version)
	got=$(dist/jazz-tools version)
	case $got in
	"jazz-tools $want "*) log "dist/jazz-tools version: $got" ;;
	*) log "dist/jazz-tools version says \"$got\", want $want" && return 1 ;;
	esac
}

# ensure_postgres installs Debian's PostgreSQL server: the PostgreSQL store's
# and the cluster tests start throwaway clusters of it (server/pgstore/pgtest).
# It waits for an apt lock another install holds rather than failing.
ensure_postgres() {
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return
	log "installing postgresql (apt)"
	local apt=(apt-get -o DPkg::Lock::Timeout=600)
	as_root "${apt[@]}" install -y postgresql >/dev/null 2>&1 || {
		as_root "${apt[@]}" update >/dev/null && as_root "${apt[@]}" install -y postgresql >/dev/null
	}
}

# --- wasm client (wasm/, scripts/wasm/) --------------------------------------
WASM_OUT=bindings/js/wasm

# build_wasm builds bindings/js/wasm/{jazz.wasm,wasm_exec.js}, stamps BUILD_ID
# (a hash of the Go sources the wasm is built from, see tools/buildinfo)
# and measures the download size into SIZES.json.
build_wasm() {
	command -v brotli >/dev/null || progress "installing brotli (apt)" apt_install brotli
	mkdir -p "$WASM_OUT"
	local before after raw gz br
	before=$(go run ./tools/buildinfo/buildid)
	# Inlining copies a function's body into each caller; in WebAssembly that
	# is download size. It is turned off only where a page spends no time
	# per row or per call (identity and bundle: once per open; session:
	# once per auth; the package's calls, core/client/jsapi and the bridge:
	# once per call, the rows' work is the engine's and live's; the
	# IndexedDB and WebSocket adapters: JavaScript's time dominates; fmt,
	# time, unicode, strings, strconv, sort and context: errors, clocks and
	# the odd string check; reflect and encoding/json: no frame on a hot
	# path goes through reflection any more, rows, deltas, acks and pushes
	# have their own codecs), which saves ~50 KB brotli. Everywhere else it
	# measurably pays (engine, live, sync, client: 5-20% slower without it
	# through the package in Node).
	local noinline="" p
	for p in ./core/identity ./core/bundle ./core/session ./core/client/jsapi ./wasm/bridge ./wasm/idbstore ./wasm/jsws \
		fmt time unicode strings strconv sort context reflect encoding/json; do
		noinline="$noinline -gcflags=$p=-l"
	done
	# shellcheck disable=SC2086 # one flag per package
	progress "building $WASM_OUT/jazz.wasm (a minute or two)" \
		env GOOS=js GOARCH=wasm go build -trimpath $noinline -ldflags='-s -w' -o "$WASM_OUT/jazz.wasm" ./wasm
	cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" "$WASM_OUT/wasm_exec.js"
	after=$(go run ./tools/buildinfo/buildid)
	# Sources edited during the build: mark the wasm stale rather than lie.
	[ "$before" = "$after" ] || before="sources-changed-during-build"
	printf '%s\n' "$before" >"$WASM_OUT/BUILD_ID"
	raw=$(wc -c <"$WASM_OUT/jazz.wasm")
	log "measuring the download size (gzip -9, brotli -q 11)"
	brotli -q 11 -c "$WASM_OUT/jazz.wasm" | wc -c >"$WASM_OUT/.brotli.tmp" &
	gz=$(gzip -9 -c "$WASM_OUT/jazz.wasm" | wc -c)
	wait $!
	br=$(cat "$WASM_OUT/.brotli.tmp")
	rm -f "$WASM_OUT/.brotli.tmp"
	printf '{"buildId":"%s","raw":%d,"gzip":%d,"brotli":%d}\n' "$before" "$raw" "$gz" "$br" >"$WASM_OUT/SIZES.json"
	log "jazz.wasm: raw $raw B, gzip -9 $gz B, brotli -q 11 $br B (budget 1500000 B brotli)"
}

# test_wasm runs the wasm tests in Node and in headless Chromium, then
# against a real server, checks dependencies and the size budget, and
# smoke-tests the built jazz.wasm. Needs build_wasm first.
test_wasm() {
	[ -x /usr/bin/chromium ] || command -v chromium >/dev/null || progress "installing chromium (apt)" apt_install chromium
	local gobin
	gobin="$(go env GOPATH)/bin"
	[ -x "$gobin/wasmbrowsertest" ] || { log "installing wasmbrowsertest"; go install github.com/agnivade/wasmbrowsertest@v0.11.0; }
	export PATH="$gobin:$PATH"
	log "wasm tests in Node"
	GOOS=js GOARCH=wasm go test -count=1 -exec "$ROOT/scripts/wasm/go_js_wasm_exec" ./wasm/...
	log "wasm tests in headless Chromium"
	GOOS=js GOARCH=wasm go test -count=1 -exec wasmbrowsertest ./wasm/... 2>&1 | { grep -v 'IPAddressSpace' || true; }
	log "smoke test of the built $WASM_OUT/jazz.wasm in Node"
	node --experimental-websocket --disable-warning=ExperimentalWarning scripts/wasm/node-run.mjs --check-fresh
	log "wasm tests against a real server (Node, Chromium); dependency and size checks"
	JAZZ_WASM_E2E=1 JAZZ_WASM_SIZE_CHECK=1 go test -count=1 -v ./wasm/internal/...
}

# --- npm package (bindings/js) ----------------------------------------------

# build_js installs the package's locked dependencies and builds it (with the
# wasm from build_wasm copied in).
build_js() {
	(cd bindings/js && progress "npm ci (bindings/js)" npm ci --no-audit --no-fund --loglevel=error &&
		progress "npm run build (bindings/js)" npm run build)
}

# test_js runs the package's tests (the DSL, the Db facade and the React,
# Vue and Svelte adapters against the real wasm core), the type tests of the
# documentation snippets, and the per-adapter bundle-size budget.
test_js() {
	log "npm test (bindings/js)"
	(cd bindings/js && npm test &&
		progress "type-checking bindings/js (tsc, vue-tsc, svelte-check)" npm run --silent typecheck &&
		progress "bundle-size budget (bindings/js)" npm run size)
}

cmd_build() {
	build_server
	build_wasm
	build_js
}

# The browser end-to-end tests of the example apps (scripts/dev/e2e.sh) need
# everything built: server, wasm, npm package.
cmd_test() {
	log "go vet"
	go vet ./...
	ensure_postgres
	log "go test (native, race detector on; PostgreSQL required)"
	JAZZ_REQUIRE_POSTGRES=1 go test -race -count=1 ./...
	build_wasm
	test_wasm
	build_js
	test_js
	build_server
	check_server_version
	log "shell checks of scripts/ (apt lock waits, progress)"
	scripts/steps_test.sh
	scripts/readme_test.sh
	log "the built package in headless Chromium: offline, reload, tabs, private mode"
	scripts/browser/test.sh
	log "example apps end to end in headless Chromium"
	scripts/dev/e2e.sh
}

# The user-path benchmarks (native, the npm package in Node and in headless
# Chromium) run 5k and 25k rows, three runs each, with a 120 s deadline per
# scenario (SIZES, RUNS and TIMEOUT_S override them). They and the browser
# benchmarks measure the package built here from the current sources.
cmd_bench() {
	cmd_build
	ensure_postgres
	log "benchmarks -> BENCHMARKS.md"
	JAZZ_REQUIRE_POSTGRES=1 go run ./tools/benchreport -out BENCHMARKS.md
}

cmd_dev() {
	build_server
	build_wasm
	build_js
	exec scripts/dev/run.sh
}

case "${1:-}" in
dev | test | bench | build) "cmd_$1" "${@:2}" ;;
*)
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
