#!/usr/bin/env bash
# bench-lb.sh: our lb against nginx and HAProxy (Debian packages) on this
# machine, in the same run, same budget for each: the proxy pinned to one
# core (PROXY_CPU), the load generator and the backend
# (services/lb/cmd/benchbackend) on the other (CLIENT_CPU), all on
# 127.0.0.1; the proxies speak HTTP/1.1 to the backend.
#
# Cases: answers of 1 KiB, 32 KiB and 256 KiB, each with a Content-Length
# (/1k …) and without one, chunked (/chunked/1k …), as most backends send
# bodies they encode as they go; over HTTP/1.1 (wrk) and over HTTPS with
# HTTP/2 from the client (h2load, Debian's nghttp2-client). Runs are
# interleaved proxy by proxy, round after round, so the machine's other
# load hits each alike. Prints per case and proxy the median over ROUNDS of
# requests/s, p99 latency and the proxy's CPU time per request
# (utime+stime from /proc/PID/stat, steadier than req/s on a shared
# machine), the spread (min-max), and the lb's ratios to nginx. It prints
# figures and never fails on them.
#
# Environment: DURATION (5s), CONNECTIONS (64; HTTP/2: H2_CLIENTS (16)
# connections of H2_STREAMS (4) streams), ROUNDS (3), PROTOS ("h1 h2"),
# SIZES ("1k 32k 256k"), PROXIES ("lb nginx haproxy"), PROXY_CPU (0),
# CLIENT_CPU (1), BASE_PORT (18080), LB_ENV (extra NAME=value words for
# the lb only, e.g. to measure access logs).
#
# Tracing's cost: PROXIES="lb lbtrace" runs the same lb binary twice, the
# second with LB_TRACE_ENV (default: OTLP export to the backend, which
# drops it, and the default sampler), in the same rounds; its ratios are
# lbtrace / lb. wrk sends no traceparent, so the lb starts every trace and
# the sampler keeps OTEL_TRACES_SAMPLER_ARG of them (0.1 by default).
set -euo pipefail
# go.mod names a newer Go than some installs have; let go fetch it, as
# the Makefile does, when the script is run by hand (GOTOOLCHAIN=local in
# the environment still wins).
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
H2_CLIENTS=${H2_CLIENTS:-16}
H2_STREAMS=${H2_STREAMS:-4}
ROUNDS=${ROUNDS:-3}
PROTOS=${PROTOS:-h1 h2}
SIZES=${SIZES:-1k 32k 256k}
PROXIES=${PROXIES:-lb nginx haproxy}
PROXY_CPU=${PROXY_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE_PORT=${BASE_PORT:-18080}
LB_ENV=${LB_ENV:-}
BACKEND_PORT=$BASE_PORT
LB_TRACE_ENV=${LB_TRACE_ENV:-OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$BACKEND_PORT OTEL_SERVICE_NAME=lb}
# Admin, HTTP/1.1 and HTTPS ports per proxy.
declare -A ADMIN_PORT=([lb]=$((BASE_PORT + 1)) [lbtrace]=$((BASE_PORT + 10)))
declare -A H1_PORT=([lb]=$((BASE_PORT + 2)) [nginx]=$((BASE_PORT + 3)) [haproxy]=$((BASE_PORT + 4)) [lbtrace]=$((BASE_PORT + 8)))
declare -A H2_PORT=([lb]=$((BASE_PORT + 5)) [nginx]=$((BASE_PORT + 6)) [haproxy]=$((BASE_PORT + 7)) [lbtrace]=$((BASE_PORT + 9)))

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/bench-lb.XXXXXX)
chmod 755 "$work"
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
		local sudo=()
		[ "$(id -u)" -eq 0 ] || sudo=(sudo)
		"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
			{ "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
	fi
}
need wrk:wrk nginx:nginx-light haproxy:haproxy taskset:util-linux h2load:nghttp2-client openssl:openssl curl:curl

wait_port() {
	for _ in $(seq 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "nothing listens on port $1" >&2
	return 1
}

echo "== building lb and benchbackend" >&2
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$work/lb" ./services/lb/cmd/lb &&
	CGO_ENABLED=0 go build -trimpath -o "$work/benchbackend" ./services/lb/cmd/benchbackend)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/haproxy.pem"

