#!/usr/bin/env bash
# Runs the end-to-end tests (services/*/e2e) against a running stack.
#   scripts/e2e.sh basic     after `make up`: api and frontend on their ports
#   scripts/e2e.sh cluster   after `make cluster`: everything through the lb
#   scripts/e2e.sh observability
#                            after `make observability` on the cluster: one
#                            request followed through the stores (services/console/e2e)
#   scripts/e2e.sh swarm-observability
#                            the same after `SWARM_OBSERVABILITY=1 make swarm-up`:
#                            the stores are not published there, so the test
#                            reads them through the console's read-only proxy
# The tests read their targets from E2E_* variables and skip without them.
# Through the lb they go over HTTPS, as users do (plain HTTP answers a
# redirect there): the Go clients trust the CA of the lb's certificate,
# deploy/secrets/tls_ca.pem (SSL_CERT_FILE; set E2E_TLS_CA to another CA
# for a certificate of your own), and the browser that certificate.
set -euo pipefail
# go.mod names a newer Go than some installs have; let go fetch it, as
# the Makefile does, when the script is run by hand (GOTOOLCHAIN=local in
# the environment still wins).
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
cd "$(dirname "$0")/.."

pattern="${1:-basic}"
E2E_API_KEY="$(cat deploy/secrets/api_key.txt)"
E2E_ADMIN_PASSWORD="$(cat deploy/secrets/admin_password.txt)"
export E2E_API_KEY E2E_ADMIN_PASSWORD
lb_https="https://127.0.0.1"
[ "${LB_HTTPS_PORT:-443}" = 443 ] || lb_https+=":$LB_HTTPS_PORT"
lb_http="http://127.0.0.1:${LB_HTTP_PORT:-80}"
through_lb() {
	export E2E_LB_URL="$lb_https" E2E_LB_HTTP_URL="$lb_http"
	export E2E_TLS_CA="${E2E_TLS_CA:-$PWD/deploy/secrets/tls_ca.pem}"
	export SSL_CERT_FILE="$E2E_TLS_CA"
}
case "$pattern" in
basic)
	export E2E_API_URL="http://127.0.0.1:${API_PORT:-8000}"
	export E2E_FRONTEND_URL="http://127.0.0.1:${FRONTEND_PORT:-3000}"
	;;
cluster)
	through_lb
	export E2E_API_URL="$E2E_LB_URL"
	export E2E_FRONTEND_URL="$E2E_LB_URL"
	;;
observability)
	through_lb
	export E2E_OBS_CONSOLE_URL="http://127.0.0.1:${CONSOLE_PORT:-9400}"
	export E2E_OBS_TRACES_URL="http://127.0.0.1:${TRACES_PORT:-16686}"
	export E2E_OBS_LOGS_URL="http://127.0.0.1:${LOGS_PORT:-9428}"
	export E2E_OBS_METRICS_URL="http://127.0.0.1:${METRICS_PORT:-8428}"
	export E2E_SCREENSHOT_DIR="${E2E_SCREENSHOT_DIR:-$PWD/out/screenshots}"
	mkdir -p "$E2E_SCREENSHOT_DIR"
	exec go test -count=1 -timeout 10m -v -run . ./services/console/e2e/...
	;;
swarm-observability)
	through_lb
	export E2E_OBS_CONSOLE_URL="http://127.0.0.1:${CONSOLE_PORT:-9400}"
	export E2E_OBS_TRACES_URL="$E2E_OBS_CONSOLE_URL/store/traces"
	export E2E_OBS_LOGS_URL="$E2E_OBS_CONSOLE_URL/store/logs"
	export E2E_OBS_METRICS_URL="$E2E_OBS_CONSOLE_URL/store/metrics"
	export E2E_SCREENSHOT_DIR="${E2E_SCREENSHOT_DIR:-$PWD/out/screenshots/swarm}"
	mkdir -p "$E2E_SCREENSHOT_DIR"
	exec go test -count=1 -timeout 10m -v -run . ./services/console/e2e/...
	;;
*)
	echo "e2e: want basic, cluster, observability or swarm-observability, got $pattern" >&2
	exit 1
	;;
esac

mapfile -t pkgs < <(find services -type d -name e2e -printf './%p/...\n' | sort)
if [ "${#pkgs[@]}" -eq 0 ]; then
	echo "e2e: no e2e packages" >&2
	exit 1
fi
export E2E_SCREENSHOT_DIR="${E2E_SCREENSHOT_DIR:-$PWD/out/screenshots}"
mkdir -p "$E2E_SCREENSHOT_DIR"
go test -count=1 -timeout 15m "${pkgs[@]}"
