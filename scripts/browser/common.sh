# Sourced by scripts/browser/test.sh and bench.sh: installs what the browser
# tests need on a fresh Debian machine with Go and Node (Chromium from apt,
# playwright-core from test/browser's lockfile; never a downloaded browser),
# refuses a stale artifact, and builds the sync server once.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TB="$ROOT/test/browser"
cd "$ROOT"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# log, as_root, progress, apt_install
source "$ROOT/scripts/steps.sh"

for tool in go node npm; do
	command -v "$tool" >/dev/null || { echo "scripts/browser: $tool is required" >&2; exit 1; }
done

# Chromium from Debian (playwright-core drives it with executablePath).
if [ -z "${JAZZ_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
	progress "installing chromium (apt)" apt_install chromium
fi

# playwright-core, as locked (skipped when node_modules already matches the lockfile).
if ! cmp -s "$TB/package-lock.json" "$TB/node_modules/.jazz-lock" 2>/dev/null; then
	(cd "$TB" && progress "npm ci (test/browser)" npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.jazz-lock)
fi

# Refuse a stale artifact: jazz.wasm's BUILD_ID must match the sources.
node "$TB/bin/check-fresh.mjs" >&2

# The real sync server, built once for the whole run.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jazz-browser-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
if [ -z "${JAZZ_SERVER_BIN:-}" ]; then
	log "building the sync server"
	go build -o "$WORK/jazz-tools" ./cmd/jazz-tools
	export JAZZ_SERVER_BIN="$WORK/jazz-tools"
fi
