# Sourced by build.sh and the scripts under scripts/: how a step reports
# itself, runs as root, and installs Debian packages. Each rule is here once.

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# progress LABEL CMD...: logs LABEL, runs CMD and, while it runs, says every
# PROGRESS_EVERY (15) seconds that it still does, so a step of a minute or
# two (the wasm build, npm ci) never looks hung. Returns CMD's status.
PROGRESS_EVERY=${PROGRESS_EVERY:-15}
progress() {
	local label=$1 ticker rc=0
	shift
	log "$label"
	(
		s=0
		# One-second sleeps: killed, the ticker leaves no sleep behind
		# holding the terminal or a pipe open for long.
		while sleep 1; do
			s=$((s + 1))
			[ $((s % PROGRESS_EVERY)) = 0 ] && printf '    ... still %s (%d s)\n' "$label" "$s" >&2
		done
	) &
	ticker=$!
	"$@" || rc=$?
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	return "$rc"
}

# APT_LOCK_WAIT is how long, in seconds, apt_get waits for another apt or
# dpkg process (unattended upgrades, a second build) to release its lock.
APT_LOCK_WAIT=${APT_LOCK_WAIT:-600}

# apt_get [--quiet] ARGS...: apt-get that waits for a held lock instead of
# failing at once. DPkg::Lock::Timeout makes apt wait for dpkg's locks
# (install); "apt-get update" takes the package lists' lock without any
# timeout, so a run refused for a lock is retried every 5 seconds. Its
# output is shown only when it fails, and not at all with --quiet.
apt_get() {
	local waited=0 out rc show=1
	if [ "${1:-}" = --quiet ]; then
		show=0
		shift
	fi
	while :; do
		rc=0
		out=$(as_root apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@" 2>&1) || rc=$?
		[ "$rc" = 0 ] && return 0
		case $out in
		*"Could not get lock"* | *"Unable to lock"* | *"Unable to acquire the dpkg frontend lock"*)
			if [ "$waited" -lt "$APT_LOCK_WAIT" ]; then
				[ "$waited" = 0 ] && log "another apt or dpkg process holds its lock; waiting up to ${APT_LOCK_WAIT} s"
				sleep 5
				waited=$((waited + 5))
				continue
			fi
			;;
		esac
		[ "$show" = 0 ] || printf '%s\n' "$out" >&2
		return "$rc"
	done
}

# apt_install PKG...: installs Debian packages, refreshing the package index
# first if they are not found in it.
apt_install() {
	apt_get --quiet install -y "$@" || { apt_get update && apt_get install -y "$@"; }
}
