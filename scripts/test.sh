#!/usr/bin/env bash
# Runs every module's tests with the race detector.
#
# Integration tests need PostgreSQL and Redis. They use, in order:
#   TEST_POSTGRES_URL / TEST_REDIS_URL   servers you run yourself, or
#   testcontainers-go with POSTGRES_IMAGE / REDIS_IMAGE, which this script
#   sets from deploy/images.env (built here when Docker is available).
# With neither they skip with a message, except under CI=true, where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${TEST_POSTGRES_URL:-}" ] && docker info >/dev/null 2>&1; then
	bash scripts/images.sh bases
	# shellcheck source=/dev/null
	. deploy/images.env
	export POSTGRES_IMAGE="${POSTGRES_IMAGE:-$POSTGRES_BASE_IMAGE}"
	export REDIS_IMAGE="${REDIS_IMAGE:-$REDIS_BASE_IMAGE}"
	# The reaper image can't be pulled without a registry; tests clean up
	# their own containers.
	export TESTCONTAINERS_RYUK_DISABLED="${TESTCONTAINERS_RYUK_DISABLED:-true}"
	# Inside a container (as CI machines often are) testcontainers would dial
	# the Docker gateway; with a local engine the published ports are on
	# loopback.
	case "${DOCKER_HOST:-unix://}" in
	unix://*) export TESTCONTAINERS_HOST_OVERRIDE="${TESTCONTAINERS_HOST_OVERRIDE:-127.0.0.1}" ;;
	esac
fi

mkdir -p out
status=0
go test -race -count=1 -timeout 20m work 2>&1 | tee out/test.log || status=$?
(cd tools && GOWORK=off go test -count=1 ./...) 2>&1 | tee -a out/test.log || status=$?
exit "$status"
