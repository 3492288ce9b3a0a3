#!/usr/bin/env bash
# bench-api.sh: the api against a bare net/http handler doing the same
# round trips (services/api/cmd/benchbaseline), in the same run, natively:
# PostgreSQL and Redis from Debian's packages, started here on 127.0.0.1
# (no Docker, no docker-proxy in the path). Each server is pinned to one
# core (SERVER_CPU); wrk, PostgreSQL and Redis share the other (CLIENT_CPU).
# Rate limiting is on, with a limit never reached.
#
# Scenarios (wrk Lua scripts in scripts/bench-api/):
#   get     GET one item, a cache hit
#   miss    GET items in turn from a fresh cache generation: every read
#           misses and loads from PostgreSQL
#   list    GET /api/inventory?limit=20, a cached page
#   create  POST a new item (API key looked up in PostgreSQL, insert,
#           cache invalidation, event)
#   hot     PUT one item with If-Match of the last ETag seen: concurrent
#           writers conflict (412) on a hot row
#
# Prints per scenario and server the median over ROUNDS of req/s, p99 and
# CPU time per request (utime+stime from /proc/PID/stat over the run, the
# steadier figure on a shared machine), the spread (min-max), and the api's
# ratios to the baseline. It never fails on a figure.
#
# Environment: DURATION (5s), CONNECTIONS (32), ROUNDS (3), SCENARIOS
# ("get miss list create hot"), SERVER_CPU (0), CLIENT_CPU (1), BASE_PORT
# (18200), SEED_ITEMS (40000), API_ENV (extra NAME=value words for the api
# only, e.g. API_ENV="OTEL_EXPORTER_OTLP_ENDPOINT=…" to measure tracing),
# KEEP_LOGS (set: keep the work directory and print its path), PROFILE_DIR
# (set: the api serves pprof on a loopback debug port, DEBUG_ADDR, the
# baseline on one of its own, and a CPU profile of each scenario's first
# round is written there as api-SCENARIO.pprof and baseline-SCENARIO.pprof,
# with the binaries, api and benchbaseline; read one with
# `go tool pprof -top DIR/api DIR/api-get.pprof`).
set -euo pipefail
# go.mod names a newer Go than some installs have; let go fetch it, as
# the Makefile does, when the script is run by hand (GOTOOLCHAIN=local in
# the environment still wins).
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
SCENARIOS=${SCENARIOS:-get miss list create hot}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE_PORT=${BASE_PORT:-18200}
SEED_ITEMS=${SEED_ITEMS:-40000}
API_ENV=${API_ENV:-}
PG_PORT=$BASE_PORT
REDIS_PORT=$((BASE_PORT + 1))
API_PORT=$((BASE_PORT + 2))
BASELINE_PORT=$((BASE_PORT + 3))
DEBUG_PORT=$((BASE_PORT + 4))
BASE_DEBUG_PORT=$((BASE_PORT + 5))
PROFILE_DIR=${PROFILE_DIR:-}
LIMIT=1000000/s

root=$(cd "$(dirname "$0")/.." && pwd)
lua=$root/scripts/bench-api
work=$(mktemp -d /tmp/bench-api.XXXXXX)
chmod 755 "$work"
pids=()
pgbin=
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -n "$pgbin" ] && [ -f "$work/pg/postmaster.pid" ]; then
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
	fi
	wait 2>/dev/null || true
	if [ -n "${KEEP_LOGS:-}" ]; then echo "bench-api: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v psql >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v taskset >/dev/null || missing+=(util-linux)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench-api: installing ${missing[*]} from Debian's packages" >&2
	as_root apt-get install -y -qq "${missing[@]}" >/dev/null ||
		{ as_root apt-get update -qq && as_root apt-get install -y -qq "${missing[@]}" >/dev/null; }
	# Only the servers this script starts are wanted: where the packages
	# started their own (5432, 6379: the basic stack's loopback ports), stop them.
	for svc in postgresql redis-server; do
		if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then
			as_root systemctl stop "$svc" || true
		fi
	done
fi
pgbin=$(dirname "$(printf "%s\n" /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")

wait_http() {
	for _ in $(seq 200); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench-api: no answer from $1" >&2
	return 1
}

echo "== building the api and the baseline" >&2
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$work/api" ./services/api/cmd/api &&
	CGO_ENABLED=0 go build -trimpath -o "$work/benchbaseline" ./services/api/cmd/benchbaseline)

echo "== PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT (CPU $CLIENT_CPU)" >&2
mkdir "$work/pg" && chown postgres: "$work/pg"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg" -U postgres --auth=trust -E UTF8 >/dev/null
# fsync off: the benchmark measures CPU per request, not this disk, which
# other engineers share.
runuser -u postgres -- taskset -c "$CLIENT_CPU" "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w -o \
	"-c listen_addresses=127.0.0.1 -p $PG_PORT -k $work/pg -c fsync=off -c synchronous_commit=off -c max_connections=200" \
	start >/dev/null
