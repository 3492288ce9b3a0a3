#!/usr/bin/env bash
# Static checks, the same in CI and on a laptop: gofmt, go vet, staticcheck
# (pinned in tools/go.mod), BuildKit's Dockerfile rules (tools/dockerfilelint),
# ShellCheck on every script, Compose's own validation of every compose file,
# and govulncheck (pinned in tools/go.mod) against an offline vulnerability
# database built from the golang.org/x/vulndb module (the public database is
# not reachable from every build machine): a reachable advisory with a fix
# fails; reachable advisories with no fix fail unless triaged in the README
# (VULN_ACCEPT).
set -euo pipefail
# go.mod names a newer Go than some installs have; let go fetch it, as
# the Makefile does, when the script is run by hand (GOTOOLCHAIN=local in
# the environment still wins).
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
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
(cd tools && go build -o ../out/bin/ honnef.co/go/tools/cmd/staticcheck golang.org/x/vuln/cmd/govulncheck ./dockerfilelint ./vulngate)
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

# The database is the vulndb module at a pinned version (move it forward
# with VULNDB_VERSION=<version> or =latest to see newer advisories), indexed
# once per version into out/vulndb/ by the module's own cmd/indexdb.
VULNDB_VERSION="${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}"
# Triaged in the README's security section: echo v4's rate-limit and proxy
# middleware trust X-Forwarded-For; we use neither, and take client
# addresses only from the trusted proxies' headers.
VULN_ACCEPT="${VULN_ACCEPT:-GO-2026-6872,GO-2026-6875}"
if [ "$VULNDB_VERSION" = latest ]; then
	VULNDB_VERSION="$(go list -m -f '{{.Version}}' golang.org/x/vulndb@latest)"
fi
vulndb="$PWD/out/vulndb/$VULNDB_VERSION"
if [ ! -f "$vulndb/index/db.json" ]; then
	src="$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
	GOBIN="$PWD/out/bin" go install "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION"
	rm -rf "$vulndb.tmp"
	out/bin/indexdb -vulns "$src/data/osv" -out "$vulndb.tmp"
	mv "$vulndb.tmp" "$vulndb"
fi
vulnjson="$(mktemp)"
if out/bin/govulncheck -db "file://$vulndb" -format json ./... >"$vulnjson"; then
	out/bin/vulngate -accept "$VULN_ACCEPT" <"$vulnjson" || {
		out/bin/govulncheck -db "file://$vulndb" ./... || true
		fail=1
	}
else
	echo "govulncheck: failed to run" >&2
	fail=1
fi
rm -f "$vulnjson"
# The swarm stack alone (one node), with the swarm lab's additions and with
# the observability profile, where the CLI has `docker stack config` (v23
# and later).
if docker stack config --help >/dev/null 2>&1; then
	docker stack config -c deploy/swarm/stack.yaml >/dev/null || fail=1
	docker stack config -c deploy/swarm/stack.yaml -c deploy/swarm/lab.yaml >/dev/null || fail=1
	docker stack config -c deploy/swarm/stack.yaml -c deploy/swarm/observability.yaml >/dev/null || fail=1
fi

if [ "$fail" -ne 0 ]; then
	echo "lint: failed" >&2
	exit 1
fi
echo "lint: ok"
