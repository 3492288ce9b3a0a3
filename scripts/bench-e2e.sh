#!/usr/bin/env bash
# bench-e2e.sh: the end-to-end path of the cluster, through its lb to the
# three api replicas, and the same with nginx (Debian's package, a config
# written here) in the lb's place, in one run, so a user can see what the
# lb costs or saves. Scenarios: a cached item read and a cached list page.
#
# The script starts the cluster itself (`make bench-e2e` builds the images
# first), with rate limits on and never reached, plus an override file
# that publishes each api replica on 127.0.0.1 (ports API_BASE_PORT…+2) for
# nginx and gives PostgreSQL a fresh volume of its own, and stops the
# cluster (and removes that volume) at the end. Both paths have one docker-proxy
# hop: client -> docker-proxy -> lb -> api, and client -> nginx ->
# docker-proxy -> api. Nothing is pinned (the containers share both
# cores); the CPU time per request of the proxy (the lb container's
# process, nginx's single process) and of the three api replicas together
# is read from /proc. Prints figures, never fails on them. It stops and
# starts the cluster: run it when no other stack uses the ports.
#
# Environment: CLUSTER (the compose command of the cluster; the Makefile
# passes it), DURATION (5s), CONNECTIONS (32), ROUNDS (3), LB_HTTP_PORT
# (80), API_BASE_PORT (18500), NGINX_PORT (18510), E2E_API_KEY (default
# deploy/secrets/api_key.txt), KEEP_UP (set: leave the cluster running).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
LB_HTTP_PORT=${LB_HTTP_PORT:-80}
API_BASE_PORT=${API_BASE_PORT:-18500}
NGINX_PORT=${NGINX_PORT:-18510}
LIMIT=1000000/s
key=${E2E_API_KEY:-}
if [[ -z $key && -r deploy/secrets/api_key.txt ]]; then key=$(<deploy/secrets/api_key.txt); fi
[[ -n $key ]] || { echo "bench-e2e: set E2E_API_KEY or run make secrets" >&2; exit 1; }

work=$(mktemp -d /tmp/bench-e2e.XXXXXX)
chmod 755 "$work"
# The database lives in a volume of its own, new for the run and removed
# after it: the stack's volume is left alone (and may hold a database made
# with another password).
bench_volume=docker_examples_bench_e2e_db
cat >"$work/publish.yaml" <<EOF
services:
  api:
    ports:
      - "127.0.0.1:$API_BASE_PORT-$((API_BASE_PORT + 2)):8000"
  postgres:
    volumes:
      - bench_db:/var/lib/postgresql/data
volumes:
  bench_db:
    name: $bench_volume
EOF
read -r -a cluster <<<"${CLUSTER:-docker compose --project-directory deploy/cluster -f deploy/cluster/compose.yaml}"
cluster+=(-f "$work/publish.yaml")
nginx_pid=
cleanup() {
	[ -z "$nginx_pid" ] || kill "$nginx_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	if [ -z "${KEEP_UP:-}" ]; then
		"${cluster[@]}" down --remove-orphans >/dev/null 2>&1 || true
		docker volume rm "$bench_volume" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

need=()
for c in wrk curl jq; do command -v "$c" >/dev/null || need+=("$c"); done
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ -n "${need[*]:-}" ]; then apt-get install -y -qq "${need[@]}" >/dev/null; fi

echo "== starting the cluster (rate limits $LIMIT, api replicas on 127.0.0.1:$API_BASE_PORT-$((API_BASE_PORT + 2)))" >&2
# Plain HTTP on both paths, as nginx is configured here: the lb's port 80
# serves instead of redirecting to https (REDIRECT_HTTPS=false).
RATE_LIMIT=$LIMIT RATE_LIMIT_KEY=$LIMIT REDIRECT_HTTPS=false "${cluster[@]}" up -d --no-build --wait --wait-timeout 300 >&2

lb=http://127.0.0.1:$LB_HTTP_PORT
ngx=http://127.0.0.1:$NGINX_PORT
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  proxy_temp_path $work/nginx-proxy;
  fastcgi_temp_path $work/nginx-fastcgi;
  uwsgi_temp_path $work/nginx-uwsgi;
  scgi_temp_path $work/nginx-scgi;
  keepalive_requests 100000;
  upstream api {
    server 127.0.0.1:$API_BASE_PORT;
    server 127.0.0.1:$((API_BASE_PORT + 1));
    server 127.0.0.1:$((API_BASE_PORT + 2));
    keepalive 256;
    keepalive_requests 100000;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location /api/ {
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_buffers 8 32k;
      proxy_buffer_size 32k;
    }
  }
}
EOF
/usr/sbin/nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" &
nginx_pid=$!
for _ in $(seq 100); do curl -fsS -o /dev/null "$ngx/api/inventory?limit=1" 2>/dev/null && break; sleep 0.1; done

