#!/usr/bin/env bash
# Stops the Sendmail daemon start.sh started in DIR, by DIR/sendmail.pid (never
# by name), and waits until it and the children it had (SMTP sessions,
# deliveries) are gone.  Usage: stop.sh DIR.  Exit status 0 when it is gone
# or was not running, 1 when it would not exit.
set -euo pipefail
[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[[ -d $1 ]] || exit 0
# Sendmail renames its processes (setproctitle) but its comm stays "sendmail".
stop_by_pidfile "$1/sendmail.pid" sendmail --children
rm -f -- "$1/sendmail.mta.pid"
