#!/usr/bin/env bash
# Stop the unbound that start.sh started in DIR.  Usage: stop.sh DIR
# Exits 0 when nothing was running.  Only ever signals the pid in
# DIR/unbound.pid, and only if that process is still an unbound.
set -euo pipefail

[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
pidfile=$1/unbound.pid
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

# The pid may have been reused since the file was written.
if running && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == unbound ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    # unbound normally exits well within a second; give up waiting after 10 s.
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
        echo "stop.sh: unbound (pid $pid) did not exit" >&2
        exit 1
    fi
fi
rm -f -- "$pidfile"
