#!/usr/bin/env bash
# Builds the images of the observability profile from the Go module proxy,
# as static binaries on scratch (no registry, no npm):
#   docker-examples/victoria-metrics  metrics store, scrapes every service (vmui)
#   docker-examples/victoria-logs     log store (vmui)
#   docker-examples/vlagent           tails the containers' json-file logs into it
#   docker-examples/jaeger            trace store: OTLP in, Jaeger query API out
#   docker-examples/console           the project's page over the three stores
# Each store image also holds /probe (the console binary), its HEALTHCHECK:
# scratch has no shell and no curl.
#
# An image carries a label with the hash of its recipe (this script, the
# versions, the Go release, and for the console its sources); a run with
# nothing changed only compares labels.
#
#   scripts/observability-images.sh          build what is not current
#   scripts/observability-images.sh --tags   print the image names
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" CGO_ENABLED=0 GOFLAGS=-trimpath

VM_VERSION=v1.151.0
VL_VERSION=v1.52.1
JAEGER_VERSION=v1.76.0
IMAGE_TAG="${IMAGE_TAG:-dev}"

declare -A images=(
	[victoria-metrics]="docker-examples/victoria-metrics:$VM_VERSION"
	[victoria-logs]="docker-examples/victoria-logs:$VL_VERSION"
	[vlagent]="docker-examples/vlagent:$VL_VERSION"
	[jaeger]="docker-examples/jaeger:$JAEGER_VERSION"
	[console]="docker-examples/console:$IMAGE_TAG"
)
order=(victoria-metrics victoria-logs vlagent jaeger console)

if [ "${1:-}" = --tags ]; then
	for n in "${order[@]}"; do echo "${images[$n]}"; done
	exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

recipe_hash() {
	{
		echo "$1 $(go env GOVERSION)"
		cat "$0"
		if [ "$1" = console ]; then
			find services/console platform -type f -name '*.go' -o -type f -path '*/web/*' | sort | xargs cat
			cat go.mod go.sum
		fi
	} | sha256sum | cut -c1-16
}

current() {
	[ "$(docker image inspect -f '{{index .Config.Labels "org.docker-examples.recipe"}}' "$2" 2>/dev/null || true)" = "$1" ]
}

# The console binary is built once: it is the console image and every
# store image's /probe.
console_bin() {
	if [ ! -x "$work/console.bin" ]; then
		GOWORK=off go build -ldflags "-s -w" -o "$work/console.bin" ./services/console/cmd/console
	fi
}

# Jaeger's module has a replace directive, so `go install pkg@version`
# refuses it: it is built from a throwaway module that requires it.
build_jaeger() {
	local mod="$work/jaeger-mod"
	mkdir -p "$mod"
	cat >"$mod/go.mod" <<MOD
module build/jaeger

go 1.26

require github.com/jaegertracing/jaeger $JAEGER_VERSION

replace github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0
MOD
	printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/jaegertracing/jaeger/cmd/all-in-one"\n' >"$mod/tools.go"
	(cd "$mod" && GOWORK=off GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 && GOWORK=off go build -ldflags "-s -w" -o "$1" github.com/jaegertracing/jaeger/cmd/all-in-one)
}

build() {
	local name="$1" tag="${images[$1]}" hash ctx
	hash="$(recipe_hash "$name")"
	if current "$hash" "$tag"; then
		echo "observability-images: $tag is current" >&2
		return 0
	fi
	echo "observability-images: building $tag" >&2
	ctx="$work/$name"
	mkdir -p "$ctx/root/etc/ssl/certs" "$ctx/root/tmp" "$ctx/data"
	touch "$ctx/data/.keep"
	console_bin
	cp "$work/console.bin" "$ctx/root/probe"
	case "$name" in
	victoria-metrics) GOBIN="$ctx/root" GOWORK=off go install -ldflags "-s -w" "github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@$VM_VERSION" ;;
	victoria-logs) GOBIN="$ctx/root" GOWORK=off go install -ldflags "-s -w" "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VL_VERSION" ;;
	vlagent) GOBIN="$ctx/root" GOWORK=off go install -ldflags "-s -w" "github.com/VictoriaMetrics/VictoriaLogs/app/vlagent@$VL_VERSION" ;;
	jaeger) build_jaeger "$ctx/root/jaeger" ;;
	console) mv "$ctx/root/probe" "$ctx/root/console" ;;
	esac
	cp /etc/ssl/certs/ca-certificates.crt "$ctx/root/etc/ssl/certs/"
	echo "app:x:1001:1001:app:/data:/sbin/nologin" >"$ctx/root/etc/passwd"
	echo "app:x:1001:" >"$ctx/root/etc/group"
	chmod 1777 "$ctx/root/tmp"
	# The entrypoint is set by the compose files; the label records the
	# recipe and the module version the binary came from.
	# vlagent runs as root (it reads the engine's root-owned log files) with
	# no capability, so its /data is root's.
	local owner=1001:1001
	[ "$name" != vlagent ] || owner=0:0
	cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY root/ /
# A volume mounted on /data starts as this directory, with its owner.
COPY --chown=$owner data/ /data/
LABEL org.docker-examples.recipe=$hash \\
      org.opencontainers.image.description="docker-examples observability: $name, built from the Go module proxy"
USER 1001:1001
WORKDIR /data
DOCKERFILE
	docker buildx build --progress=quiet --load -t "$tag" "$ctx" >/dev/null
	echo "observability-images: built $tag" >&2
}

[ "$#" -gt 0 ] || set -- "${order[@]}"
for n in "$@"; do
	[ -n "${images[$n]:-}" ] || { echo "observability-images: unknown image $n (want ${order[*]})" >&2; exit 1; }
	build "$n"
done