# Seed a full first page and read one id.
run=$(date +%s)-$$
for i in $(seq 1 20); do
	curl -fsS -o /dev/null -X POST -H "X-API-Key: $key" -H 'Content-Type: application/json' \
		-d "{\"name\":\"bench-e2e-$run-$i\",\"image\":\"postgres:17-alpine\",\"description\":\"seeded by bench-e2e\",\"labels\":[\"bench-$run\"]}" \
		"$lb/api/inventory"
done
id=$(curl -fsS "$lb/api/inventory?limit=1&label=bench-$run" | jq -r '.items[0].id')

lb_pid=$(docker inspect -f '{{.State.Pid}}' "$("${cluster[@]}" ps -q lb)")
mapfile -t api_pids < <(for c in $("${cluster[@]}" ps -q api); do docker inspect -f '{{.State.Pid}}' "$c"; done)
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo "$t"; }
clk=$(getconf CLK_TCK)
per_req() { awk -v d="$1" -v c="$clk" -v n="$2" 'BEGIN { printf "%.1f", n ? d * 1e6 / c / n : 0 }'; }

declare -A RPS P99 PCPU ACPU
paths=(get list)
url_of() { if [ "$2" = get ]; then echo "$1/api/inventory/$id"; else echo "$1/api/inventory?limit=20"; fi; }
for proxy in lb nginx; do # warm-up: caches, pools
	base=$lb; [ "$proxy" = nginx ] && base=$ngx
	for p in "${paths[@]}"; do wrk -t1 -c "$CONNECTIONS" -d 1s "$(url_of "$base" "$p")" >/dev/null; done
done
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
	for p in "${paths[@]}"; do
		for proxy in lb nginx; do
			base=$lb ppid=$lb_pid
			if [ "$proxy" = nginx ]; then base=$ngx ppid=$nginx_pid; fi
			p0=$(ticks "$ppid") a0=$(ticks "${api_pids[@]}")
			read -r _ reqs rps _ p99 non2xx sockerr < <(wrk -t2 -c "$CONNECTIONS" -d "$DURATION" --latency \
				-s scripts/bench-api/report.lua "$(url_of "$base" "$p")" | grep '^RESULT')
			p1=$(ticks "$ppid") a1=$(ticks "${api_pids[@]}")
			k="$p $proxy"
			RPS[$k]+="$rps " P99[$k]+="$p99 "
			PCPU[$k]+="$(per_req $((p1 - p0)) "$reqs") " ACPU[$k]+="$(per_req $((a1 - a0)) "$reqs") "
			printf 'round %d %-5s %-6s %7.0f req/s  p99 %7.2f ms  proxy %6s µs CPU/req  api %6s µs CPU/req%s\n' \
				"$round" "$p" "$proxy" "$rps" "$p99" "$(per_req $((p1 - p0)) "$reqs")" "$(per_req $((a1 - a0)) "$reqs")" \
				"$([ $((non2xx + sockerr)) -gt 0 ] && echo " errors=$((non2xx + sockerr))")" >&2
		done
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# Remove what this run created.
for i in $(curl -fsS "$lb/api/inventory?limit=100&label=bench-$run" | jq -r '.items[].id'); do
	curl -fsS -o /dev/null -X DELETE -H "X-API-Key: $key" "$lb/api/inventory/$i" || true
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { tr ' ' '\n' | grep . | sort -g | awk -v f="$1" 'NR == 1 { lo = $1 } { hi = $1 } END { printf f "-" f, lo, hi }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
echo
echo "bench-e2e: client -> proxy -> 3 api replicas (cluster), $CONNECTIONS connections, $DURATION per run, $ROUNDS round(s), nothing pinned"
echo "load average before $load0, after $load1 ($(nproc) CPUs); medians, spread min-max in brackets; ratios lb / nginx"
printf '%-5s %-6s %8s %15s %8s %15s %9s %9s | %6s %6s %6s\n' path proxy 'req/s' '' 'p99 ms' '' 'proxy µs' 'api µs' 'r/s' 'p99' 'proxy'
for p in "${paths[@]}"; do
	for proxy in lb nginx; do
		k="$p $proxy" n="$p nginx"
		r=$(median <<<"${RPS[$k]}") l=$(median <<<"${P99[$k]}") c=$(median <<<"${PCPU[$k]}") a=$(median <<<"${ACPU[$k]}")
		ratios=""
		[ "$proxy" = lb ] && ratios=$(printf '%6s %6s %6s' "$(ratio "$r" "$(median <<<"${RPS[$n]}")")" \
			"$(ratio "$l" "$(median <<<"${P99[$n]}")")" "$(ratio "$c" "$(median <<<"${PCPU[$n]}")")")
		printf '%-5s %-6s %8.0f [%13s] %8.2f [%13s] %9.1f %9.1f | %s\n' "$p" "$proxy" "$r" "$(spread %.0f <<<"${RPS[$k]}")" \
			"$l" "$(spread %.1f <<<"${P99[$k]}")" "$c" "$a" "$ratios"
	done
done
