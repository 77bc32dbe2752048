#!/usr/bin/env bash
# The example apps against a real sync server, for development. ./build.sh dev
# runs this after building dist/jazz-tools, the wasm core and bindings/js:
#
#   scripts/dev/run.sh
#
# It installs web/examples' npm dependencies (npm ci), compiles the bundle and
# builds the three apps, then starts the dev JWT issuer, the sync server and a
# static server for the apps, prints every URL, and stops everything on Ctrl-C.
# Settings (environment): JAZZ_PORT (1625), ISSUER_PORT (1626), REACT_PORT
# (5173), VUE_PORT (5174), SVELTE_PORT (5175), JWT_TTL (60 s), DATA_DIR (./data).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

APP_ID=jazz-examples # web/examples/shared/config.ts
JAZZ_PORT=${JAZZ_PORT:-1625}
ISSUER_PORT=${ISSUER_PORT:-1626}
REACT_PORT=${REACT_PORT:-5173}
VUE_PORT=${VUE_PORT:-5174}
SVELTE_PORT=${SVELTE_PORT:-5175}
# Short-lived JWTs so onJWTExpired refreshes happen in front of the user: the
# client renews half-way through a token's life (at most a minute early).
JWT_TTL=${JWT_TTL:-60}
DATA_DIR=${DATA_DIR:-./data}
SERVER_URL=http://127.0.0.1:$JAZZ_PORT
ISSUER_URL=http://127.0.0.1:$ISSUER_PORT

require_built
install_examples
# Built into the apps as their default server and issuer.
export VITE_JAZZ_SERVER_URL=$SERVER_URL VITE_ISSUER_URL=$ISSUER_URL
build_examples
DATA_DIR=$(mkdir -p "$DATA_DIR" && cd "$DATA_DIR" && pwd)

pids=()
stop_all() {
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

# wait_for URL NAME: until URL answers (the process must still be alive).
wait_for() {
	for _ in $(seq 1 150); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || die "$2 exited while starting"; done
		sleep 0.1
	done
	die "$2 did not answer at $1"
}

log "starting the dev JWT issuer on $ISSUER_URL"
(cd "$EXAMPLES/issuer" && exec node --import tsx server.ts --port "$ISSUER_PORT" --ttl "$JWT_TTL" \
	--server-url "$SERVER_URL" --backend-secret dev-backend-secret --data-dir "$DATA_DIR/issuer") &
pids+=($!)
wait_for "$ISSUER_URL/health" "the issuer"

log "starting the sync server on $SERVER_URL (data in $DATA_DIR)"
"$SERVER_BIN" server "$APP_ID" --port "$JAZZ_PORT" --data-dir "$DATA_DIR" --allow-local-first-auth \
	--jwks-url "$ISSUER_URL/.well-known/jwks.json" --backend-secret dev-backend-secret \
	--admin-secret dev-admin-secret --bundle "$EXAMPLES/shared/bundle.json" &
pids+=($!)
wait_for "$SERVER_URL/health" "the sync server"

node "$EXAMPLES/serve.mjs" "react=$REACT_PORT" "vue=$VUE_PORT" "svelte=$SVELTE_PORT" >/dev/null &
pids+=($!)
wait_for "http://127.0.0.1:$SVELTE_PORT/" "the static server"

cat >&2 <<MSG

  React   http://127.0.0.1:$REACT_PORT/
  Vue     http://127.0.0.1:$VUE_PORT/
  Svelte  http://127.0.0.1:$SVELTE_PORT/

  sync server  $SERVER_URL  (app $APP_ID; admin secret dev-admin-secret, backend secret dev-backend-secret)
  dev issuer   $ISSUER_URL  (JWKS $ISSUER_URL/.well-known/jwks.json, JWTs live ${JWT_TTL}s)

  Open the apps on 127.0.0.1 (not localhost): the issuer's refresh cookie is per host.
  Ctrl-C stops everything.

MSG

# Runs until Ctrl-C, or until one of the three stops (then the others are stopped too).
set +e
wait -n "${pids[@]}"
code=$?
log "a process exited ($code); stopping the others"
exit "$code"
