#!/usr/bin/env bash
# Installs what `make lint`, `make images`, `make test`, `make e2e` and the
# benchmarks need on a Debian machine with Docker and Go: Debian's packages
# (openssl for the lb's development certificate, mmdebstrap for the stand-in
# images, chromium for the browser tests, the load generators and peers for
# the benchmarks, shellcheck) and the Docker CLI plugins (Compose v2, buildx).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(curl openssl mmdebstrap shellcheck chromium wrk hey nginx-light haproxy ca-certificates)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "ci-deps: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# nginx and HAProxy are only benchmark peers: keep their services stopped.
for s in nginx haproxy; do
	if command -v systemctl >/dev/null && systemctl is-active -q "$s" 2>/dev/null; then
		systemctl stop "$s" || true
	fi
done
bash scripts/install-docker-plugins.sh