psql() { command psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }
psql -c 'CREATE DATABASE inventory'
taskset -c "$CLIENT_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
	--daemonize no --logfile "$work/redis.log" &
pids+=($!)
db_url="postgres://postgres@127.0.0.1:$PG_PORT/inventory?sslmode=disable"
redis_url="redis://127.0.0.1:$REDIS_PORT/0"
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
for _ in $(seq 100); do rcli ping >/dev/null 2>&1 && break; sleep 0.05; done

if [ -n "$PROFILE_DIR" ]; then
	mkdir -p "$PROFILE_DIR"
	cp "$work/api" "$work/benchbaseline" "$PROFILE_DIR/" # the profiles' symbols
	API_ENV+=" DEBUG_ADDR=127.0.0.1:$DEBUG_PORT"
fi
# shellcheck disable=SC2086 # API_ENV is a list of NAME=value words
env -i PATH="$PATH" PORT="$API_PORT" DATABASE_URL="$db_url" REDIS_URL="$redis_url" AUTO_MIGRATE=true \
	RATE_LIMIT=$LIMIT RATE_LIMIT_KEY=$LIMIT INSTANCE_ID=bench GOMAXPROCS=1 $API_ENV \
	taskset -c "$SERVER_CPU" "$work/api" serve >"$work/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
wait_http "http://127.0.0.1:$API_PORT/ready"
key=$(env -i PATH="$PATH" DATABASE_URL="$db_url" REDIS_URL="$redis_url" "$work/api" keys create bench | head -1)
base_debug=()
[ -z "$PROFILE_DIR" ] || base_debug=(-debug "127.0.0.1:$BASE_DEBUG_PORT")
GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$work/benchbaseline" -addr "127.0.0.1:$BASELINE_PORT" \
	-database "$db_url" -redis "$redis_url" -limit "$LIMIT" "${base_debug[@]}" >"$work/baseline.log" 2>&1 &
base_pid=$!
pids+=("$base_pid")
wait_http "http://127.0.0.1:$BASELINE_PORT/health"

echo "== seeding $SEED_ITEMS items" >&2
psql -d inventory -c "INSERT INTO items (id, name, image, image_normalized, image_repository, description, labels, source_url, docs_urls)
	SELECT gen_random_uuid(), 'seed-' || i, 'postgres:17-alpine', 'docker.io/library/postgres:17-alpine', 'docker.io/library/postgres',
	'primary database of the stack number ' || i, ARRAY['db', 'seed'], 'https://github.com/docker-library/postgres',
	ARRAY['https://hub.docker.com/_/postgres'] FROM generate_series(1, $SEED_ITEMS) AS i"
psql -d inventory -At -c 'SELECT id FROM items ORDER BY random()' >"$work/ids.txt"
hot=$(head -1 "$work/ids.txt")
curl -fsS -o /dev/null "http://127.0.0.1:$API_PORT/api/inventory/$hot"

port_of() { if [ "$1" = api ]; then echo "$API_PORT"; else echo "$BASELINE_PORT"; fi; }
pid_of() { if [ "$1" = api ]; then echo "$api_pid"; else echo "$base_pid"; fi; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
clk=$(getconf CLK_TCK)

# run SERVER SCENARIO ROUND -> "requests rps p50 p99 non2xx errors cpu_us_per_req"
run() {
	local server=$1 scenario=$2 round=$3 url args=() extra=() pid t0 t1 line
	url="http://127.0.0.1:$(port_of "$server")"
	case $scenario in
	get) url+="/api/inventory/$hot"; args=(-s "$lua/report.lua") ;;
	list) url+="/api/inventory?limit=20"; args=(-s "$lua/report.lua") ;;
	miss)
		# A fresh generation: every entry cached before is out of reach.
		rcli set cache:items:gen "m$RANDOM$RANDOM" >/dev/null
		rcli set baseline:items:gen "m$RANDOM$RANDOM" >/dev/null
		cat "$lua/miss.lua" "$lua/report.lua" >"$work/miss.lua"
		args=(-s "$work/miss.lua"); extra=(-- "$work/ids.txt") ;;
	create)
		cat "$lua/create.lua" "$lua/report.lua" >"$work/create.lua"
		args=(-s "$work/create.lua"); extra=(-- "$server-$round-$$" "$key") ;;
	hot)
		cat "$lua/hot.lua" "$lua/report.lua" >"$work/hot.lua"
		url+="/api/inventory/$hot"
		args=(-s "$work/hot.lua")
		extra=(-- "$key" "$(curl -fsS -D - -o /dev/null "$url" | awk -F': ' 'tolower($1) == "etag" { sub(/\r$/, "", $2); print $2 }')") ;;
	esac
	pid=$(pid_of "$server")
	t0=$(cpu_ticks "$pid")
	local prof=
	if [ -n "$PROFILE_DIR" ] && [ "$round" = 1 ]; then
		local secs=${DURATION%s} dport=$DEBUG_PORT
		[ "$server" = api ] || dport=$BASE_DEBUG_PORT
		curl -fsS -o "$PROFILE_DIR/$server-$scenario.pprof" \
			"http://127.0.0.1:$dport/debug/pprof/profile?seconds=$((secs > 1 ? secs - 1 : 1))" &
		prof=$!
	fi
	line=$(taskset -c "$CLIENT_CPU" wrk -t1 -c "$CONNECTIONS" -d "$DURATION" --latency "${args[@]}" "$url" "${extra[@]}" | grep '^RESULT')
	t1=$(cpu_ticks "$pid")
	[ -z "$prof" ] || wait "$prof"
	read -r _ reqs rps p50 p99 non2xx sockerr <<<"$line"
	echo "$reqs $rps $p50 $p99 $non2xx $sockerr $(awk -v d=$((t1 - t0)) -v c="$clk" -v n="$reqs" 'BEGIN { printf "%.1f", n ? d * 1e6 / c / n : 0 }')"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A RPS P99 CPU NOTE
