#!/usr/bin/env bash
# The mmdebstrap hook below is single-quoted on purpose: mmdebstrap expands
# its "$1" (the root being built).
# shellcheck disable=SC2016
# The swarm stack on three Docker-in-Docker nodes on this machine, and the
# faults a real swarm meets, under load (services/lb/e2e/resilience,
# TestSwarmLab).
#
#   scripts/swarm-lab.sh up       node image (mmdebstrap + docker import) and
#                                 registry image when missing, the networks,
#                                 the registry, the nodes, the swarm; the
#                                 stack's images pushed to the registry
#   scripts/swarm-lab.sh deploy   docker stack deploy from the manager; every
#                                 node pulls from the registry; wait until
#                                 every replica runs
#   scripts/swarm-lab.sh check    every node's lb answers; placement as meant
#   scripts/swarm-lab.sh fault F… the faults F under load (all: every one)
#   scripts/swarm-lab.sh down     remove what up made (by name and label)
#   scripts/swarm-lab.sh run      up, deploy, check, fault $SWARM_LAB_FAULTS,
#                                 down (make swarm-lab); faults that need
#                                 three managers run on a second lab
#
# SWARM_LAB_MANAGERS=3 makes every node a manager (for manager-lost).
# Needs `make images` and `make secrets` first (make swarm-lab runs both).
#
# The nodes sit on an --internal network with fixed addresses: nothing in
# the lab can reach beyond this machine. The registry is on that network
# and on a bridge that publishes it on 127.0.0.1 only, where this host's
# engine pushes to it. The host reaches the nodes' lbs at their addresses
# (https://10.213.0.11/ ...): the lab publishes no other port. The lbs serve
# a certificate for those addresses, given as the stack's tls_cert and
# tls_key secrets, from a CA made for the lab (out/swarm-lab/tls/tls_ca.pem,
# which the checks trust); plain HTTP answers a redirect but /health.
set -euo pipefail
# go.mod names a newer Go than some installs have; let go fetch it, as
# the Makefile does, when the script is run by hand (GOTOOLCHAIN=local in
# the environment still wins).
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
cd "$(dirname "$0")/.."

net=swarmlab-net
subnet=10.213.0.0/24
pool=10.214.0.0/16
regnet=swarmlab-registry
reg_ip=10.213.0.5
reg_port="${SWARM_LAB_REGISTRY_PORT:-15000}"
label=org.docker-examples.swarmlab
nodes=(swarmlab-1 swarmlab-2 swarmlab-3)
manager=swarmlab-1
db_node=swarmlab-2
managers="${SWARM_LAB_MANAGERS:-1}"
stack=docker_examples
IMAGE_TAG="${IMAGE_TAG:-dev}"
timeout="${SWARM_LAB_TIMEOUT:-300}"
# shellcheck source=/dev/null
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
node_image="docker-examples/swarmlab-node:$codename"
registry_image="docker-examples/registry:$IMAGE_TAG"

log() { echo "swarm-lab: $*" >&2; }

# The lab's certificate: for every node's address, signed by its own CA.
tls_dir=out/swarm-lab/tls

node_ip() { echo "10.213.0.1${1##*-}"; }

# on NODE CMD... runs a command in a node (its docker CLI talks to its engine).
on() {
	local n="$1"
	shift
	docker exec "$n" "$@"
}

wait_until() {
	local what="$1" deadline=$(($(date +%s) + timeout))
	shift
	until "$@"; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			log "$what not reached within ${timeout}s"
			return 1
		fi
		sleep 1
	done
}

