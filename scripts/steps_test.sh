#!/usr/bin/env bash
# Checks scripts/steps.sh without touching the machine: apt-get is a fake on
# PATH that plays a held lock, a missing package index and a failure.
# ./build.sh test runs it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/steps.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jazz-steps-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { printf 'FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }

# The fake apt-get logs its arguments, then answers from $WORK/script: one
# line per call, "ok", "lock" or "missing".
mkdir "$WORK/bin"
cat >"$WORK/bin/apt-get" <<'FAKE'
#!/usr/bin/env bash
echo "$*" >>"$WORK/calls"
n=$(wc -l <"$WORK/calls")
case $(sed -n "${n}p" "$WORK/script") in
ok) exit 0 ;;
lock) echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 1 (apt-get)" >&2; exit 100 ;;
missing) echo "E: Unable to locate package brotli" >&2; exit 100 ;;
*) echo "E: unscripted call $n" >&2; exit 100 ;;
esac
FAKE
chmod +x "$WORK/bin/apt-get"
export PATH="$WORK/bin:$PATH" WORK
as_root() { "$@"; } # never sudo, which would find the real apt-get
sleep() { echo "slept $1" >>"$WORK/sleeps"; } # the lock waits, without waiting

play() { printf '%s\n' "$@" >"$WORK/script"; rm -f "$WORK/calls" "$WORK/sleeps"; }
calls() { cat "$WORK/calls" 2>/dev/null; }

# A held lock is waited for, and every call asks dpkg to wait too.
play lock lock ok
if ! apt_get update 2>"$WORK/err"; then fail "apt_get gave up on a lock held for two tries"; fi
[ "$(calls | wc -l)" = 3 ] || fail "apt_get called apt-get $(calls | wc -l) times, want 3"
[ "$(grep -c "^-o DPkg::Lock::Timeout=$APT_LOCK_WAIT update$" "$WORK/calls")" = 3 ] || fail "apt-get calls: $(calls)"
grep -q "waiting up to" "$WORK/err" || fail "the wait was not announced: $(cat "$WORK/err")"

# ...but not for ever: after APT_LOCK_WAIT it fails with apt's message.
play lock lock lock lock
if APT_LOCK_WAIT=10 apt_get update 2>"$WORK/err"; then fail "apt_get succeeded though the lock was never released"; fi
[ "$(calls | wc -l)" = 3 ] || fail "apt_get with a 10 s budget called apt-get $(calls | wc -l) times, want 3"
grep -q "Could not get lock" "$WORK/err" || fail "apt's error was not shown: $(cat "$WORK/err")"

# Other failures are not retried.
play missing
if apt_get install -y brotli 2>"$WORK/err"; then fail "a missing package succeeded"; fi
[ "$(calls | wc -l)" = 1 ] || fail "a missing package was retried: $(calls)"

# apt_install refreshes the index when the package is not found.
play missing ok ok
apt_install brotli 2>"$WORK/err" || fail "apt_install: $(cat "$WORK/err")"
[ "$(calls | sed 's/^-o [^ ]* //' | tr '\n' ,)" = "install -y brotli,update,install -y brotli," ] || fail "apt_install calls: $(calls)"

unset -f sleep

# progress announces the step, says it is still running, and returns the
# command's status. The command ends only once the ticker has spoken, so
# nothing here depends on timing.
until_ticked() {
	for _ in $(seq 600); do
		grep -q "still" "$WORK/progress" 2>/dev/null && return 3
		sleep 0.1
	done
	return 4
}
rc=0
PROGRESS_EVERY=1 progress "doing a thing" until_ticked 2>"$WORK/progress" || rc=$?
[ "$rc" = 3 ] || fail "progress returned $rc, want the command's 3"
grep -q "==> doing a thing" "$WORK/progress" || fail "progress did not announce the step: $(cat "$WORK/progress")"
grep -Eq '^    \.\.\. still doing a thing \([0-9]+ s\)$' "$WORK/progress" || fail "no progress line: $(cat "$WORK/progress")"

if [ "$failures" != 0 ]; then
	echo "scripts/steps_test.sh: $failures failed" >&2
	exit 1
fi
echo "scripts/steps_test.sh: ok" >&2
