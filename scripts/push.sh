#!/usr/bin/env bash
# Tags and pushes every image of the stack (what `make images` built as
# docker-examples/<name>:$IMAGE_TAG) to $REGISTRY/<name>:$IMAGE_TAG, the
# names deploy/swarm/stack.yaml gives its services when REGISTRY is set:
#
#   REGISTRY=ghcr.io/org make push                       a user's registry
#   REGISTRY=127.0.0.1:15000/docker-examples make push   the project's own (swarm lab)
#
# The engine pushes with its own credentials (docker login) and reaches a
# registry on 127.0.0.1 over plain HTTP with no configuration.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE_TAG="${IMAGE_TAG:-dev}"
images=(db cache api frontend lb)
registry="${REGISTRY:-}"
registry="${registry%/}"
if [ -z "$registry" ]; then
	echo "push: set REGISTRY to the registry and path to push to, e.g. REGISTRY=ghcr.io/org make push" >&2
	exit 2
fi
case "$registry" in
docker-examples | *[[:space:]]* | *[A-Z]*)
	echo "push: REGISTRY=$registry is not a registry prefix like ghcr.io/org or 127.0.0.1:15000/docker-examples" >&2
	exit 2
	;;
esac
for n in "${images[@]}"; do
	docker image inspect "docker-examples/$n:$IMAGE_TAG" >/dev/null 2>&1 ||
		{ echo "push: docker-examples/$n:$IMAGE_TAG is not built: run make images" >&2; exit 1; }
done
for n in "${images[@]}"; do
	dst="$registry/$n:$IMAGE_TAG"
	docker tag "docker-examples/$n:$IMAGE_TAG" "$dst"
	echo "push: $dst" >&2
	docker push -q "$dst" >/dev/null
done