recipe_hash() {
	{
		echo "$codename"
		sed -n '/^build_node_image()/,/^}/p' "$0"
		cat build/swarmlab/*
		cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true
	} | sha256sum | cut -c1-16
}

# The machine's own apt sources, as files mmdebstrap reads: the same
# mirror and suites as the host, and no host name in this project.
apt_source_files() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
		[ -s "$f" ] && grep -qE '^(URIs:|deb )' "$f" && echo "$f"
	done
	return 0
}

build_node_image() {
	local hash work
	hash="$(recipe_hash)"
	if [ "$(docker image inspect -f '{{index .Config.Labels "org.docker-examples.recipe"}}' "$node_image" 2>/dev/null || true)" = "$hash" ]; then
		return 0
	fi
	command -v mmdebstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null; }
	mapfile -t sources < <(apt_source_files)
	[ "${#sources[@]}" -gt 0 ] || { log "no apt sources on this machine"; return 1; }
	work="$(mktemp -d)"
	# shellcheck disable=SC2064 # expand now: work is local.
	trap "rm -rf '$work'" RETURN
	log "building $node_image from Debian $codename (mmdebstrap)"
	mmdebstrap --quiet --variant=minbase \
		--include=docker.io,iptables,iproute2,ca-certificates,procps,curl \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--customize-hook='rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*' \
		"$codename" "$work/rootfs.tar" "${sources[@]}"
	docker import "$work/rootfs.tar" "docker-examples/swarmlab-rootfs:$codename" >/dev/null
	docker buildx build --progress=quiet --load --build-arg BASE="docker-examples/swarmlab-rootfs:$codename" \
		--label "org.docker-examples.recipe=$hash" -t "$node_image" build/swarmlab >/dev/null
	docker image rm "docker-examples/swarmlab-rootfs:$codename" >/dev/null
}

build_registry_image() {
	docker image inspect "$registry_image" >/dev/null 2>&1 && [ -z "${SWARM_LAB_REBUILD:-}" ] && return 0
	# shellcheck source=/dev/null
	. deploy/images.env
	log "building $registry_image (tools/registry)"
	docker buildx build --progress=quiet --load -f deploy/registry/Dockerfile \
		--build-arg GO_IMAGE="$GO_IMAGE" -t "$registry_image" tools >/dev/null
}

node_ready() { on "$1" docker info >/dev/null 2>&1; }

registry_ready() { curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$reg_port/v2/"; }

up() {
	[ -f deploy/images.env ] || { log "run make images first"; return 1; }
	if docker container inspect "$manager" >/dev/null 2>&1; then
		log "a lab runs already: scripts/swarm-lab.sh down first"
		return 1
	fi
	build_node_image &
	local build_pid=$!
	build_registry_image
	wait "$build_pid"

	docker network create --internal --subnet "$subnet" --label "$label=1" "$net" >/dev/null
	docker network create --label "$label=1" "$regnet" >/dev/null
	docker run -d --name swarmlab-registry --label "$label=1" --network "$regnet" \
		-p "127.0.0.1:$reg_port:5000" --read-only --cap-drop ALL --restart unless-stopped \
		"$registry_image" >/dev/null
	docker network connect --ip "$reg_ip" "$net" swarmlab-registry

	local n
	for n in "${nodes[@]}"; do
		docker volume create --label "$label=1" "$n-docker" >/dev/null
		# --privileged is refused on this engine; this is the set a nested
		# engine needs (../shared/FACTS.md in the project's notes). Its
		# engine starts every container with no-new-privileges: a swarm
		# service cannot ask for it on engine 20.10 (no such field in its
		# API), the engine can give it to all of them.
		docker run -d --name "$n" --hostname "$n" --label "$label=1" \
			--network "$net" --ip "$(node_ip "$n")" \
			--cap-add ALL --cap-drop SYS_RESOURCE \
			--security-opt seccomp=unconfined --security-opt apparmor=unconfined \
			--security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' \
			-v "$n-docker:/var/lib/docker" --tmpfs /run --tmpfs /tmp \
			"$node_image" --insecure-registry "$reg_ip:5000" --log-level warn \
			--no-new-privileges >/dev/null
	done
	wait_until "the registry answering" registry_ready
	for n in "${nodes[@]}"; do
		wait_until "$n's engine ready" node_ready "$n"
	done

	on "$manager" docker swarm init --advertise-addr "$(node_ip "$manager")" \
		--default-addr-pool "$pool" >/dev/null
	local wtoken mtoken
	wtoken="$(on "$manager" docker swarm join-token -q worker)"
	mtoken="$(on "$manager" docker swarm join-token -q manager)"
	local i=1 token
	for n in "${nodes[@]}"; do
		[ "$n" = "$manager" ] && continue
		i=$((i + 1))
		token="$wtoken"
		[ "$i" -le "$managers" ] && token="$mtoken"
		on "$n" docker swarm join --token "$token" --advertise-addr "$(node_ip "$n")" "$(node_ip "$manager"):2377" >/dev/null
	done
	local zone=a
	for n in "${nodes[@]}"; do
		on "$manager" docker node update --label-add "docker-examples.zone=$zone" "$n" >/dev/null
		zone="$(echo "$zone" | tr a-y b-z)"
	done
	on "$manager" docker node update --label-add docker-examples.db=true "$db_node" >/dev/null
	on "$manager" docker node ls

	local t0
	t0=$(date +%s)
	REGISTRY="127.0.0.1:$reg_port/docker-examples" IMAGE_TAG="$IMAGE_TAG" bash scripts/push.sh
	log "images pushed in $(($(date +%s) - t0))s"
}

converged() {
	local lines name line got want
	lines="$(on "$manager" docker service ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}} {{.Replicas}}')"
	[ "$(wc -l <<<"$lines")" -ge 5 ] || return 1
	# The one-shot migrate job: its newest task has exited 0.
	[ "$(on "$manager" docker service ps --format '{{.CurrentState}}' "${stack}_migrate" |
		head -n1 | cut -d' ' -f1)" = Complete ] || return 1
	while read -r name line; do
		[ "$name" = "${stack}_migrate" ] && continue
		got="${line%%/*}"
		want="${line#*/}"
		want="${want%% *}"
		[ "$got" = "$want" ] || return 1
	done <<<"$lines"
	local n
	for n in "${nodes[@]}"; do
		! on "$n" docker ps --filter "label=com.docker.stack.namespace=$stack" --format '{{.Status}}' | grep -qv '(healthy)' || return 1
	done
}

