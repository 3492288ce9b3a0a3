#!/usr/bin/env bash
# Load-test the API of the running basic stack (make up first): list,
# get-by-id and create, each for BENCH_DURATION with wrk. Prints requests/s,
# p50 and p99 latency, and SQL statements per request, read from the API's
# api_db_queries_total counter (a pgx tracer) before and after each phase.
#
# Environment: E2E_API_URL (http://127.0.0.1:8000), E2E_API_KEY (default:
# deploy/secrets/api_key.txt), BENCH_DURATION (10s), BENCH_CONNECTIONS (32),
# BENCH_THREADS (2). Items created are deleted afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${E2E_API_URL:-http://127.0.0.1:8000}
base=${base%/}
key=${E2E_API_KEY:-}
if [[ -z $key && -r deploy/secrets/api_key.txt ]]; then
  key=$(<deploy/secrets/api_key.txt)
fi
[[ -n $key ]] || { echo "bench-api: set E2E_API_KEY or run make secrets" >&2; exit 1; }
duration=${BENCH_DURATION:-10s}
conns=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
lua=scripts/bench-api

need() {
  command -v "$1" >/dev/null && return
  echo "bench-api: installing $1 from Debian's packages" >&2
  if [[ $(id -u) == 0 ]]; then apt-get install -y -qq "$1" >/dev/null
  else sudo apt-get install -y -qq "$1" >/dev/null; fi
}
need wrk; need curl; need jq

curl -fsS --max-time 5 "$base/ready" >/dev/null ||
  { echo "bench-api: $base/ready does not answer 200: is the stack up (make up)?" >&2; exit 1; }

run=$(date +%s)-$$
queries() {
  curl -fsS "$base/metrics" | awk '$1 == "api_db_queries_total" { printf "%d", $2 }'
}
cleanup() {
  # Delete what this run created, a page at a time.
  local ids
  while ids=$(curl -fsS "$base/api/inventory?limit=100&label=bench-$run" | jq -r '.items[].id') && [[ -n $ids ]]; do
    # shellcheck disable=SC2001 # one curl config stanza per id
    sed "s|.*|url = \"$base/api/inventory/&\"\noutput = /dev/null|" <<<"$ids" |
      curl --no-progress-meter -fsS --parallel --parallel-max 16 -X DELETE -H "X-API-Key: $key" -K - || break
  done
}
trap cleanup EXIT

# Seed: enough items for a full first page, and one id to read.
for i in $(seq 1 30); do
  curl -fsS -o /dev/null -X POST -H "X-API-Key: $key" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench-$run-seed-$i\",\"image\":\"redis:7\",\"labels\":[\"bench-$run\"]}" "$base/api/inventory"
done
id=$(curl -fsS "$base/api/inventory?limit=1&label=bench-$run" | jq -r '.items[0].id')

printf '%-12s %10s %10s %9s %9s %8s %12s\n' phase requests "req/s" "p50 ms" "p99 ms" "errors" "queries/req"
phase() { # name, wrk arguments...
  local name=$1; shift
  local q0 q1 line
  q0=$(queries)
  line=$(wrk -t "$threads" -c "$conns" -d "$duration" --latency "$@" | grep '^RESULT')
  q1=$(queries)
  read -r _ reqs rps p50 p99 non2xx sockerr <<<"$line"
  printf '%-12s %10d %10.1f %9.2f %9.2f %8d %12.2f\n' "$name" "$reqs" "$rps" "$p50" "$p99" \
    $((non2xx + sockerr)) "$(awk -v q=$((q1 - q0)) -v r="$reqs" 'BEGIN { print (r ? q / r : 0) }')"
}
phase list   -s "$lua/report.lua" "$base/api/inventory?limit=20"
phase get    -s "$lua/report.lua" "$base/api/inventory/$id"
# wrk loads its script once per thread: give it a file, not a pipe.
create_lua=$(mktemp --suffix=.lua)
cat "$lua/create.lua" "$lua/report.lua" >"$create_lua"
phase create -s "$create_lua" "$base" -- "$run" "$key"
rm -f "$create_lua"
