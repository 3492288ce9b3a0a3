#!/usr/bin/env bash
# Runs every test with the race detector: `go test -race ./...` at the
# root (every service), then the tools module's tests.
#
# Integration tests need PostgreSQL and Redis. They use, in order:
#   TEST_POSTGRES_URL / TEST_REDIS_URL   servers you run yourself, or
#   testcontainers-go with the images of deploy/images.env (this script
#   builds the base images first when Docker is available), else the
#   official images (platform/testimage finds them; plain `go test ./...`
#   does the same with no variable set).
# With neither they skip with a message, except under CI=true, where they fail.
set -euo pipefail
# go.mod names a newer Go than some installs have; let go fetch it, as
# the Makefile does, when the script is run by hand (GOTOOLCHAIN=local in
# the environment still wins).
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
cd "$(dirname "$0")/.."

if [ -z "${TEST_POSTGRES_URL:-}" ] && docker info >/dev/null 2>&1; then
	bash scripts/images.sh bases
fi

mkdir -p out
status=0
go test -race -count=1 -timeout 20m ./... 2>&1 | tee out/test.log || status=$?
(cd tools && go test -count=1 ./...) 2>&1 | tee -a out/test.log || status=$?
exit "$status"
