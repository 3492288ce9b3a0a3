#!/usr/bin/env bash
# Starts the observability profile beside the pattern that runs (cluster if
# its lb runs, else basic; OBS_PATTERN=basic|cluster picks one, and starts
# it if needed), with the services exporting traces to it, then prints the
# URLs, how long the start took and what the profile's containers weigh.
#
#   scripts/observability.sh up     (make observability)
#   scripts/observability.sh down   (make observability-down): the stores
#                                   stop, the services stop exporting
# The Makefile passes BASIC_COMPOSE and CLUSTER_COMPOSE, its compose
# commands for each pattern.
set -euo pipefail
cd "$(dirname "$0")/.."

profile_services=(victoria-metrics victoria-logs vlagent jaeger console)

pattern="${OBS_PATTERN:-}"
if [ -z "$pattern" ]; then
	if $CLUSTER_COMPOSE ps --status running --services 2>/dev/null | grep -qx lb; then
		pattern=cluster
	elif $BASIC_COMPOSE ps --status running --services 2>/dev/null | grep -qx api; then
		pattern=basic
	else
		pattern=cluster
	fi
fi
case "$pattern" in
basic) compose="$BASIC_COMPOSE" ;;
cluster) compose="$CLUSTER_COMPOSE" ;;
*) echo "observability: OBS_PATTERN=$pattern: want basic or cluster (the swarm: see the README)" >&2; exit 1 ;;
esac

case "${1:-up}" in
up)
	t0=$(date +%s%N)
	# The services are recreated with an OTLP endpoint: tracing is off in
	# them unless one is set.
	OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318 $compose --profile observability up -d --no-build --wait --wait-timeout 300
	t1=$(date +%s%N)
	echo "observability: the $pattern pattern and its observability profile are healthy after $(((t1 - t0) / 100000000 / 10)).$(((t1 - t0) / 100000000 % 10)) s"
	echo "  console (dashboards, traces, logs): http://localhost:${CONSOLE_PORT:-9400}/"
	echo "  metrics (vmui, dashboards):         http://localhost:${METRICS_PORT:-8428}/vmui/#/dashboards"
	echo "  logs (vmui):                        http://localhost:${LOGS_PORT:-9428}/select/vmui/"
	echo "  traces (Jaeger query API):          http://localhost:${TRACES_PORT:-16686}/api/services"
	mapfile -t ids < <($compose --profile observability ps -q "${profile_services[@]}")
	docker stats --no-stream --format '  {{.Name}}\t{{.MemUsage}}' "${ids[@]}"
	;;
down)
	$compose --profile observability rm -sf "${profile_services[@]}"
	# The services go back to no exporter.
	$compose up -d --no-build --wait --wait-timeout 300
	;;
*)
	echo "usage: observability.sh up|down" >&2
	exit 1
	;;
esac
