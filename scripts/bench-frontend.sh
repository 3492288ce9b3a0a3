#!/usr/bin/env bash
# bench-frontend.sh: the UI's assets served by the frontend binary and by
# nginx (Debian's package, the same files exported from the embedded FS, with
# gzip_static on) in the same run; wrk against each, pinned to its own cores.
# Prints requests/s for both, the ratio (bar: >= 0.8x nginx) and the first
# view's transfer size compressed (bar: <= 100 KB). Exits 1 when a bar fails.
# It also prints each server's CPU time per request (from /proc), which
# holds steady when other work shares the machine and requests/s do not.
#
# Env: DURATION (10s), CONNECTIONS (64), ROUNDS (2: the best round counts),
#      SERVER_CPUS (0), WRK_CPUS (1), ENCODING (gzip).
set -euo pipefail
# go.mod names a newer Go than some installs have; let go fetch it, as
# the Makefile does, when the script is run by hand (GOTOOLCHAIN=local in
# the environment still wins).
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-2}
SERVER_CPUS=${SERVER_CPUS:-0}
WRK_CPUS=${WRK_CPUS:-1}
ENCODING=${ENCODING:-gzip}
RATIO_BAR=0.8
SIZE_BAR=102400

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/bench-frontend.XXXXXX)
chmod 755 "$work" # nginx workers run as an unprivileged user
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}"
	if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
	else sudo apt-get update -qq && sudo apt-get install -y -qq "${need[@]}" >/dev/null; fi
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

pin_server=() pin_wrk=()
if [ "$(nproc)" -ge 2 ]; then
	pin_server=(taskset -c "$SERVER_CPUS")
	pin_wrk=(taskset -c "$WRK_CPUS")
else
	echo "warning: one CPU only; servers and wrk share it" >&2
fi
threads=$(( $(echo "$WRK_CPUS" | tr ',' '\n' | wc -l) ))

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "no answer from $1" >&2
	return 1
}

echo "== building the frontend"
(cd "$root/services/frontend" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/frontend" ./cmd/frontend)
"$work/frontend" export-assets "$work/www" >"$work/sizes.txt"
first_view=$(awk '/^first view:/ {print $5}' "$work/sizes.txt") # gzip bytes
# The URLs of the first view: index.html and everything it loads.
awk '$1 ~ /^\// {print ($1 == "/index.html" ? "/" : $1)}' "$work/sizes.txt" >"$work/paths.txt"

cat >"$work/rotate.lua" <<LUA
local paths = {}
for line in io.lines("$work/paths.txt") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Accept-Encoding"] = "$ENCODING" })
end
LUA

# nginx with the same headers the frontend sends, one worker like the
# frontend's one core.
nginx_port=$(free_port)
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  types { text/javascript js; }
  charset utf-8;
  charset_types text/css text/javascript;
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=1000 inactive=60s;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  gzip_static on;
  gzip_vary on;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
    add_header Content-Security-Policy "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'" always;
    add_header X-Content-Type-Options nosniff always;
    add_header X-Frame-Options DENY always;
    add_header Referrer-Policy no-referrer always;
    add_header Cross-Origin-Opener-Policy same-origin always;
    add_header Cross-Origin-Resource-Policy same-origin always;
    add_header Permissions-Policy "camera=(), microphone=(), geolocation=(), payment=(), usb=()" always;
    location /assets/ {
      add_header Cache-Control "public, max-age=31536000, immutable";
      add_header Content-Security-Policy "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'" always;
      add_header X-Content-Type-Options nosniff always;
      add_header X-Frame-Options DENY always;
      add_header Referrer-Policy no-referrer always;
      add_header Cross-Origin-Opener-Policy same-origin always;
      add_header Cross-Origin-Resource-Policy same-origin always;
      add_header Permissions-Policy "camera=(), microphone=(), geolocation=(), payment=(), usb=()" always;
    }
    location / {
      try_files \$uri /index.html;
    }
    location = /index.html {
      add_header Cache-Control no-cache;
      add_header Content-Security-Policy "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'" always;
      add_header X-Content-Type-Options nosniff always;
      add_header X-Frame-Options DENY always;
      add_header Referrer-Policy no-referrer always;
      add_header Cross-Origin-Opener-Policy same-origin always;
      add_header Cross-Origin-Resource-Policy same-origin always;
      add_header Permissions-Policy "camera=(), microphone=(), geolocation=(), payment=(), usb=()" always;
    }
  }
}
NGINX
mkdir -p "$work/nginx/tmp"
"${pin_server[@]}" "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>>"$work/nginx/logs/error.log" &
pids+=($!)
nginx_master=$!

