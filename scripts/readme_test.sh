#!/usr/bin/env bash
# Runs README.md's "Five minutes" steps as a user pastes them: every sh block
# in order, in one fresh shell (no ADMIN_SECRET or JAZZ_* variables), from a
# copy of this work tree in a temp dir; a block after "Save this as `FILE`"
# is saved as FILE. Then checks that the server took the bundle and logged
# only JSON. Needs the network only for npm (tsx) and what ./build.sh build
# fetches. ./build.sh test runs it.
#
#   scripts/readme_test.sh            # KEEP=1 keeps the temp dir
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/steps.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jazz-readme-XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT

# The README's port, swapped for a free one so a server already on 1625
# cannot make the check fail (or pass) for it.
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')

# steps.sh: the section's blocks as one script.
awk -v port="$PORT" '
	/^## / { inside = ($0 == "## Five minutes") ; next }
	!inside { next }
	/^Save this as `[^`]+`/ { match($0, /`[^`]+`/); save = substr($0, RSTART + 1, RLENGTH - 2); next }
	/^```/ && !fence { fence = 1; lang = substr($0, 4);
		if (lang == "sh") mode = "sh"; else if (save != "") { mode = "file"; print "cat >" save " <<'"'"'README_BLOCK_END'"'"'" } else mode = "skip";
		next }
	/^```$/ && fence { fence = 0; if (mode == "file") print "README_BLOCK_END"; save = ""; next }
	fence && mode == "sh" { gsub(/127\.0\.0\.1:1625/, "127.0.0.1:" port); gsub(/--port 1625/, "--port " port); print; next }
	fence && mode == "file" { print }
' "$ROOT/README.md" >"$WORK/steps.sh"
grep -q "jazz-tools-bundle" "$WORK/steps.sh" && grep -q "README_BLOCK_END" "$WORK/steps.sh" || {
	echo "scripts/readme_test.sh: no deploy step or no saved file found in README.md's Five minutes" >&2
	exit 1
}

# A copy of the work tree as git sees it (tracked and new files, not ignored
# ones such as node_modules or dist), so uncommitted edits are checked too.
mkdir "$WORK/clone"
(cd "$ROOT" && git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
	[ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf -) | tar -xf - -C "$WORK/clone"

{
	echo 'trap '"'"'kill $(jobs -p) 2>/dev/null; wait'"'"' EXIT'
	echo 'set -x'
	cat "$WORK/steps.sh"
	echo 'set +x'
	# Still in that shell: the bundle the server holds is the one deployed.
	echo 'curl -fsS -H "X-Jazz-Admin-Secret: $ADMIN_SECRET" http://127.0.0.1:'"$PORT"'/apps/my-app/admin/bundle | grep -q "\"todos\""'
} >"$WORK/run.sh"

unset ADMIN_SECRET
for v in $(compgen -e | grep '^JAZZ_' || true); do unset "$v"; done
log "README.md Five minutes, in $WORK/clone (port $PORT)"
(cd "$WORK/clone" && bash -euo pipefail "$WORK/run.sh") >"$WORK/out.log" 2>&1 || {
	cat "$WORK/out.log" >&2
	echo "scripts/readme_test.sh: the README steps failed (log above)" >&2
	exit 1
}

# Every line the server wrote is JSON, and it published the bundle.
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
for (const l of lines) { try { JSON.parse(l); } catch { console.error("not JSON: " + l); process.exit(1); } }
if (!lines.some((l) => JSON.parse(l).msg === "bundle published")) { console.error("no bundle published line"); process.exit(1); }
' "$WORK/clone/server.log"
log "README.md Five minutes: ok"
