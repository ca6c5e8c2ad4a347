#!/usr/bin/env bash
# make release VERSION=vX.Y.Z: reproducible release artifacts in dist/.
#
# Two runs on the same commit give byte-identical files: -trimpath, an
# empty build id, no VCS stamping (the commit comes through -X), file
# times from the commit's date (SOURCE_DATE_EPOCH), owners 0:0, sorted
# archives, gzip without a name or time.
#
# DIST (default dist) and ARCHES (default "amd64 arm64") let a test build
# one package into a temp dir; RELEASE_GO=local builds with the installed Go.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${DIST:-dist}
arches=${ARCHES:-amd64 arm64}

version=${1#v}
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	echo "make release: VERSION=vX.Y.Z (got '${1}')" >&2
	exit 64
fi
GO=${GO:-go}
export GOTOOLCHAIN=${RELEASE_GO:-go1.27.3} CGO_ENABLED=0 GOFLAGS=-mod=readonly
export SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
commit=$(git rev-parse --short HEAD)
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)
docdir=/usr/share/doc/refresh-token
umask 022

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$dist"
mkdir -p "$dist"

ldflags="-s -w -buildid= -X main.version=$version -X main.commit=$commit -X main.docdir=$docdir"
gover=$(GOTOOLCHAIN=$GOTOOLCHAIN $GO env GOVERSION)
echo "== refresh-token $version (commit $commit) with $gover"

# The man page, and the docs as installed: README.md, LICENSE, docs/*.md
# flat, the examples naming /usr/bin.
$GO run ./internal/mangen -version "$version" -date "$date" -docdir "$docdir" -o "$work/refresh-token.1"
gzip -n -9 -c "$work/refresh-token.1" >"$work/refresh-token.1.gz"
installed() { sed -e "s|/usr/local/bin/refresh-token|/usr/bin/refresh-token|g" "$1"; }
mkdir -p "$work/doc/examples"
cp README.md docs/*.md "$work/doc/" # the licence is in copyright
for f in systemd/refresh-token.env systemd/crontab systemd/examples/*.service systemd/examples/*.yml systemd/examples/*.d/*.conf; do
	[ -e "$f" ] || continue
	rel=${f#systemd/}
	d="$work/doc/examples/${rel#examples/}"
	mkdir -p "$(dirname "$d")"
	installed "$f" >"$d"
done

for arch in $arches; do
	stage="$work/$arch"
	mkdir -p "$stage"
	for cmd in refresh-token bot-sim; do
		GOOS=linux GOARCH=$arch $GO build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$stage/$cmd" "./cmd/$cmd"
	done
	for f in refresh-token.service refresh-token.timer refresh-token.env; do
		installed "systemd/$f" >"$stage/$f"
	done
	cp "$work/refresh-token.1.gz" "$stage/"
	cp -r "$work/doc" "$stage/doc"

	# The tarball: both binaries, the man page, the units and env file as
	# shipped (/usr/local/bin, as make install puts it), README, docs, LICENSE.
	name="refresh-token_${version}_linux_${arch}"
	tree="$work/tar/$name"
	mkdir -p "$tree/systemd" "$tree/docs"
	cp "$stage/refresh-token" "$stage/bot-sim" "$work/refresh-token.1" README.md LICENSE "$tree/"
	cp systemd/refresh-token.service systemd/refresh-token.timer systemd/refresh-token.env "$tree/systemd/"
	cp -r systemd/examples "$tree/systemd/examples"
	cp docs/*.md "$tree/docs/"
	chmod -R u=rwX,go=rX "$tree"
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --format=gnu \
		-C "$work/tar" -cf - "$name" | gzip -n -9 >"$dist/$name.tar.gz"

	# The .deb: refresh-token alone (bot-sim is a test harness).
	sed -e "s|\${STAGE}|$stage|g" -e "s|\${VERSION}|$version|g" -e "s|\${ARCH}|$arch|g" \
		packaging/nfpm.yaml >"$work/nfpm-$arch.yaml"
	$GO run "${NFPM:?}" package --config "$work/nfpm-$arch.yaml" \
		--packager deb --target "$dist/refresh-token_${version}_${arch}.deb" >/dev/null
done

(cd "$dist" && sha256sum -- *.tar.gz *.deb >SHA256SUMS)
ls -l "$dist"
