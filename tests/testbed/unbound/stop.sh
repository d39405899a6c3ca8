#!/usr/bin/env bash
# Stop the unbound that start.sh started in DIR.  Usage: stop.sh DIR
# Exits 0 when nothing was running.  Only ever signals the pid in
# DIR/unbound.pid, and only if that process is still an unbound.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
stop_by_pidfile "$1/unbound.pid" unbound
