#!/usr/bin/env bash
# Builds every image the compose files use:
#   docker-examples/{api,frontend,lb}  the Go services (root Dockerfile)
#   docker-examples/db                 PostgreSQL (deploy/postgres)
#   docker-examples/cache              Redis (deploy/redis)
# all tagged $IMAGE_TAG (default dev).
#
# Base images come from a registry when one answers (the official golang,
# postgres and redis images) and otherwise from stand-ins built out of
# Debian's packages (scripts/standins.sh). IMAGES_FROM=registry|debian
# forces one; the default, auto, uses official images already present or
# pullable, else the stand-ins. The choice is written to deploy/images.env,
# which `make test` reads to give testcontainers the same images.
#
#   scripts/images.sh          base images, then the stack's images
#   scripts/images.sh bases    base images only (what the tests need)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-docker-plugins.sh

IMAGE_TAG="${IMAGE_TAG:-dev}"
VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
COMMIT="${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
GO_VERSION="$(awk '$1 == "go" {print $2; exit}' go.work)"
official=("golang:${GO_VERSION}-bookworm" "postgres:17-alpine" "redis:7.4-alpine")

# pull_all pulls the images not already present; it fails on the first that
# can't be had.
pull_all() {
	local img
	for img in "$@"; do
		docker image inspect "$img" >/dev/null 2>&1 && continue
		timeout "${PULL_TIMEOUT:-120}" docker pull -q "$img" >/dev/null 2>&1 || return 1
	done
}

mode="${IMAGES_FROM:-auto}"
if [ "$mode" = auto ]; then
	if pull_all "${official[@]}"; then
		mode=registry
	else
		echo "images: no registry answers; using stand-ins built from Debian's packages" >&2
		mode=debian
	fi
fi
case "$mode" in
registry)
	if [ "${IMAGES_FROM:-auto}" = registry ]; then
		pull_all "${official[@]}" || { echo "images: cannot pull ${official[*]}" >&2; exit 1; }
	fi
	GO_IMAGE="${official[0]}" POSTGRES_BASE_IMAGE="${official[1]}" REDIS_BASE_IMAGE="${official[2]}"
	;;
debian)
	bash scripts/standins.sh go postgres redis
	GO_IMAGE="$(bash scripts/standins.sh --name go)"
	POSTGRES_BASE_IMAGE="$(bash scripts/standins.sh --name postgres)"
	REDIS_BASE_IMAGE="$(bash scripts/standins.sh --name redis)"
	;;
*)
	echo "images: IMAGES_FROM=$mode: want auto, registry or debian" >&2
	exit 1
	;;
esac

cat >deploy/images.env <<ENV
# Written by scripts/images.sh ($mode); read by make and the tests.
GO_IMAGE=$GO_IMAGE
POSTGRES_BASE_IMAGE=$POSTGRES_BASE_IMAGE
REDIS_BASE_IMAGE=$REDIS_BASE_IMAGE
IMAGE_TAG=$IMAGE_TAG
ENV

if [ "${1:-}" = bases ]; then
	exit 0
fi

build() {
	local tag="$1"
	shift
	echo "images: building $tag" >&2
	docker buildx build --progress="${BUILD_PROGRESS:-quiet}" --load -t "$tag" "$@" >/dev/null
}
build "docker-examples/db:$IMAGE_TAG" --build-arg POSTGRES_BASE_IMAGE="$POSTGRES_BASE_IMAGE" deploy/postgres
build "docker-examples/cache:$IMAGE_TAG" --build-arg REDIS_BASE_IMAGE="$REDIS_BASE_IMAGE" deploy/redis
for svc in api frontend lb; do
	build "docker-examples/$svc:$IMAGE_TAG" --build-arg SERVICE="$svc" --build-arg GO_IMAGE="$GO_IMAGE" \
		--build-arg VERSION="$VERSION" --build-arg COMMIT="$COMMIT" .
done
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' 'docker-examples/*'
