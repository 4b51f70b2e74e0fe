#!/bin/sh
# The official redis image's entrypoint contract: `redis-server ARGS`, with `redis-server`
# put in front of a first argument that is an option or a .conf file. Upstream compiles
# protected mode off (a container is reached through its network, never on loopback); Debian
# builds it on, so it is switched off here, after the config file if one comes first.
set -eu
case "${1:-}" in
  -* | *.conf) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ]; then
  shift
  case "${1:-}" in
    "" | -*) set -- redis-server --protected-mode no "$@" ;;
    *) config=$1; shift; set -- redis-server "$config" --protected-mode no "$@" ;;
  esac
fi
umask 0077
exec "$@"
