#!/usr/bin/env bash
# Stop the nginx that start.sh started in DIR.  Usage: stop.sh DIR
# Exits 0 when nothing was running.  Only ever signals the pid in
# DIR/nginx.pid (the master; it takes its workers down), and only if that
# process is still an nginx.
set -euo pipefail

[[ $# -eq 1 && -n $1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
pidfile=$1/nginx.pid
[[ -f $pidfile ]] || exit 0
pid=$(cat "$pidfile" 2>/dev/null || true)
[[ $pid =~ ^[0-9]+$ ]] || { rm -f -- "$pidfile"; exit 0; }

# Running, i.e. present and not a zombie: a daemon's parent here may be a
# pid 1 that never reaps, and a zombie would pass `kill -0` forever.
running() { # PID
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# The pid may have been reused since the file was written.
if running "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == nginx ]]; then
    # Its workers, to wait for them too (they hold the listening socket).
    workers=()
    for s in /proc/[0-9]*/stat; do
        { read -r st <"$s"; } 2>/dev/null || continue
        st=${st##*) }
        read -r _ ppid _ <<<"$st"
        [[ $ppid == "$pid" ]] && { w=${s#/proc/}; workers+=("${w%/stat}"); }
    done
    # TERM: fast shutdown (QUIT would wait for a dripping response).
    kill -TERM "$pid" 2>/dev/null || true
    alive() {
        running "$pid" && return 0
        for w in "${workers[@]}"; do running "$w" && return 0; done
        return 1
    }
    # nginx normally exits well within a second; give up waiting after 10 s.
    for _ in $(seq 1 200); do
        alive || break
        sleep 0.05
    done
    if alive; then
        kill -KILL "$pid" 2>/dev/null || true
        for w in "${workers[@]}"; do
            if [[ $(cat "/proc/$w/comm" 2>/dev/null) == nginx ]]; then
                kill -KILL "$w" 2>/dev/null || true
            fi
        done
        for _ in $(seq 1 40); do
            alive || break
            sleep 0.05
        done
    fi
    if alive; then
        echo "stop.sh: nginx (pid $pid) did not exit" >&2
        exit 1
    fi
fi
rm -f -- "$pidfile"
