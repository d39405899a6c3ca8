#!/usr/bin/env bash
# Prints the queue of the test Sendmail started in DIR by start.sh (mailq),
# for the tests' logs.  Under the daemon's dotted host name: otherwise
# Sendmail waits 60 s to qualify its own.  Usage: mailq.sh DIR
set -euo pipefail
[[ $# -eq 1 && -f $1/sendmail.cf ]] || exit 0  # nothing started: nothing queued
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
daemon=$("$here/install.sh")
exec unshare --uts sh -c 'hostname sm.example.test && exec "$@"' sh \
    "$daemon" -C "$1/sendmail.cf" -bp </dev/null
