#!/bin/bash
# Entrypoint of the PostgreSQL stand-in image built from Debian's packages.
# It honours the part of the official postgres image's contract this project
# uses: POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE,
# POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD, scripts in
# /docker-entrypoint-initdb.d (*.sh, *.sql, *.sql.gz) run once on an empty
# data directory, PGDATA (default /var/lib/postgresql/data), and extra
# `postgres -c …` arguments.
set -Eeuo pipefail

die() { echo "docker-entrypoint: $*" >&2; exit 1; }

# secret_env NAME: read NAME or the file named by NAME_FILE, never both.
secret_env() {
	local name="$1" file_var="${1}_FILE"
	local direct="${!name:-}" file="${!file_var:-}"
	if [ -n "$direct" ] && [ -n "$file" ]; then
		die "$name and $file_var are both set: set only one"
	fi
	if [ -n "$file" ]; then
		[ -r "$file" ] || die "$file_var: cannot read $file"
		direct="$(<"$file")"
	fi
	export "$name"="$direct"
	unset "$file_var"
}

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi
if [ "$1" != 'postgres' ]; then
	exec "$@"
fi

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

# Started as root: prepare the directories, then run as the postgres user.
if [ "$(id -u)" = '0' ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chmod 0700 "$PGDATA"
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

secret_env POSTGRES_PASSWORD
export POSTGRES_USER="${POSTGRES_USER:-postgres}"
export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != 'trust' ]; then
		die "the database is uninitialized and no password is set: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (or POSTGRES_HOST_AUTH_METHOD=trust)"
	fi
	mkdir -p "$PGDATA"
	chmod 0700 "$PGDATA" 2>/dev/null || true
	pwfile="$(mktemp)"
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words.
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
		--auth-host="$auth" -D "$PGDATA" ${POSTGRES_INITDB_ARGS:-} >/dev/null
	rm -f "$pwfile"
	{
		echo
		echo "host all all all $auth"
	} >>"$PGDATA/pg_hba.conf"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.auto.conf"

	# A private server on the Unix socket only, for set-up.
	pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start >/dev/null
	psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --host /var/run/postgresql)
	if [ "$POSTGRES_DB" != 'postgres' ]; then
		"${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<-'SQL' >/dev/null
			CREATE DATABASE :"db";
		SQL
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sh)
			echo "docker-entrypoint: running $f"
			# shellcheck source=/dev/null
			. "$f"
			;;
		*.sql) echo "docker-entrypoint: running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" >/dev/null ;;
		*.sql.gz) echo "docker-entrypoint: running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" >/dev/null ;;
		*) ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "docker-entrypoint: database initialised"
fi

unset POSTGRES_PASSWORD
exec "$@"
