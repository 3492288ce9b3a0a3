#!/usr/bin/env bash
# Installs the Docker CLI plugins the project needs (Compose v2 and buildx)
# when the engine's own packages lack them. Debian bookworm ships only
# Compose v1 and no buildx; the next suite ships both as static Go binaries
# that run on bookworm, so we fetch those .deb files through a private apt
# list (the host's apt configuration is left alone) and unpack the plugins.
set -euo pipefail

plugins_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
need=()
docker compose version >/dev/null 2>&1 || need+=(docker-compose)
docker buildx version >/dev/null 2>&1 || need+=(docker-buildx)
if [ "${#need[@]}" -eq 0 ]; then
	exit 0
fi

# The mirror is read from this machine's apt sources, never written down here.
mirror="$(
	{ grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
	  grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'
	} | grep -v -- '-security' | head -n1
)" || true
if [ -z "$mirror" ]; then
	echo "install-docker-plugins: no Debian mirror found in the apt sources" >&2
	exit 1
fi
suite="${PLUGINS_SUITE:-trixie}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/etc"
echo "deb $mirror $suite main" >"$work/etc/sources.list"
apt_opts=(
	-o Dir::Etc::SourceList="$work/etc/sources.list"
	-o Dir::Etc::SourceParts=/dev/null
	-o Dir::State::Lists="$work/lists"
	-o Dir::Cache::Archives="$work/archives"
	-o APT::Get::List-Cleanup=0
	-o Debug::NoLocking=1
	-o APT::Sandbox::User=root
)
echo "install-docker-plugins: fetching ${need[*]} from $suite" >&2
apt-get -qq "${apt_opts[@]}" update
(cd "$work" && apt-get -qq "${apt_opts[@]}" download "${need[@]}")

mkdir -p "$plugins_dir"
for deb in "$work"/*.deb; do
	dpkg-deb -x "$deb" "$work/x"
done
for p in docker-compose docker-buildx; do
	if [ -x "$work/x/usr/libexec/docker/cli-plugins/$p" ]; then
		install -m 0755 "$work/x/usr/libexec/docker/cli-plugins/$p" "$plugins_dir/$p"
	fi
done
docker compose version
docker buildx version
