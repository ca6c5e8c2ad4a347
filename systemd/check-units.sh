#!/bin/sh
# Verify the shipped units against a built binary, and hold the service's
# systemd-analyze exposure score to a maximum. Run by make check-units.
#
#   systemd/check-units.sh BIN MANPAGE [MAX]
#
# Checked twice: the service and timer as shipped, then with every drop-in,
# unit and template in examples/ added (the bot's drop-ins on a stand-in
# bot unit). The units name /usr/local/bin/refresh-token; the copies checked
# name BIN instead. Any message from systemd-analyze verify is a failure.
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 BIN MANPAGE [MAX]" >&2
	exit 64
fi
max=${3:-1.5}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "check-units: systemd-analyze not found: skipped"
	exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$bin" ] || { echo "check-units: $bin is not an executable: run make build" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# Documentation=man:refresh-token(1) must resolve: to the page just built.
verify="systemd-analyze verify"
if command -v man >/dev/null 2>&1; then
	mkdir -p "$tmp/man/man1"
	cp "$2" "$tmp/man/man1/refresh-token.1"
	MANPATH=$tmp/man
	export MANPATH
else
	echo "check-units: man not found: Documentation= not checked"
	verify="$verify --man=no"
fi

point() { sed "s|/usr/local/bin/refresh-token|$bin|g" "$1" >"$2"; }

mkdir "$tmp/shipped" "$tmp/examples"
for f in "$here"/refresh-token.service "$here"/refresh-token.timer; do
	point "$f" "$tmp/shipped/${f##*/}"
	point "$f" "$tmp/examples/${f##*/}"
done
for d in "$here"/examples/*.d; do
	mkdir "$tmp/examples/${d##*/}"
	for f in "$d"/*.conf; do
		point "$f" "$tmp/examples/${d##*/}/${f##*/}"
	done
done
# The alert template, as the instance alert.conf's OnFailure= starts.
point "$here/examples/refresh-token-alert@.service" "$tmp/examples/refresh-token-alert@refresh-token.service.service"
cat >"$tmp/examples/bigbrother.service" <<UNIT
[Unit]
Description=Stand-in for the trading bot's unit

[Service]
ExecStart=$bin --version
UNIT

status=0
check() { # name, unit files...
	name=$1
	shift
	if ! out=$($verify "$@" 2>&1) || [ -n "$out" ]; then
		echo "check-units: FAIL: systemd-analyze verify, $name:"
		echo "$out"
		status=1
		return
	fi
	echo "check-units: ok: systemd-analyze verify, $name"
}
score() { # name, service file
	report=$(systemd-analyze security --offline=yes "$2" 2>&1) || true
	level=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p')
	if [ -z "$level" ]; then
		echo "check-units: FAIL: no exposure level for $name:"
		echo "$report"
		status=1
	elif awk -v l="$level" -v m="$max" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
		echo "check-units: ok: exposure level $level (at most $max), $name"
	else
		printf '%s\n' "$report" | grep '✗' || true
		echo "check-units: FAIL: exposure level $level is above $max, $name"
		status=1
	fi
}

check "units as shipped" "$tmp/shipped/refresh-token.service" "$tmp/shipped/refresh-token.timer"
score "as shipped" "$tmp/shipped/refresh-token.service"
check "with every example" "$tmp/examples/refresh-token.service" "$tmp/examples/refresh-token.timer" \
	"$tmp/examples/refresh-token-alert@refresh-token.service.service" "$tmp/examples/bigbrother.service"
score "with every example" "$tmp/examples/refresh-token.service"
exit $status
