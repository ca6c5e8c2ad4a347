#!/usr/bin/env bash
# make release-check: the release is reproducible (two builds, equal
# SHA256SUMS, which sha256sum -c verifies) and its .debs pass lintian
# without an error.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
version=${VERSION:-v0.0.0}
one=$(mktemp -d)
trap 'rm -rf "$one"' EXIT
DIST=$one ./scripts/release.sh "$version" >/dev/null
DIST=dist ./scripts/release.sh "$version" >/dev/null
if ! diff "$one/SHA256SUMS" dist/SHA256SUMS; then
	echo "release-check: two builds of $version differ" >&2
	exit 1
fi
(cd dist && sha256sum -c SHA256SUMS)
if command -v lintian >/dev/null; then
	for deb in dist/*.deb; do
		status=0
		out=$(lintian --fail-on error "$deb" 2>&1) || status=$?
		out=$(printf '%s\n' "$out" | grep -v 'running with root privileges' || true)
		if [ "$status" -ne 0 ]; then
			echo "$out"
			echo "release-check: lintian errors in $deb" >&2
			exit 1
		fi
		echo "lintian $deb: ${out:-clean}"
	done
else
	echo "release-check: lintian not installed: skipped (apt-get install lintian)"
fi
echo "release-check: reproducible, $(( $(date +%s) - start )) s"
