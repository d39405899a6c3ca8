#!/usr/bin/env bash
# Stop the STARTTLS test bed that start.sh started in DIR.  Usage: stop.sh DIR
# Exits 0 when nothing was running.  Only ever signals the pid in
# DIR/server.pid, and only if that process is still our starttls_server.py.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
# One process serves every listener; it runs under python3, so it is known
# by its command line rather than its comm.
stop_by_pidfile "$1/server.pid" starttls_server.py --cmdline 'starttls_server\.py'
