#!/bin/bash
# systemd Type=notify (SPEC §8), against a stand-in for systemd's
# NOTIFY_SOCKET (tests/support/notify_recorder.py): READY=1 only once the
# milter socket, the policy map and the metrics listener take connections
# (probed the moment READY arrives); RELOADING=1 then READY=1 around a SIGHUP
# reload, also a refused one; STOPPING=1 once on SIGTERM and exit 0;
# WATCHDOG=1 at half WATCHDOG_USEC when WATCHDOG_PID is the milter's, none when
# it is another process's. No DNS test bed: nothing is looked up.
set -uo pipefail
bin=$1 support=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=check_lib.sh
. "$support/check_lib.sh"

trap stop_started EXIT

# conf NAME: a milter on unix:$work/NAME.sock with the policy map and metrics
# on free 127.0.0.1 ports ($map_port, $metrics_port); no resolver or MTA-STS
# settings (nothing is looked up).
conf() {
    map_port=$(free_port) metrics_port=$(free_port)
    milter_conf "$work/$1.conf" milter.socket="unix:$work/$1.sock" milter.log_level=debug \
        milter.log_target="file:$work/$1.log" resolver.trust_anchor_file= resolver.stub_zones= \
        sts.ca_file= sts.https_port= policy_map.listen="inet:127.0.0.1:$map_port" \
        metrics.listen="127.0.0.1:$metrics_port"
}

# recorder NAME: starts the NOTIFY_SOCKET stand-in, probing NAME's sockets.
recorder() {
    python3 "$support/notify_recorder.py" "$work/$1.notify" "$work/$1.events" \
        --probe "unix:$work/$1.sock" --probe "tcp:127.0.0.1:$map_port" \
        --probe "tcp:127.0.0.1:$metrics_port" &
    track $!
    wait_until 5 test -e "$work/$1.events.bound"
}

# wait_events NAME PATTERN [COUNT]: true once COUNT (default 1) lines of
# NAME's events match PATTERN (10 s at most).
events_match() { [ "$(grep -cE "$2" "$work/$1.events" 2>/dev/null)" -ge "${3:-1}" ]; }
wait_events() { wait_until 10 events_match "$@"; }

# The payloads of NAME's events, one a line, in order (no time stamps).
events() { cut -d' ' -f2- "$work/$1.events"; }

# Three milters at once, each with its own sockets and recorder, checked one
# after the other below: main, dog (the watchdog's pings need time to
# count) and plain (no NOTIFY_SOCKET).
# WATCHDOG_PID names another process (this shell): the milter must not ping.
conf main
main_map_port=$map_port main_metrics_port=$metrics_port
recorder main || bad "recorder did not bind"
NOTIFY_SOCKET=$work/main.notify WATCHDOG_USEC=200000 WATCHDOG_PID=$$ \
    "$bin" -c "$work/main.conf" >"$work/main.stderr" 2>&1 &
pid=$!
track "$pid"
# WATCHDOG_PID must be the milter's own pid: the shell exports its $$ and
# becomes the milter with exec.
conf dog
recorder dog || bad "recorder did not bind"
NOTIFY_SOCKET=$work/dog.notify WATCHDOG_USEC=1000000 \
    sh -c 'export WATCHDOG_PID=$$; exec "$0" -c "$1"' "$bin" "$work/dog.conf" \
    >"$work/dog.stderr" 2>&1 &
dog_pid=$!
track "$dog_pid"
# Started by hand or as Type=simple: nothing to notify, nothing logged about it.
conf plain
"$bin" -c "$work/plain.conf" >"$work/plain.stderr" 2>&1 &
plain_pid=$!
track "$plain_pid"

# --- READY, RELOADING/READY, STOPPING -----------------------------------------
if wait_events main '^[0-9.]+ READY=1'; then
    ok "READY=1 sent"
    first=$(events main | head -n 1)
    case $first in
        "READY=1|STATUS=socket=unix:$work/main.sock connectors=1 store=memory")
            ok "READY=1 is the first message, with STATUS socket, connectors, store" ;;
        *) bad "first message: $first" ;;
    esac
    for p in "unix:$work/main.sock" "tcp:127.0.0.1:$main_map_port" "tcp:127.0.0.1:$main_metrics_port"; do
        if grep -q "PROBE $p connect=ok" "$work/main.events"; then
            ok "at READY=1 $p takes connections"
        else
            bad "at READY=1 $p: $(grep "PROBE $p " "$work/main.events")"
        fi
    done
else
    bad "no READY=1 within 10 s: $(cat "$work/main.stderr" "$work/main.log" 2>/dev/null | tail -n 5)"
fi

