#!/usr/bin/env bash
# Static checks, the same in CI and on a laptop: gofmt, go vet, staticcheck
# (pinned in tools/go.mod), BuildKit's Dockerfile rules (tools/dockerfilelint),
# ShellCheck on every script, and Compose's own validation of every compose file.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0

unformatted="$(gofmt -l platform migrations services tools)"
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	fail=1
fi

go vet ./... || fail=1
(cd tools && go vet ./...) || fail=1

mkdir -p out/bin
(cd tools && go build -o ../out/bin/ honnef.co/go/tools/cmd/staticcheck ./dockerfilelint)
out/bin/staticcheck ./... || fail=1
(cd tools && ../out/bin/staticcheck ./...) || fail=1

mapfile -t dockerfiles < <(git ls-files --cached --others --exclude-standard '*Dockerfile' | grep -v /testdata/)
out/bin/dockerfilelint "${dockerfiles[@]}" || fail=1

if ! command -v shellcheck >/dev/null; then
	apt-get install -y -qq shellcheck >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; }
fi
mapfile -t scripts < <(git ls-files --cached --others --exclude-standard '*.sh' .ci/run)
shellcheck "${scripts[@]}" || fail=1

# Compose validates interpolation, anchors and references; the secret files
# must exist for that, so generate them as `make up` would.
bash scripts/secrets.sh >/dev/null
for f in deploy/basic/compose.yaml deploy/cluster/compose.yaml; do
	[ -f "$f" ] || continue
	docker compose -f "$f" config -q || fail=1
done

# The swarm stack alone (one node) and with the swarm lab's additions, where
# the CLI has `docker stack config` (v23 and later).
if docker stack config --help >/dev/null 2>&1; then
	docker stack config -c deploy/swarm/stack.yaml >/dev/null || fail=1
	docker stack config -c deploy/swarm/stack.yaml -c deploy/swarm/lab.yaml >/dev/null || fail=1
fi

if [ "$fail" -ne 0 ]; then
	echo "lint: failed" >&2
	exit 1
fi
echo "lint: ok"
