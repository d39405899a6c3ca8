#!/usr/bin/env bash
# Stop the nginx that start.sh started in DIR.  Usage: stop.sh DIR
# Exits 0 when nothing was running.  Only ever signals the pid in
# DIR/nginx.pid (the master; it takes its workers down), and only if that
# process is still an nginx.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
# TERM: fast shutdown (QUIT would wait for a dripping response). --children:
# wait for the workers too (they hold the listening socket).
stop_by_pidfile "$1/nginx.pid" nginx --children
