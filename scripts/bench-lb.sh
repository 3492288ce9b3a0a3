#!/usr/bin/env bash
# bench-lb.sh: our lb against nginx and HAProxy (Debian packages) on this
# machine, same budget for each: the proxy pinned to one core, wrk and
# the backend (services/lb/cmd/benchbackend, 1 KiB and 32 KiB answers) on
# the other, everything on 127.0.0.1. Prints requests/s and p99 per proxy
# and our ratio to nginx.
#
# Environment: DURATION (10s), CONNECTIONS (64), ROUNDS (3: runs of each
# proxy, interleaved; the best is kept per proxy to damp a noisy machine),
# PROXY_CPU (0), CLIENT_CPU (1), BASE_PORT (18080).
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
PROXY_CPU=${PROXY_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE_PORT=${BASE_PORT:-18080}
BACKEND_PORT=$BASE_PORT
LB_PORT=$((BASE_PORT + 1))
NGINX_PORT=$((BASE_PORT + 2))
HAPROXY_PORT=$((BASE_PORT + 3))
LB_ADMIN_PORT=$((BASE_PORT + 4))

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/bench-lb.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

need() {
	local missing=()
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || missing+=("${pair#*:}")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing ${missing[*]}" >&2
		apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
	fi
}
need wrk:wrk nginx:nginx-light haproxy:haproxy taskset:util-linux

wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "nothing listens on port $1" >&2
	return 1
}

echo "building lb and benchbackend" >&2
(cd "$root/services/lb" && CGO_ENABLED=0 go build -trimpath -o "$work/lb" ./cmd/lb && CGO_ENABLED=0 go build -trimpath -o "$work/benchbackend" ./cmd/benchbackend)

taskset -c "$CLIENT_CPU" "$work/benchbackend" -addr "127.0.0.1:$BACKEND_PORT" &
pids+=($!)
wait_port "$BACKEND_PORT"

cat >"$work/nginx.conf" <<EOF
worker_processes 1;
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
  upstream backend {
    server 127.0.0.1:$BACKEND_PORT;
    keepalive 256;
    keepalive_requests 100000;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://backend;
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

cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option forwardfor
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend be
backend be
  server b1 127.0.0.1:$BACKEND_PORT
EOF

start_proxy() {
	case $1 in
	lb)
		env PORT="$LB_PORT" HTTPS_PORT=0 ADMIN_PORT="$LB_ADMIN_PORT" ACCESS_LOG=false GOMAXPROCS=1 \
			API_UPSTREAM="127.0.0.1:$BACKEND_PORT" FRONTEND_UPSTREAM="127.0.0.1:$BACKEND_PORT" \
			UPSTREAM_CIDRS=127.0.0.0/8 INSTANCE_NAME=bench \
			taskset -c "$PROXY_CPU" "$work/lb" >"$work/lb.log" 2>&1 &
		;;
	nginx)
		taskset -c "$PROXY_CPU" /usr/sbin/nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" &
		;;
	haproxy)
		taskset -c "$PROXY_CPU" /usr/sbin/haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
		;;
	esac
	pids+=($!)
	wait_port "$(port_of "$1")"
}

port_of() {
	case $1 in lb) echo "$LB_PORT" ;; nginx) echo "$NGINX_PORT" ;; haproxy) echo "$HAPROXY_PORT" ;; esac
}

# run_wrk URL -> "rps p99_ms"
run_wrk() {
	taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$1" | awk '
		/Requests\/sec/ { rps = $2 }
		/^ +99%/ { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
			if (u == "us") v /= 1000; else if (u == "s") v *= 1000; p99 = v }
		/Non-2xx|Socket errors/ { print "wrk: " $0 > "/dev/stderr" }
		END { printf "%.0f %.2f\n", rps, p99 }'
}

# All three proxies run at once on the same core (an idle one costs
# nothing); runs are interleaved proxy by proxy, so the machine's other
# load hits each of them alike.
for proxy in lb nginx haproxy; do
	start_proxy "$proxy"
	taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$(port_of "$proxy")/1k" >/dev/null # warm-up
done

declare -A RPS P99 ALL_RPS ALL_P99
for round in $(seq "$ROUNDS"); do
	for size in 1k 32k; do
		for proxy in lb nginx haproxy; do
			read -r rps p99 < <(run_wrk "http://127.0.0.1:$(port_of "$proxy")/$size")
			echo "round $round: $proxy $size: $rps req/s, p99 ${p99} ms" >&2
			key="$proxy/$size"
			ALL_RPS[$key]+="$rps "
			ALL_P99[$key]+="$p99 "
			if [ -z "${RPS[$key]:-}" ] || [ "$rps" -gt "${RPS[$key]}" ]; then
				RPS[$key]=$rps
				P99[$key]=$p99
			fi
		done
	done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
echo "bench-lb: $CONNECTIONS connections, $DURATION per run, $ROUNDS round(s); proxy on CPU $PROXY_CPU, wrk + backend on CPU $CLIENT_CPU"
echo "best = the run with the most req/s (and its p99); median = medians over the rounds"
printf '%-8s %-5s %10s %8s %8s %8s | %10s %8s %8s %8s\n' proxy size 'best r/s' 'p99 ms' 'r/s÷ngx' 'p99÷ngx' 'med r/s' 'p99 ms' 'r/s÷ngx' 'p99÷ngx'
for size in 1k 32k; do
	nk="nginx/$size"
	nmr=$(median <<<"${ALL_RPS[$nk]}")
	nmp=$(median <<<"${ALL_P99[$nk]}")
	for proxy in lb nginx haproxy; do
		key="$proxy/$size"
		mr=$(median <<<"${ALL_RPS[$key]}")
		mp=$(median <<<"${ALL_P99[$key]}")
		printf '%-8s %-5s %10s %8s %8s %8s | %10s %8s %8s %8s\n' "$proxy" "$size" \
			"${RPS[$key]}" "${P99[$key]}" "$(ratio "${RPS[$key]}" "${RPS[$nk]}")" "$(ratio "${P99[$key]}" "${P99[$nk]}")" \
			"$mr" "$mp" "$(ratio "$mr" "$nmr")" "$(ratio "$mp" "$nmp")"
	done
done
echo "bar: lb >= 0.80x nginx req/s and <= 1.30x its p99 at 1k; >= 0.95x req/s at 32k"