deploy() {
	on "$manager" mkdir -p /lab/deploy/swarm /lab/deploy/secrets
	docker cp deploy/swarm/stack.yaml "$manager:/lab/deploy/swarm/stack.yaml"
	docker cp deploy/swarm/lab.yaml "$manager:/lab/deploy/swarm/lab.yaml"
	local s
	for s in db_password.txt db_api_password.txt api_key.txt admin_password.txt redis_url.txt redis_cache_url.txt redis_users.acl; do
		docker cp "deploy/secrets/$s" "$manager:/lab/deploy/secrets/$s"
	done
	# One certificate for the lab's life: its secrets keep their names
	# (TLS_SECRET_VERSION unset) from deploy to deploy.
	if [ ! -s "$tls_dir/tls_cert.pem" ]; then
		local n hosts=(localhost)
		for n in "${nodes[@]}"; do hosts+=("$(node_ip "$n")" "$n"); done
		bash scripts/tls-cert.sh "$tls_dir" "${hosts[@]}"
	fi
	docker cp "$tls_dir/tls_cert.pem" "$manager:/lab/deploy/secrets/tls_cert.pem"
	docker cp "$tls_dir/tls_key.pem" "$manager:/lab/deploy/secrets/tls_key.pem"
	local t0
	t0=$(date +%s)
	# MIGRATE_RUN: a new value on every deploy, so the migrate job runs once per deploy.
	docker exec -e REGISTRY="$reg_ip:5000/docker-examples" -e IMAGE_TAG="$IMAGE_TAG" \
		-e MIGRATE_RUN="$(date -u +%Y%m%dT%H%M%SZ)" \
		-e DB_CONSTRAINT='node.labels.docker-examples.db == true' "$manager" \
		docker stack deploy --prune -c /lab/deploy/swarm/stack.yaml -c /lab/deploy/swarm/lab.yaml "$stack"
	wait_until "every replica running and healthy" converged
	log "stack converged $(($(date +%s) - t0))s after docker stack deploy"
	on "$manager" docker service ls
}