taskset -c "$CLIENT_CPU" "$work/benchbackend" -addr "127.0.0.1:$BACKEND_PORT" &
pids+=($!)
wait_port "$BACKEND_PORT"

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
  upstream backend {
    server 127.0.0.1:$BACKEND_PORT;
    keepalive 256;
    keepalive_requests 100000;
  }
  server {
    listen 127.0.0.1:${H1_PORT[nginx]};
    listen 127.0.0.1:${H2_PORT[nginx]} ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
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
  bind 127.0.0.1:${H1_PORT[haproxy]}
  bind 127.0.0.1:${H2_PORT[haproxy]} ssl crt $work/haproxy.pem alpn h2,http/1.1
  default_backend be
backend be
  server b1 127.0.0.1:$BACKEND_PORT
EOF

declare -A PID
start_proxy() {
	case $1 in
	lb | lbtrace)
		local extra=""
		[ "$1" = lb ] || extra=$LB_TRACE_ENV
		# shellcheck disable=SC2086 # LB_ENV and LB_TRACE_ENV are lists of NAME=value words
		env PORT="${H1_PORT[$1]}" HTTPS_PORT="${H2_PORT[$1]}" ADMIN_PORT="${ADMIN_PORT[$1]}" ACCESS_LOG=false GOMAXPROCS=1 \
			TLS_CERT_FILE="$work/cert.pem" TLS_KEY_FILE="$work/key.pem" \
			API_UPSTREAM="127.0.0.1:$BACKEND_PORT" FRONTEND_UPSTREAM="127.0.0.1:$BACKEND_PORT" \
			UPSTREAM_CIDRS=127.0.0.0/8 INSTANCE_NAME=bench $LB_ENV $extra \
			taskset -c "$PROXY_CPU" "$work/lb" >"$work/$1.log" 2>&1 &
		;;
	nginx)
		taskset -c "$PROXY_CPU" /usr/sbin/nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" &
		;;
	haproxy)
		taskset -c "$PROXY_CPU" /usr/sbin/haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
		;;
	esac
	PID[$1]=$!
	pids+=($!)
	wait_port "${H1_PORT[$1]}"
	wait_port "${H2_PORT[$1]}"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
clk=$(getconf CLK_TCK)
to_ms() { # wrk's latency figure (us, ms, s) in ms
	awk -v v="$1" 'BEGIN { u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.2f", v }'
}

