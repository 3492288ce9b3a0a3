#!/bin/sh
# A swarm lab node (scripts/swarm-lab.sh): a Docker engine in a container.
# The engine needs /sys and the cgroup hierarchies writable (Docker mounts
# them read-only in an unprivileged container) and / shared, so the mounts
# it makes for its own containers propagate; then it runs in the foreground
# with the arguments given (--insecure-registry ...).
set -eu
mount -o remount,rw /sys
for d in /sys/fs/cgroup/*; do
	if [ -d "$d" ]; then
		mount -o remount,bind,rw "$d" 2>/dev/null || true
	fi
done
mount --make-rshared /
exec dockerd "$@"
