#!/usr/bin/env bash
# Deploys or removes the swarm stack (deploy/swarm/stack.yaml) as the stack
# docker_examples.
#   scripts/swarm.sh up     initialise a one-node swarm if this engine is in
#                           none, deploy, wait until every service has all its
#                           replicas running and healthy
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

converged() {
	local line want got
	local lines
	lines="$(docker service ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}} {{.Replicas}}')"
	[ -n "$lines" ] || return 1
	while read -r _ line; do
		got="${line%%/*}"
		want="${line#*/}"
		want="${want%% *}"
		[ "$got" = "$want" ] || return 1
	done <<<"$lines"
	# Running is not enough: every task's container must be healthy.
	! docker ps --filter "label=com.docker.stack.namespace=$stack" --format '{{.Status}}' | grep -qv '(healthy)'
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
	files=(-c deploy/swarm/stack.yaml)
	if [ "${SWARM_OBSERVABILITY:-}" = 1 ]; then
		files+=(-c deploy/swarm/observability.yaml)
	fi
	docker stack deploy --prune "${files[@]}" "$stack"
	wait_until "every replica running and healthy" converged
	docker service ls --filter "label=com.docker.stack.namespace=$stack"
	echo "swarm: http://localhost:${LB_HTTP_PORT:-80}/"
	if [ "${SWARM_OBSERVABILITY:-}" = 1 ]; then
		echo "swarm: console http://localhost:${CONSOLE_PORT:-9400}/"
	fi
	;;
down)
	docker stack rm "$stack"
	wait_until "the stack removed" gone
	;;
*)
	echo "usage: scripts/swarm.sh up|down" >&2
	exit 2
	;;
esac