kill -HUP "$pid"
if wait_events main '^[0-9.]+ READY=1' 2 && wait_events main 'RELOADING=1'; then
    mapfile -t after < <(events main | grep -v '^PROBE' | sed -n '2,3p')
    if [[ ${after[0]} == RELOADING=1\|*MONOTONIC_USEC=[0-9]* ]]; then
        ok "SIGHUP: RELOADING=1 with MONOTONIC_USEC"
    else
        bad "SIGHUP: second message is ${after[0]:-none}"
    fi
    if [[ ${after[1]} == "READY=1|STATUS="*" reload=ok" ]]; then
        ok "SIGHUP: READY=1 after RELOADING=1, STATUS reload=ok"
    else
        bad "SIGHUP: third message is ${after[1]:-none}"
    fi
else
    bad "SIGHUP: no RELOADING=1 then READY=1: $(events main | tr '\n' ' ')"
fi

# A file that no longer parses is refused, and systemd must still see the
# reload end (a unit left "reloading" blocks every later job).
echo "frobnicate = yes" >>"$work/main.conf"
kill -HUP "$pid"
if wait_events main '^[0-9.]+ READY=1' 3 && wait_events main 'RELOADING=1' 2; then
    last=$(events main | grep -v '^PROBE' | tail -n 1)
    [[ $last == "READY=1|STATUS="*" reload=refused" ]] &&
        ok "refused reload: READY=1 all the same, STATUS reload=refused" ||
        bad "refused reload: last message is $last"
else
    bad "refused reload: no RELOADING=1 then READY=1: $(events main | tr '\n' ' ')"
fi

kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"
sleep 0.2  # the recorder logs what is already in its queue
last=$(events main | grep -v '^PROBE' | tail -n 1)
[[ $last == STOPPING=1\|* ]] && ok "SIGTERM: STOPPING=1 is the last message" ||
    bad "SIGTERM: last message is ${last:-none}"
n=$(grep -c 'STOPPING=1' "$work/main.events")
[ "$n" = 1 ] && ok "STOPPING=1 sent once" || bad "STOPPING=1 sent $n times"
n=$(grep -c 'WATCHDOG=1' "$work/main.events")
[ "$n" = 0 ] && ok "WATCHDOG_PID of another process: no WATCHDOG=1" ||
    bad "WATCHDOG_PID of another process: $n WATCHDOG=1"

# --- WATCHDOG=1 ----------------------------------------------------------------
pid=$dog_pid
# after_ready T: an event later than T s after READY=1 has come (the pings
# go on every 0.5 s, so the window up to T is complete).
after_ready() {
    awk -v w="$1" '$2 ~ /^READY=1/ && !t { t = $1 } t && $1 > t + w { found = 1 } END { exit !found }' \
        "$work/dog.events"
}
if wait_events dog '^[0-9.]+ READY=1'; then
    wait_until 10 after_ready 1.5
    ready_at=$(awk '$2 ~ /^READY=1/ { print $1; exit }' "$work/dog.events")
    n=$(awk -v t="$ready_at" '$2 == "WATCHDOG=1" && $1 <= t + 1.5' "$work/dog.events" | wc -l)
    [ "$n" -ge 2 ] && ok "WATCHDOG_USEC=1000000: $n WATCHDOG=1 within 1.5 s of READY=1" ||
        bad "WATCHDOG_USEC=1000000: $n WATCHDOG=1 within 1.5 s of READY=1"
    grep -q "watchdog interval_ms=500" "$work/dog.log" && ok "watchdog interval is half of 1 s" ||
        bad "no \"watchdog interval_ms=500\" in the log"
else
    bad "watchdog run: no READY=1: $(tail -n 5 "$work/dog.stderr" "$work/dog.log" 2>/dev/null)"
fi
kill -TERM "$pid"
# While it stops, plain's reload and SIGTERM (below) go ahead.
wait_log "$work/plain.log" "starting version="
kill -HUP "$plain_pid"
reloaded=no
wait_log "$work/plain.log" "reloaded config=$work/plain.conf " 5 && reloaded=yes
kill -TERM "$plain_pid"
wait "$pid"
rc=$?
[ "$rc" = 0 ] && ok "watchdog run: SIGTERM exit 0" || bad "watchdog run: SIGTERM exit $rc"

# --- without NOTIFY_SOCKET ---------------------------------------------------------
pid=$plain_pid
wait "$pid"
rc=$?
[ "$rc" = 0 ] && [ "$reloaded" = yes ] && ok "no NOTIFY_SOCKET: runs, reloads and stops (exit 0)" ||
    bad "no NOTIFY_SOCKET: exit $rc, reloaded: $reloaded"
grep -q "sd_notify" "$work/plain.log" && bad "no NOTIFY_SOCKET: sd_notify logged" ||
    ok "no NOTIFY_SOCKET: no sd_notify in the log"

finish