check() {
	local n ip fail=0
	local https=(curl -fsS --max-time 5 -o /dev/null --cacert "$tls_dir/tls_ca.pem")
	for n in "${nodes[@]}"; do
		ip="$(node_ip "$n")"
		if curl -fsS --max-time 5 -o /dev/null "http://$ip/health" &&
			[ "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code} %{redirect_url}' "http://$ip/api/status")" = "308 https://$ip/api/status" ] &&
			"${https[@]}" "https://$ip/api/status" && "${https[@]}" "https://$ip/"; then
			log "$n: lb answers http://$ip/health, redirects http to https, and https://$ip/ answers /api/status and / with the lab's certificate"
		else
			log "$n: lb at $ip does not answer as it should (http /health, a 308 to https, https /api/status and /)"
			fail=1
		fi
	done
	local spread db
	spread="$(on "$manager" docker service ps "${stack}_api" --filter desired-state=running --format '{{.Node}}' | sort -u | wc -l)"
	db="$(on "$manager" docker service ps "${stack}_postgres" --filter desired-state=running --format '{{.Node}}')"
	log "api replicas on $spread nodes; postgres on $db"
	[ "$spread" -ge 2 ] || { log "the api replicas are not spread over the nodes"; fail=1; }
	[ "$db" = "$db_node" ] || { log "postgres runs on $db, not on the labelled $db_node"; fail=1; }
	# The api serves as inventory_api, which may not DROP TABLE.
	SWARM_NODE="$db_node" bash scripts/swarm.sh role || fail=1
	# Tasks run with no-new-privileges (the nodes' engines give it).
	local pg nnp
	pg="$(on "$db_node" docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_postgres" | head -n1)"
	nnp="$(on "$db_node" docker exec "$pg" cat /proc/1/status | grep NoNewPrivs || true)"
	log "postgres task on $db_node: ${nnp:-no NoNewPrivs line}"
	[[ $nnp == *1 ]] || { log "the postgres task runs without no-new-privileges"; fail=1; }
	# Every node pulled its images from the registry, by the registry's name.
	for n in "${nodes[@]}"; do
		if on "$n" docker image ls --format '{{.Repository}}' | grep -qv "^$reg_ip:5000/"; then
			log "$n has images from elsewhere than the registry"
			fail=1
		fi
	done
	return "$fail"
}

fault() {
	[ "$#" -gt 0 ] || set -- all
	local run
	if [ "$1" = all ]; then
		run='^TestSwarmLab$'
	else
		run="^TestSwarmLab\$/^($(IFS='|'; echo "$*"))\$"
	fi
	RESILIENCE_API_KEY="$(cat deploy/secrets/api_key.txt)"
	export RESILIENCE_API_KEY RESILIENCE_PATTERN=swarmlab
	# The load reaches the lbs over HTTPS, trusting the lab's CA.
	SSL_CERT_FILE="$PWD/$tls_dir/tls_ca.pem"
	export SSL_CERT_FILE
	export SWARM_LAB_NODES="${nodes[*]}" SWARM_LAB_MANAGERS="$managers" SWARM_LAB_DB_NODE="$db_node" SWARM_LAB_NETWORK="$net"
	go test -count=1 -v -timeout 60m -run "$run" ./services/lb/e2e/resilience/
}

down() {
	docker ps -aq --filter "label=$label" | xargs -r docker rm -f -v >/dev/null
	docker volume ls -q --filter "label=$label" | xargs -r docker volume rm >/dev/null
	local n
	for n in "$net" "$regnet"; do
		if docker network inspect -f '{{index .Labels "'"$label"'"}}' "$n" 2>/dev/null | grep -qx 1; then
			docker network rm "$n" >/dev/null
		fi
	done
	rm -rf "$tls_dir"
	# The tags push made on this host's engine (the images stay).
	docker image ls --format '{{.Repository}}:{{.Tag}}' "127.0.0.1:$reg_port/docker-examples/*" | xargs -r docker image rm >/dev/null
	log "removed"
}

# run_lab FAULT... makes a lab, runs the faults and removes it, whatever happens.
run_lab() {
	down >/dev/null 2>&1 || true
	trap 'down' EXIT
	local t0
	t0=$(date +%s)
	up
	deploy
	check
	log "lab up, deployed and checked in $(($(date +%s) - t0))s"
	[ "$#" -eq 0 ] || fault "$@"
	trap - EXIT
	down
}

case "${1:-}" in
up) up ;;
deploy) deploy ;;
check) check ;;
fault) shift; fault "$@" ;;
down) down ;;
run)
	read -r -a faults <<<"${SWARM_LAB_FAULTS:-worker-stop rolling-update}"
	one=() three=()
	for f in "${faults[@]}"; do
		case "$f" in
		all) one+=(worker-pause worker-disconnect worker-oneway worker-stop rolling-update drain db-node-lost); three+=(manager-lost) ;;
		manager-lost) three+=("$f") ;;
		*) one+=("$f") ;;
		esac
	done
	if [ "${#one[@]}" -gt 0 ] || [ "${#three[@]}" -eq 0 ]; then
		managers=1 run_lab "${one[@]}"
	fi
	if [ "${#three[@]}" -gt 0 ]; then
		managers=3 run_lab "${three[@]}"
	fi
	;;
*)
	echo "usage: scripts/swarm-lab.sh up|deploy|check|fault F...|down|run" >&2
	exit 2
	;;
esac
