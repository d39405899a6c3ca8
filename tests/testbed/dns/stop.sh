#!/usr/bin/env bash
# Stop the knotd that start.sh started in DIR.  Usage: stop.sh DIR
# Exits 0 when nothing was running.  Only ever signals the pid in
# DIR/knotd.pid, and only if that process is still a knotd.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
# --cont: a test may have frozen knotd (SIGSTOP) to play a server that does
# not answer (tests/milter/stale_check.sh).
stop_by_pidfile "$1/knotd.pid" knotd --cont