# load PROXY PROTO PATH -> "requests rps p99_ms errors"
load() {
	local proxy=$1 proto=$2 path=$3 out
	if [ "$proto" = h1 ]; then
		out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:${H1_PORT[$proxy]}$path")
		awk -v p99="$(to_ms "$(awk '/^ +99%/ { print $2 }' <<<"$out")")" '
			/requests in/ { n = $1 } /Requests\/sec/ { rps = $2 }
			/Non-2xx/ { e += $4 } /Socket errors/ { e += 1 }
			END { printf "%d %.0f %s %d\n", n, rps, p99, e }' <<<"$out"
	else
		rm -f "$work/h2.log"
		out=$(taskset -c "$CLIENT_CPU" h2load -t1 -c"$H2_CLIENTS" -m"$H2_STREAMS" -D"${DURATION%s}" \
			--log-file="$work/h2.log" "https://127.0.0.1:${H2_PORT[$proxy]}$path" 2>&1)
		local p99
		p99=$(awk '{ print $3 }' "$work/h2.log" | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", NR ? v[i] / 1000 : 0 }')
		awk -v p99="$p99" '
			/^finished in/ { rps = $4 } /^requests:/ { n = $8; e = $10 + $12 }
			/^status codes:/ { e += $5 + $7 }
			END { printf "%d %.0f %s %d\n", n, rps, p99, e }' <<<"$out"
	fi
}

for proxy in $PROXIES; do
	start_proxy "$proxy"
done
curl -fsS -o /dev/null --http2 -k "https://127.0.0.1:${H2_PORT[lb]}/1k" ||
	{ echo "bench-lb: the lb does not answer over HTTPS" >&2; exit 1; }
for proxy in $PROXIES; do # warm-up
	taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d1s "http://127.0.0.1:${H1_PORT[$proxy]}/1k" >/dev/null
done

paths=()
for size in $SIZES; do paths+=("/$size" "/chunked/$size"); done
load0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A RPS P99 CPU ERR
for round in $(seq "$ROUNDS"); do
	for proto in $PROTOS; do
		for path in "${paths[@]}"; do
			for proxy in $PROXIES; do
				t0=$(cpu_ticks "${PID[$proxy]}")
				read -r reqs rps p99 errs < <(load "$proxy" "$proto" "$path")
				t1=$(cpu_ticks "${PID[$proxy]}")
				cpu=$(awk -v d=$((t1 - t0)) -v c="$clk" -v n="$reqs" 'BEGIN { printf "%.1f", n ? d * 1e6 / c / n : 0 }')
				k="$proto $path $proxy"
				RPS[$k]+="$rps " P99[$k]+="$p99 " CPU[$k]+="$cpu "
				ERR[$k]=$((${ERR[$k]:-0} + errs))
				printf 'round %d %s %-13s %-8s %7.0f req/s  p99 %7.2f ms  %6.1f µs CPU/req%s\n' "$round" "$proto" "$path" \
					"$proxy" "$rps" "$p99" "$cpu" "$([ "$errs" -gt 0 ] && echo " errors=$errs")" >&2
			done
		done
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { tr ' ' '\n' | grep . | sort -g | awk -v f="$1" 'NR == 1 { lo = $1 } { hi = $1 } END { printf f "-" f, lo, hi }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

echo
echo "bench-lb: $DURATION per run, $ROUNDS round(s); h1: wrk, $CONNECTIONS connections; h2: h2load over TLS, $H2_CLIENTS connections x $H2_STREAMS streams"
echo "proxy on CPU $PROXY_CPU; load generator and backend on CPU $CLIENT_CPU; load average before $load0, after $load1 ($(nproc) CPUs)"
echo "medians over the rounds, spread min-max in brackets; ratios are lb / nginx and lbtrace / lb (CPU: lower is better)"
case " $PROXIES " in *" lbtrace "*) echo "lbtrace: the lb with $LB_TRACE_ENV" ;; esac
printf '%-3s %-13s %-8s %8s %15s %8s %15s %8s %13s | %6s %6s %6s\n' \
	'' path proxy 'req/s' '' 'p99 ms' '' 'CPU µs' '' 'r/s' 'p99' 'CPU'
for proto in $PROTOS; do
	for path in "${paths[@]}"; do
		for proxy in $PROXIES; do
			k="$proto $path $proxy"
			nk="$proto $path nginx"
			[ "$proxy" != lbtrace ] || nk="$proto $path lb"
			r=$(median <<<"${RPS[$k]}") p=$(median <<<"${P99[$k]}") c=$(median <<<"${CPU[$k]}")
			ratios=""
			if [ "$proxy" = lb ] || [ "$proxy" = lbtrace ] && [ -n "${RPS[$nk]:-}" ]; then
				ratios=$(printf '%6s %6s %6s' "$(ratio "$r" "$(median <<<"${RPS[$nk]}")")" \
					"$(ratio "$p" "$(median <<<"${P99[$nk]}")")" "$(ratio "$c" "$(median <<<"${CPU[$nk]}")")")
			fi
			printf '%-3s %-13s %-8s %8.0f [%13s] %8.2f [%13s] %8.1f [%11s] | %s%s\n' "$proto" "$path" "$proxy" \
				"$r" "$(spread %.0f <<<"${RPS[$k]}")" "$p" "$(spread %.1f <<<"${P99[$k]}")" "$c" "$(spread %.0f <<<"${CPU[$k]}")" \
				"$ratios" "$([ "${ERR[$k]}" -gt 0 ] && echo " errors=${ERR[$k]}")"
		done
	done
done
if [ -n "${PID[lbtrace]:-}" ]; then
	# The exporter's failures land in the lb's log: none means every batch reached the sink.
	echo "lbtrace: $(grep -ci error "$work/lbtrace.log" || true) log line(s) with an error"
	grep -i error "$work/lbtrace.log" | head -n 3 | cut -c1-300 || true
fi
echo "goal: lb >= 1.00x nginx's req/s and p99 <= nginx's at 1k and 32k, with and without Content-Length"
