#!/usr/bin/env bash
# Stop the redis-server that start.sh started in DIR.  Usage: stop.sh DIR
# Exits 0 when nothing was running.  Only ever signals the pid in
# DIR/redis.pid, and only if that process is still a redis-server.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
# --cont: a test may have stopped it (SIGSTOP) to play a hung server.
stop_by_pidfile "$1/redis.pid" redis-server --cont
