#!/usr/bin/env bash
# Deploys or removes the swarm stack (deploy/swarm/stack.yaml) as the stack
# docker_examples.
#   scripts/swarm.sh up     initialise a one-node swarm if this engine is in
#                           none, deploy, wait until every service has all its
#                           replicas running and healthy and the migrate job
#                           has run, then check the api's database role
#   scripts/swarm.sh role   the api serves as inventory_api, which may not
#                           DROP TABLE (role_check below); SWARM_NODE=swarmlab-2
#                           asks that lab node's PostgreSQL task
#   scripts/swarm.sh down   remove the stack and wait until it is gone
# SWARM_OBSERVABILITY=1 deploys deploy/swarm/observability.yaml with it
# (metrics, logs and traces stores, the console; the services trace).
set -euo pipefail
cd "$(dirname "$0")/.."
stack=docker_examples
timeout="${SWARM_TIMEOUT:-300}"

wait_until() {
	local what="$1" deadline=$(($(date +%s) + timeout))
	shift
	until "$@"; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "swarm: $what not reached within ${timeout}s" >&2
			return 1
		fi
		sleep 2
	done
}

# migrated: the migrate service's newest task (docker service ps lists a
# slot's tasks newest first) has exited 0.
migrated() {
	[ "$(docker service ps --format '{{.CurrentState}}' "${stack}_migrate" 2>/dev/null |
		head -n1 | cut -d' ' -f1)" = Complete ]
}

converged() {
	local name line want got
	local lines
	lines="$(docker service ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}} {{.Replicas}}')"
	[ -n "$lines" ] || return 1
	migrated || return 1
	while read -r name line; do
		# The one-shot migrate job runs 0 of its 1 task once it is done.
		[ "$name" = "${stack}_migrate" ] && continue
		got="${line%%/*}"
		want="${line#*/}"
		want="${want%% *}"
		[ "$got" = "$want" ] || return 1
	done <<<"$lines"
	# Running is not enough: every task's container must be healthy.
	! docker ps --filter "label=com.docker.stack.namespace=$stack" --format '{{.Status}}' | grep -qv '(healthy)'
}

# node_docker is this engine's docker, or with SWARM_NODE set the one of
# that swarm lab node (scripts/swarm-lab.sh), PGPASSWORD passed on.
node_docker() {
	if [ -n "${SWARM_NODE:-}" ]; then
		docker exec -e PGPASSWORD "$SWARM_NODE" docker "$@"
	else
		docker "$@"
	fi
}

# role_check: the api serves as inventory_api, not as the schema's owner:
# every connection the api holds (application_name api) is that role's,
# the role is no superuser and owns no table, has its statement timeout,
# and DROP TABLE is refused to it. Asked of the PostgreSQL task on this
# node, as the owner and as inventory_api with the passwords of
# deploy/secrets (through the environment, not the command line).
role_check() {
	local pg users facts drop super owned timeout
	pg="$(node_docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_postgres" | head -n1)"
	[ -n "$pg" ] || { echo "swarm: no PostgreSQL task on this node" >&2; return 1; }
	psql_as() {
		local user="$1" file="$2"
		shift 2
		PGPASSWORD="$(cat "deploy/secrets/$file")" node_docker exec -e PGPASSWORD "$pg" \
			psql -h 127.0.0.1 -U "$user" -d inventory -X -At -v ON_ERROR_STOP=1 "$@"
	}
	users="$(psql_as inventory db_password.txt -c \
		"SELECT coalesce(string_agg(DISTINCT usename, ','), '') FROM pg_stat_activity WHERE application_name = 'api'")"
	facts="$(psql_as inventory_api db_api_password.txt -F ' ' -c \
		"SELECT r.rolsuper, (SELECT count(*) FROM pg_tables WHERE tableowner = current_user), current_setting('statement_timeout')
		 FROM pg_roles r WHERE r.rolname = current_user")"
	if drop="$(psql_as inventory_api db_api_password.txt -c 'BEGIN' -c 'DROP TABLE items' -c 'ROLLBACK' 2>&1)"; then
		echo "swarm: inventory_api could DROP TABLE items (rolled back)" >&2
		return 1
	fi
	read -r super owned timeout <<<"$facts"
	echo "swarm: the api's PostgreSQL users: ${users:-none}; inventory_api: superuser $super, tables owned $owned, statement_timeout $timeout"
	drop="$(grep -m1 ERROR <<<"$drop" || echo "$drop")"
	echo "swarm: DROP TABLE items as inventory_api: $drop"
	if [ "$users" != inventory_api ] || [ "$super" != f ] || [ "$owned" != 0 ] || [ "$timeout" = 0 ] ||
		[[ $drop != *"must be owner of table items"* ]]; then
		echo "swarm: want the api as inventory_api only, not superuser, owning no table, with a statement_timeout, DROP TABLE refused" >&2
		return 1
	fi
}

gone() {
	[ -z "$(docker network ls -q --filter name=swarm-overlay)" ] &&
		[ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ]
}

case "${1:-}" in
up)
	if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" != active ]; then
		echo "swarm: initialising a one-node swarm" >&2
		docker swarm init --advertise-addr "${SWARM_ADVERTISE_ADDR:-127.0.0.1}" >/dev/null
	fi
	# A swarm secret cannot change: the certificate's secrets are named by
	# their contents, so a new certificate (yours, or a renewed one) is a
	# new secret the lb rolls over to.
	TLS_SECRET_VERSION="$(cat deploy/secrets/tls_cert.pem deploy/secrets/tls_key.pem | sha256sum | cut -c1-12)"
	export TLS_SECRET_VERSION
	files=(-c deploy/swarm/stack.yaml)
	if [ "${SWARM_OBSERVABILITY:-}" = 1 ]; then
		files+=(-c deploy/swarm/observability.yaml)
	fi
	# A new value on every deploy: the migrate job runs once per deploy.
	MIGRATE_RUN="$(date -u +%Y%m%dT%H%M%SZ)" docker stack deploy --prune "${files[@]}" "$stack"
	wait_until "every replica running and healthy, the migrate job done" converged
	docker service ls --filter "label=com.docker.stack.namespace=$stack"
	role_check
	echo "swarm: https://localhost:${LB_HTTPS_PORT:-443}/ (certificate: deploy/secrets/tls_cert.pem)"
	if [ "${SWARM_OBSERVABILITY:-}" = 1 ]; then
		echo "swarm: console http://localhost:${CONSOLE_PORT:-9400}/"
	fi
	;;
role)
	role_check
	;;
down)
	docker stack rm "$stack"
	wait_until "the stack removed" gone
	;;
*)
	echo "usage: scripts/swarm.sh up|role|down" >&2
	exit 2
	;;
esac