fe_port=$(free_port)
# API_URL points nowhere: only assets are measured.
GOMAXPROCS=1 PORT=$fe_port LOG_LEVEL=warn API_URL=http://127.0.0.1:9 "${pin_server[@]}" "$work/frontend" serve >"$work/frontend.log" 2>&1 &
pids+=($!)
fe_pid=$!

wait_http "http://127.0.0.1:$nginx_port/"
wait_http "http://127.0.0.1:$fe_port/"

# Both must serve the same bytes for the same request.
while read -r p; do
	a=$(curl -fsS -H "Accept-Encoding: $ENCODING" "http://127.0.0.1:$nginx_port$p" | sha256sum)
	b=$(curl -fsS -H "Accept-Encoding: $ENCODING" "http://127.0.0.1:$fe_port$p" | sha256sum)
	[ "$a" = "$b" ] || { echo "nginx and the frontend differ on $p" >&2; exit 1; }
done <"$work/paths.txt"

nginx_worker=$(pgrep -P "$nginx_master" | head -1)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
# bench URL PID -> "requests/s microseconds-of-CPU-per-request"
bench() {
	local t0 t1 out
	t0=$(ticks "$2")
	out=$("${pin_wrk[@]}" wrk -t"$threads" -c"$CONNECTIONS" -d"$DURATION" -s "$work/rotate.lua" "$1")
	t1=$(ticks "$2")
	echo "$out" | awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" '
		/ requests in / {n = $1}
		/^Requests\/sec:/ {rps = $2}
		END {printf "%s %.2f\n", rps, t / hz * 1e6 / n}'
}

echo "== wrk: $CONNECTIONS connections, $DURATION, $(wc -l <"$work/paths.txt") URLs of the first view, Accept-Encoding: $ENCODING"
echo "   servers on CPU $SERVER_CPUS, wrk on CPU $WRK_CPUS; best of $ROUNDS rounds"
DURATION=2s bench "http://127.0.0.1:$nginx_port" "$nginx_worker" >/dev/null # warm-up
DURATION=2s bench "http://127.0.0.1:$fe_port" "$fe_pid" >/dev/null
best_nginx=0 best_fe=0 cpu_nginx=1e9 cpu_fe=1e9
for r in $(seq "$ROUNDS"); do
	read -r n nc < <(bench "http://127.0.0.1:$nginx_port" "$nginx_worker")
	read -r f fc < <(bench "http://127.0.0.1:$fe_port" "$fe_pid")
	printf '   round %d: nginx %8.0f req/s %6.2f us CPU/req   frontend %8.0f req/s %6.2f us CPU/req\n' "$r" "$n" "$nc" "$f" "$fc"
	best_nginx=$(awk -v a="$best_nginx" -v b="$n" 'BEGIN {print (b > a ? b : a)}')
	best_fe=$(awk -v a="$best_fe" -v b="$f" 'BEGIN {print (b > a ? b : a)}')
	cpu_nginx=$(awk -v a="$cpu_nginx" -v b="$nc" 'BEGIN {print (b < a ? b : a)}')
	cpu_fe=$(awk -v a="$cpu_fe" -v b="$fc" 'BEGIN {print (b < a ? b : a)}')
done

ratio=$(awk -v f="$best_fe" -v n="$best_nginx" 'BEGIN {printf "%.2f", f / n}')
ratio_ok=$(awk -v r="$ratio" -v bar="$RATIO_BAR" 'BEGIN {print (r >= bar ? "PASS" : "FAIL")}')
size_ok=$([ "$first_view" -le "$SIZE_BAR" ] && echo PASS || echo FAIL)

echo
echo "== results"
printf '%-34s %12.0f\n' "nginx requests/s" "$best_nginx"
printf '%-34s %12.0f\n' "frontend requests/s" "$best_fe"
printf '%-34s %12s   bar >= %s   %s\n' "ratio frontend/nginx" "${ratio}x" "$RATIO_BAR" "$ratio_ok"
printf '%-34s %12.2f\n' "nginx CPU us/request (best)" "$cpu_nginx"
printf '%-34s %12.2f\n' "frontend CPU us/request (best)" "$cpu_fe"
printf '%-34s %12sx\n' "CPU per request nginx/frontend" "$(awk -v n="$cpu_nginx" -v f="$cpu_fe" 'BEGIN {printf "%.2f", n / f}')"
printf '%-34s %12s   bar <= %s   %s\n' "first view, gzip bytes" "$first_view" "$SIZE_BAR" "$size_ok"
echo
echo "first view files (bytes: identity, gzip, brotli):"
sed 's/^/   /' "$work/sizes.txt"
[ "$ratio_ok" = PASS ] && [ "$size_ok" = PASS ]
