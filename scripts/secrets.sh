#!/usr/bin/env bash
# Generates the stack's secrets in deploy/secrets/ (git-ignored) on first
# use; existing files are kept, so running it again changes nothing.
#   db_password.txt     PostgreSQL password of the inventory role (the
#                       schema's owner: the migrate job)
#   db_api_password.txt PostgreSQL password of the inventory_api role the
#                       api serves as (the migrate job sets it each run)
#   api_key.txt         an API key the API accepts for automation
#   admin_password.txt  the password of the UI's admin account
#   redis_password.txt  the password of the api's Redis user
# and, from redis_password.txt, rewritten on every run:
#   redis_users.acl     Redis's ACL file (only a SHA-256 of the password)
#   redis_url.txt       the api's REDIS_URL, password included
#   redis_cache_url.txt the api's REDIS_CACHE_URL (the cache's own instance,
#                       the same users)
# and the lb's HTTPS certificate, when none is there:
#   tls_cert.pem        the certificate (a full chain: yours, or a
#   tls_key.pem         development one) and its key
#   tls_ca.pem          the development certificate's own CA, to trust
#                       (scripts/tls-cert.sh: for localhost, 127.0.0.1, ::1)
# Put your own certificate in tls_cert.pem and tls_key.pem to serve it: it
# is never replaced. A development one is renewed 30 days before it expires.
# The directory is private to you; the files are readable inside the
# containers, which run as UID 1001 (Compose mounts file secrets as they are).
set -euo pipefail
# SECRETS_DIR writes them elsewhere (the deploy tests use a fresh one).
dir="${SECRETS_DIR:-$(cd "$(dirname "$0")/.." && pwd)/deploy/secrets}"
mkdir -p "$dir"
chmod 0700 "$dir"
gen() { head -c 48 /dev/urandom | base64 | tr -d '/+=\n' | cut -c1-"$1"; }
for name in db_password db_api_password api_key admin_password redis_password; do
	f="$dir/$name.txt"
	if [ -s "$f" ]; then
		continue
	fi
	# PostgreSQL takes its password only when it initialises its volume: a
	# new password for an existing database would lock the api out.
	if [ "$name" = db_password ] && [ -z "${SECRETS_DIR:-}" ] && command -v docker >/dev/null &&
		docker volume inspect docker_examples_db_data >/dev/null 2>&1; then
		echo "secrets: $f is missing, but the volume docker_examples_db_data holds a database" >&2
		echo "secrets: initialised with the old password. Restore the old file, or drop the data:" >&2
		echo "secrets:   make down cluster-down swarm-down && docker volume rm docker_examples_db_data" >&2
		exit 1
	fi
	case "$name" in
	api_key) value="dex_$(gen 40)" ;;
	*) value="$(gen 32)" ;;
	esac
	(umask 022 && printf '%s\n' "$value" >"$f")
	echo "secrets: wrote $f"
done

# Redis's users (deploy/redis/redis.conf loads this file). The default
# user, which needs no password, may only PING: the health check. The api
# may run everything but the dangerous commands (FLUSHALL, FLUSHDB, KEYS,
# CONFIG, DEBUG, MONITOR, ACL, SHUTDOWN, REPLICAOF, MIGRATE, …), SCRIPT
# FLUSH and FUNCTION.
redis_pw="$(tr -d '\n' <"$dir/redis_password.txt")"
redis_hash="$(printf '%s' "$redis_pw" | sha256sum | cut -d' ' -f1)"
write_derived() {
	local f="$1" value="$2"
	if [ -f "$f" ] && [ "$(cat "$f")" = "$value" ]; then
		return
	fi
	(umask 022 && printf '%s\n' "$value" >"$f.tmp" && mv "$f.tmp" "$f")
	echo "secrets: wrote $f"
}
write_derived "$dir/redis_users.acl" "user default on nopass resetchannels -@all +ping
user api on #$redis_hash ~* &* +@all -@dangerous -script|flush -function"
write_derived "$dir/redis_url.txt" "redis://api:$redis_pw@redis:6379/0"
write_derived "$dir/redis_cache_url.txt" "redis://api:$redis_pw@redis-cache:6379/0"

# The lb's certificate (TLS_CERT_FILE, TLS_KEY_FILE: Docker secrets in the
# cluster and swarm). A development certificate is one its tls_ca.pem
# verifies; anything else is the user's own and left alone.
cert="$dir/tls_cert.pem" key="$dir/tls_key.pem" ca="$dir/tls_ca.pem"
if ! command -v openssl >/dev/null; then
	echo "secrets: openssl is needed for the lb's certificate: install it (Debian: apt-get install openssl)" >&2
	exit 1
fi
have() { [ -s "$1" ] && echo y || echo n; }
if [ "$(have "$cert")" != "$(have "$key")" ]; then
	echo "secrets: $cert and $key go together: give both (your certificate and its key) or neither" >&2
	exit 1
fi
ours() { [ -s "$ca" ] && openssl verify -CAfile "$ca" "$cert" >/dev/null 2>&1; }
if [ ! -s "$cert" ]; then
	bash "$(dirname "$0")/tls-cert.sh" "$dir" localhost 127.0.0.1 ::1
	echo "secrets: wrote $cert, a development certificate; trust $ca, or replace both files with your own" >&2
elif ! openssl x509 -checkend $((30 * 86400)) -noout -in "$cert" >/dev/null; then
	if ours; then
		bash "$(dirname "$0")/tls-cert.sh" "$dir" localhost 127.0.0.1 ::1
		echo "secrets: renewed the development certificate $cert (trust the new $ca)" >&2
	else
		echo "secrets: WARNING: your certificate $cert expires within 30 days: $(openssl x509 -enddate -noout -in "$cert")" >&2
	fi
fi
