#!/usr/bin/env bash
# The mmdebstrap hooks below are single-quoted on purpose: mmdebstrap expands
# their "$1" (the root being built).
# shellcheck disable=SC2016
# Builds the stand-in base images this project uses where no container
# registry answers: a Go builder, PostgreSQL and Redis, each a Debian root
# file system made by mmdebstrap from Debian's packages and fed to
# `docker import`. None is tagged with an official image's name.
#
#   scripts/standins.sh go|postgres|redis   build one (skipped when current)
#
# An image carries a label with the hash of its recipe; a second run with
# nothing changed only compares that label, so it takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

GO_VERSION="${GO_VERSION:-$(awk '$1 == "go" {print $2; exit}' go.work)}"
# shellcheck source=/dev/null
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"

image_name() {
	case "$1" in
	go) echo "docker-examples/go:${GO_VERSION}-${codename}" ;;
	postgres) echo "docker-examples/postgres:15-${codename}" ;;
	redis) echo "docker-examples/redis:7-${codename}" ;;
	*) echo "standins: unknown stand-in $1 (want go, postgres or redis)" >&2; return 1 ;;
	esac
}

recipe_hash() {
	{
		echo "$1 $GO_VERSION $codename"
		cat "$0"
		cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true
		if [ -d "build/standins/$1" ]; then
			find "build/standins/$1" -type f -print0 | sort -z | xargs -0 cat
		fi
	} | sha256sum | cut -c1-16
}

# The Debian mirrors are read from this machine's apt sources at run time.
apt_uris() {
	{
		grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
		grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'
	} || true
}

ensure_mmdebstrap() {
	if ! command -v mmdebstrap >/dev/null; then
		echo "standins: installing mmdebstrap from Debian's packages" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
	fi
}

build() {
	local name="$1" tag hash
	tag="$(image_name "$name")"
	hash="$(recipe_hash "$name")"
	if [ "$(docker image inspect -f '{{index .Config.Labels "org.docker-examples.recipe"}}' "$tag" 2>/dev/null || true)" = "$hash" ]; then
		echo "standins: $tag is current" >&2
		return 0
	fi
	ensure_mmdebstrap
	local mirror security
	mirror="$(apt_uris | grep -v -- '-security' | head -n1)"
	security="$(apt_uris | grep -- '-security' | head -n1)"
	[ -n "$mirror" ] || { echo "standins: no Debian mirror in the apt sources" >&2; return 1; }
	local sources=("deb $mirror $codename main" "deb $mirror $codename-updates main")
	[ -z "$security" ] || sources+=("deb $security $codename-security main")

	local work
	work="$(mktemp -d)"
	# shellcheck disable=SC2064 # expand now: work is local.
	trap "rm -rf '$work'" RETURN

	local include=ca-certificates hooks=() changes=()
	case "$name" in
	go)
		local goroot
		goroot="$(GOTOOLCHAIN="go${GO_VERSION}" go env GOROOT)"
		hooks+=(--customize-hook="mkdir -p \"\$1/usr/local/go\" \"\$1/go\" && tar -C '$goroot' -cf - . | tar -C \"\$1/usr/local/go\" -xf -")
		# The builder downloads modules: it trusts the certificate authorities
		# this machine's administrator added (a TLS-inspecting proxy's, say),
		# as the host does.
		hooks+=(--customize-hook='mkdir -p "$1/usr/local/share/ca-certificates" && { cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" 2>/dev/null || true; } && chroot "$1" update-ca-certificates >/dev/null')
		changes+=(
			-c 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
			-c 'ENV GOPATH=/go' -c 'ENV GOTOOLCHAIN=local' -c 'WORKDIR /go' -c 'CMD ["bash"]'
		)
		;;
	postgres)
		include+=,postgresql-15
		hooks+=(
			--customize-hook='rm -rf "$1/var/lib/postgresql/15" "$1/etc/postgresql/15"'
			--customize-hook='mkdir -p "$1/docker-entrypoint-initdb.d" "$1/var/lib/postgresql/data" "$1/run/postgresql"'
			--customize-hook='chroot "$1" chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/data /run/postgresql'
			--customize-hook='chmod 1777 "$1/var/lib/postgresql/data" && chmod 3777 "$1/run/postgresql"'
			--customize-hook='copy-in build/standins/postgres/docker-entrypoint.sh /usr/local/bin'
		)
		changes+=(
			-c 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
			-c 'ENV PGDATA=/var/lib/postgresql/data' -c 'ENV LANG=C.UTF-8'
			-c 'ENTRYPOINT ["docker-entrypoint.sh"]' -c 'CMD ["postgres"]'
			-c 'EXPOSE 5432' -c 'VOLUME /var/lib/postgresql/data'
		)
		;;
	redis)
		include+=,redis-server
		hooks+=(
			--customize-hook='mkdir -p "$1/data" && chmod 1777 "$1/data"'
			--customize-hook='copy-in build/standins/redis/docker-entrypoint.sh /usr/local/bin'
		)
		changes+=(
			-c 'ENTRYPOINT ["docker-entrypoint.sh"]' -c 'CMD ["redis-server"]'
			-c 'WORKDIR /data' -c 'EXPOSE 6379'
		)
		;;
	esac

	echo "standins: building $tag from Debian $codename" >&2
	mmdebstrap --quiet --variant=minbase --include="$include" \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--customize-hook='rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*' \
		"${hooks[@]}" \
		"$codename" "$work/rootfs.tar" "${sources[@]}"
	docker import "${changes[@]}" \
		-c "LABEL org.docker-examples.recipe=$hash" \
		-c "LABEL org.opencontainers.image.description=\"docker-examples stand-in built from Debian $codename packages\"" \
		"$work/rootfs.tar" "$tag" >/dev/null
	echo "standins: built $tag" >&2
}

if [ "$#" -eq 0 ]; then
	set -- go postgres redis
fi
for s in "$@"; do
	case "$s" in
	--name) shift; image_name "$1"; exit 0 ;;
	*) build "$s" ;;
	esac
done
