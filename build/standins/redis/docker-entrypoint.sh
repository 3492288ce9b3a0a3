#!/bin/sh
# Entrypoint of the Redis stand-in image built from Debian's packages. Like
# the official image, a bare `redis-server` (no configuration file) is
# started with protected mode off, since the container's network is the
# boundary; any other command runs as given.
set -eu
if [ "${1#-}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = 'redis-server' ]; then
	case "${2:-}" in
	*.conf) ;;
	*) shift; set -- redis-server --protected-mode no "$@" ;;
	esac
fi
exec "$@"
