# Sourced by demo.sh and demo-login.sh: the binaries, a temp dir that is
# removed afterwards (even when interrupted), the background processes to
# stop, and the headings. The caller sets prefix (the temp dir's name).

top=$(cd "$(dirname "$0")/.." && pwd)
bin=${DEMO_BIN:-$top/bin} # the tests run it on the binaries they build
work=$(mktemp -d "${TMPDIR:-/tmp}/$prefix.XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Bold headings only on a terminal, and not with NO_COLOR (no-color.org):
# piped into a file or a pager, escape codes are noise.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
	say() { printf '\n==> %s\n' "$*"; }
fi