for server in api baseline; do # warm-up: connections, JIT-free but caches and pools
	taskset -c "$CLIENT_CPU" wrk -t1 -c "$CONNECTIONS" -d 1s "http://127.0.0.1:$(port_of "$server")/api/inventory/$hot" >/dev/null
done
for round in $(seq "$ROUNDS"); do
	for scenario in $SCENARIOS; do
		for server in api baseline; do
			read -r reqs rps p50 p99 non2xx sockerr cpu < <(run "$server" "$scenario" "$round")
			k="$scenario/$server"
			RPS[$k]+="$rps "
			P99[$k]+="$p99 "
			CPU[$k]+="$cpu "
			note=""
			[ "$non2xx" -gt 0 ] && note+=" non-2xx=$non2xx"
			[ "$sockerr" -gt 0 ] && note+=" socket-errors=$sockerr"
			if [ "$scenario" = miss ] && [ "$reqs" -gt "$SEED_ITEMS" ]; then note+=" (more requests than items: some hit)"; fi
			NOTE[$k]=$note
			printf 'round %d %-7s %-8s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  %7.1f µs CPU/req%s\n' \
				"$round" "$scenario" "$server" "$rps" "$p50" "$p99" "$cpu" "$note" >&2
		done
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { tr ' ' '\n' | grep . | sort -g | awk -v f="${1:-%.0f}" 'NR == 1 { lo = $1 } { hi = $1 } END { printf f "-" f, lo, hi }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }

echo
echo "bench-api: $CONNECTIONS connections, $DURATION per run, $ROUNDS round(s); server on CPU $SERVER_CPU; wrk, PostgreSQL, Redis on CPU $CLIENT_CPU"
echo "rate limit $LIMIT (on, never reached); load average before $load0, after $load1 ($(nproc) CPUs)"
echo "medians over the rounds, spread min-max in brackets; ratios are api / baseline"
printf '%-7s %-8s %24s %22s %22s | %7s %7s %8s\n' scenario server 'req/s' 'p99 ms' 'CPU µs/req' 'r/s' 'p99' 'CPU/req'
for scenario in $SCENARIOS; do
	for server in api baseline; do
		k="$scenario/$server"
		r=$(median <<<"${RPS[$k]}") p=$(median <<<"${P99[$k]}") c=$(median <<<"${CPU[$k]}")
		if [ "$server" = api ]; then
			b="$scenario/baseline"
			ratios=$(printf '%7s %7s %8s' "$(ratio "$r" "$(median <<<"${RPS[$b]}")")" \
				"$(ratio "$p" "$(median <<<"${P99[$b]}")")" "$(ratio "$c" "$(median <<<"${CPU[$b]}")")")
		else ratios=""; fi
		printf '%-7s %-8s %8.0f [%13s] %6.2f [%13s] %6.1f [%13s] | %s%s\n' "$scenario" "$server" \
			"$r" "$(spread <<<"${RPS[$k]}")" "$p" "$(spread %.1f <<<"${P99[$k]}")" "$c" "$(spread %.0f <<<"${CPU[$k]}")" "$ratios" "${NOTE[$k]}"
	done
done
echo "goal: api >= 0.70x the baseline's req/s, p99 <= 1.30x; hot: 412s are the expected conflicts"
