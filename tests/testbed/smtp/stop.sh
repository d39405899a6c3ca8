#!/usr/bin/env bash
# Stop the STARTTLS test bed that start.sh started in DIR.  Usage: stop.sh DIR
# Exits 0 when nothing was running.  Only ever signals the pid in
# DIR/server.pid, and only if that process is still our starttls_server.py.
set -euo pipefail

[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
pidfile=$1/server.pid
[[ -f $pidfile ]] || exit 0
pid=$(cat "$pidfile" 2>/dev/null || true)
[[ $pid =~ ^[0-9]+$ ]] || { rm -f -- "$pidfile"; exit 0; }

# Running, i.e. present and not a zombie: a daemon's parent here may be a
# pid 1 that never reaps, and a zombie would pass `kill -0` forever.
running() {
    local stat
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

ours() { tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'starttls_server\.py'; }

# The pid may have been reused since the file was written.
if running && ours; then
    kill -TERM "$pid" 2>/dev/null || true
    # It normally exits within a fraction of a second; give up after 10 s.
    for _ in $(seq 1 200); do
        running || break
        sleep 0.05
    done
    if running; then
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            running || break
            sleep 0.05
        done
    fi
    if running; then
        echo "stop.sh: starttls_server.py (pid $pid) did not exit" >&2
        exit 1
    fi
fi
rm -f -- "$pidfile"
