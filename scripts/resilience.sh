#!/usr/bin/env bash
# Shows that the stack keeps serving while api replicas die or are replaced
# (services/lb/e2e/resilience): steady load through the lb, no failed request.
#   scripts/resilience.sh cluster   after `make cluster`: an api replica is
#                                   crashed (SIGKILL from the host; its restart
#                                   policy brings it back), killed with docker
#                                   kill, and stopped with docker stop
#   scripts/resilience.sh swarm     after `make swarm-up`: an api task's
#                                   container is killed, the api service is
#                                   updated (--force), then updated to a
#                                   configuration it refuses and rolled back
# It changes the running stack and leaves it as it found it: every replica
# back, healthy and in the lb's pool, the swarm's api on its previous spec.
# RESILIENCE_RATE, RESILIENCE_WORKERS and RESILIENCE_MAX_LATENCY tune the
# load (see the package's documentation).
set -euo pipefail
# go.mod names a newer Go than some installs have; let go fetch it, as
# the Makefile does, when the script is run by hand (GOTOOLCHAIN=local in
# the environment still wins).
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
cd "$(dirname "$0")/.."

pattern="${1:-}"
case "$pattern" in
cluster) test=TestCluster ;;
swarm) test=TestSwarm ;;
*)
	echo "usage: scripts/resilience.sh cluster|swarm" >&2
	exit 2
	;;
esac

RESILIENCE_API_KEY="$(cat deploy/secrets/api_key.txt)"
export RESILIENCE_API_KEY RESILIENCE_PATTERN="$pattern"
# The load goes over HTTPS, as clients do (plain HTTP answers a redirect),
# trusting the CA of the lb's certificate (RESILIENCE_TLS_CA, default
# deploy/secrets/tls_ca.pem), besides the system's (SSL_CERT_DIR): a
# machine may set SSL_CERT_FILE to its own bundle, so it is set here.
lb="https://127.0.0.1"
[ "${LB_HTTPS_PORT:-443}" = 443 ] || lb+=":$LB_HTTPS_PORT"
export RESILIENCE_LB_URL="${RESILIENCE_LB_URL:-$lb}"
export SSL_CERT_FILE="${RESILIENCE_TLS_CA:-$PWD/deploy/secrets/tls_ca.pem}"
go test -count=1 -v -timeout 20m -run "^${test}\$" ./services/lb/e2e/resilience/
