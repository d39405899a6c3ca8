#!/usr/bin/env bash
# SPEC §9 "behind a real MTA": messages/s of Postfix and of Sendmail 8.17 fed
# by Postfix's own load generator, smtp-source (full messages of LENGTH bytes,
# RCPTS recipients each, a new SMTP session per message as between MTAs), in
# one run, with
#   alone        no milter;
#   do-nothing   tests/bench/null_milter (libmilter; every callback registered,
#                each answers SMFIS_CONTINUE, no step negotiated away: no
#                SMFIP_NO* and no SMFIP_NR_* flags, so every step is answered);
#   dsm          dane-sts-milter from the same build, deciding every recipient
#                from a warm verdict cache (a DANE domain of the benchmark
#                zone, checked to give dane=pass and action=accept before
#                anything is timed);
# each milter on a unix socket and on an inet socket (127.0.0.1), at 4 and 16
# sessions, and at one session to show per-message pauses (seconds a message).
#
# Usage: mta_bench.sh [--messages N] [--single N] [--rounds R] [--seconds S]
#                     [--mta postfix|sendmail|both] [--rows FILE] [--no-build]
#   --messages N  messages a run at 4 and 16 sessions (default 400)
#   --single N    messages a run at one session (default 100)
#   --rounds R    timed rounds per cell, alternated (default 3; medians)
#   --seconds S   a configuration that cannot send N messages in about S
#                 seconds (by its untimed warm-up run) sends what it can in S
#                 seconds instead, at least 3 a session (default 3): the
#                 do-nothing milter over inet behind Sendmail pauses ~40 ms
#                 several times a message, and would otherwise take minutes
#   --rows FILE   append run.sh's markdown rows (dane-sts-milter beside the
#                 do-nothing milter, the MTA alone in the label) to FILE
#   --no-build    use the binaries already in build-bench/ (run.sh builds)
#   --serve       with --mta postfix or sendmail: start everything, warm the
#                 cache, print the ports and the milters' pids, and wait for
#                 Ctrl-C instead of measuring (to watch the pauses, e.g.
#                 strace -f -tt -e trace=read,write,writev -p MILTER_PID while
#                 smtp-source -s 1 sends to one of the ports)
#
# Measures the smtpd + milter path, not delivery: Postfix puts every message
# on hold (smtpd_sender_restrictions HOLD) and Sendmail queues it
# (DeliveryMode=queueonly), so no queue manager, SMTP client or sink shares the
# two cores with the server under test; queues, milter sockets and logs live
# on tmpfs (/dev/shm) so that no fsync is timed either.  Queues are emptied
# between runs (not timed), and every run's messages are counted in the queue.
#
# Starts the benchmark zone (bench_zone.sh: knotd on 127.0.11.53), the
# milters, a private Postfix (smtpd on 127.0.0.50) and private Sendmail
# daemons (tests/testbed/sendmail/start.sh, 127.0.0.51); all are stopped by
# pid on any exit.  Needs root, postfix (smtp-source), knot, and what
# tests/testbed/sendmail/install.sh installs.  Never run under ctest; it prints
# figures, never asserts them.  About 4-6 minutes on 2 cores.
set -euo pipefail

# die, wait_for, wait_accepts, the private Postfix instance; running,
# stop_pid, pid_from (tests/testbed/lib.sh). Sourced before $testbed is set
# (which means the test-bed scripts' directory here).
# shellcheck source=../support/mta_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/mta_lib.sh"

messages=400 single=100 rounds=3 seconds=3 which=both rows_file='' build_it=yes serve=no
while (($#)); do
    case $1 in
    --messages) messages=${2-}; shift ;;
    --single) single=${2-}; shift ;;
    --rounds) rounds=${2-}; shift ;;
    --seconds) seconds=${2-}; shift ;;
    --mta) which=${2-}; shift ;;
    --rows) rows_file=${2-}; shift ;;
    --no-build) build_it=no ;;
    --serve) serve=yes ;;
    *) die "usage: $0 [--messages N] [--single N] [--rounds R] [--seconds S] [--mta postfix|sendmail|both] [--rows FILE] [--no-build] [--serve]" ;;
    esac
    shift
done
for v in "$messages" "$single" "$rounds" "$seconds"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || die "--messages, --single, --rounds, --seconds take a positive integer"
done
case $which in postfix | sendmail | both) ;; *) die "--mta: postfix, sendmail or both" ;; esac
[[ $serve == no || $which != both ]] || die "--serve needs --mta postfix or --mta sendmail"
((EUID == 0)) || die "must run as root (a private Postfix and Sendmail)"
for tool in postfix postsuper smtp-source kdig knotd keymgr; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ -z $rows_file ]] || rows_file=$(realpath -- "$rows_file")

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build-bench
testbed=$root/tests/testbed
dsm_bin=$build/milter/dane-sts-milter
null_bin=$build/tests/bench/null_milter
zone=$build/mta-bench-zone

STOP_TIMEOUT=10

if [[ $build_it == yes ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" -j2 --target dane-sts-milter null_milter >/dev/null ||
        die "build failed: cmake --build $build --target dane-sts-milter null_milter"
fi
[[ -x $dsm_bin && -x $null_bin ]] || die "no $dsm_bin or $null_bin (build them, or drop --no-build)"

# --- addresses (this benchmark owns 127.0.0.50-59 and 127.0.11.53) ---------------------
readonly PF_ADDR=127.0.0.50 SM_ADDR=127.0.0.51 SM_RELAY=127.0.0.52:2599
readonly SENDER=bench@sender.bench.test DOMAIN=d1.bench.test
readonly LENGTH=3000 RCPTS=3
readonly CONFIGS=(alone null-unix dsm-unix null-inet dsm-inet)
# One port per configuration, in CONFIGS order.
readonly PF_PORTS=(2525 2526 2527 2528 2529) SM_PORTS=(2525 2526 2527 2528 2529)

wait_socket() { wait_for "socket $1" "$2" test -S "$1"; }  # PATH PID
free_port_from() { # FROM: the first port from FROM up that nothing accepts on, on 127.0.0.1
    local p
    for ((p = $1; p < $1 + 100; p++)); do
        accepts 127.0.0.1 "$p" || { echo "$p"; return 0; }
    done
    return 1
}

# --- work directory on tmpfs --------------------------------------------------------------
shm=/dev/shm
[[ -d $shm && -w $shm ]] || shm=$build
work=$(mktemp -d "$shm/dsm-mta-bench.XXXXXX")
chmod 755 "$work"
postfix_paths "$work/postfix"
# Not the sockets: Sendmail refuses a milter socket below a world-writable
# directory such as /dev/shm (a unix socket costs no disk I/O anyway).
# Not below the build directory either: a checkout may lie below /tmp.
sock=/run/dsm-mta-bench-sock
mkdir -p "$sock"
chmod 755 "$sock"
results=$work/results   # MTA CONFIG SESSIONS SECONDS MESSAGES ROUND, one run a line
: >"$results"

milter_pids=()
MILTER_PID=()
sleep_pid=
sendmail_dirs=()
failed=no
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    [[ -z $sleep_pid ]] || kill "$sleep_pid" 2>/dev/null
    [[ -z ${sock:-} ]] || rm -rf -- "$sock"
    stop_postfix
    local d
    for d in "${sendmail_dirs[@]}"; do "$testbed/sendmail/stop.sh" "$d"; done
    stop_milters
    "$testbed/dns/stop.sh" "$zone" >/dev/null 2>&1
    if ((rc != 0)) || [[ $failed == yes ]]; then
        echo "mta_bench.sh: logs kept in $work" >&2
    else
        rm -rf -- "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- milters ---------------------------------------------------------------------------------
dsm_decisions() { cat "$work"/dsm-*.log 2>/dev/null | grep -c ' action=' || true; }

# start_milters UMASK: null_milter and dane-sts-milter, each on a unix socket
# under $sock (mode 0777 & ~UMASK: Postfix's smtpd runs as `postfix`,
# while Sendmail refuses group- or world-writable sockets) and on 127.0.0.1.
start_milters() {
    local umask=$1 kind
    null_inet_port=$(free_port_from 19450) || die "no free port from 19450"
    "$null_bin" "inet:$null_inet_port@127.0.0.1" </dev/null >>"$work/null-inet.out" 2>&1 &
    milter_pids+=($!)
    MILTER_PID[3]=$!
    wait_accepts null_milter 127.0.0.1 "$null_inet_port" $! || die "null_milter (inet) did not start"
    dsm_inet_port=$(free_port_from $((null_inet_port + 1))) || die "no free port from $null_inet_port"
    (umask "$umask" && exec "$null_bin" "unix:$sock/null.sock") </dev/null >>"$work/null-unix.out" 2>&1 &
    milter_pids+=($!)
    MILTER_PID[1]=$!
    wait_socket "$sock/null.sock" $! || die "null_milter (unix) did not start: $(cat "$work/null-unix.out")"

    echo "$DOMAIN" >"$work/warm.txt"
    for kind in unix inet; do
        local spec
        if [[ $kind == unix ]]; then spec=unix:$sock/dsm.sock; else spec=inet:$dsm_inet_port@127.0.0.1; fi
        cat >"$work/dsm-$kind.conf" <<EOF
# Written by tests/bench/mta_bench.sh
[milter]
socket = $spec
umask = $umask
log_level = info
log_target = file:$work/dsm-$kind.log

[resolver]
trust_anchor_file = $zone/bench.ds
stub_zones = bench.test.=127.0.11.53@53
timeout_ms = 3000

[prefetch]
warm_list = $work/warm.txt

[rcpt]
lookup_timeout_ms = 3000

[connector.bench]
recipient_domains = *.bench.test
mode = mandatory

[connector.default]
recipient_domains = *
mode = opportunistic
EOF
        "$dsm_bin" -c "$work/dsm-$kind.conf" -n >"$work/dsm-$kind.out" 2>&1 ||
            die "dane-sts-milter rejects $work/dsm-$kind.conf: $(cat "$work/dsm-$kind.out")"
        "$dsm_bin" -c "$work/dsm-$kind.conf" </dev/null >>"$work/dsm-$kind.out" 2>&1 &
        milter_pids+=($!)
        if [[ $kind == unix ]]; then MILTER_PID[2]=$!; else MILTER_PID[4]=$!; fi
        if [[ $kind == unix ]]; then
            wait_socket "$sock/dsm.sock" $! ||
                die "dane-sts-milter (unix) did not start: $(tail -n 20 "$work/dsm-$kind.out")"
        else
            wait_accepts dane-sts-milter 127.0.0.1 "$dsm_inet_port" $! ||
                die "dane-sts-milter (inet) did not start: $(tail -n 20 "$work/dsm-$kind.out")"
        fi
    done
    MILTER_SPEC=(none "unix:$sock/null.sock" "unix:$sock/dsm.sock"
        "inet:$null_inet_port@127.0.0.1" "inet:$dsm_inet_port@127.0.0.1")
}
# All at once: libmilter may take its 5 s check interval to notice a stop.
stop_milters() {
    local p i alive
    for p in "${milter_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for ((i = 0; i < 200; i++)); do
        alive=no
        for p in "${milter_pids[@]}"; do running "$p" && alive=yes; done
        [[ $alive == yes ]] || break
        sleep 0.05
    done
    # stop_pid: KILL what still runs, and reap them all.
    for p in "${milter_pids[@]}"; do stop_pid milter "$p"; done
    milter_pids=()
MILTER_PID=()
sleep_pid=
    rm -f -- "$sock/null.sock" "$sock/dsm.sock"
}

# --- Postfix (mta_lib.sh: postfix_cmd, stop_postfix) -----------------------------------
start_postfix() {
    postfix_dirs
    postfix_main_cf bench.test <<EOF
# Every message stays on hold: nothing is delivered, so no qmgr, smtp client
# or sink competes with smtpd and the milter for the two cores.
smtpd_sender_restrictions = check_sender_access inline:{$SENDER=HOLD}
# Nothing is delivered, so the queue manager hands out no arrival tokens:
# without this smtpd would sleep 1 s whenever it finds none.
in_flow_delay = 0
milter_default_action = tempfail
milter_protocol = 6
milter_connect_timeout = 10s
milter_command_timeout = 10s
milter_content_timeout = 10s
relayhost = [$SM_RELAY]
smtp_dns_support_level = disabled
EOF
    # One smtpd a configuration.
    local c spec
    local -a smtpds=()
    for c in "${!CONFIGS[@]}"; do
        spec=${MILTER_SPEC[c]}
        [[ $spec == none ]] && spec=
        # Postfix spells an inet milter inet:HOST:PORT.
        [[ $spec =~ ^inet:([0-9]+)@(.*)$ ]] && spec=inet:${BASH_REMATCH[2]}:${BASH_REMATCH[1]}
        smtpds+=("$PF_ADDR:${PF_PORTS[c]} inet n - n - - smtpd -o smtpd_milters=$spec")
    done
    postfix_master_cf "${smtpds[@]}"
    postfix_start
    for c in "${!CONFIGS[@]}"; do
        wait_accepts "Postfix smtpd" "$PF_ADDR" "${PF_PORTS[c]}" || die "Postfix did not start"
    done
    echo "Postfix $(postconf -c "$pfconf" -h mail_version) (master pid $master_pid) on $PF_ADDR:${PF_PORTS[0]}-${PF_PORTS[-1]}"
}
postfix_queued() { find "$pfqueue/hold" -type f 2>/dev/null | wc -l; }
postfix_clear() { postsuper -c "$pfconf" -d ALL hold >/dev/null 2>&1 || true; }

# --- Sendmail --------------------------------------------------------------------------------
start_sendmails() {
    local c dir
    # start.sh runs it too; first here, so that a failure says what failed.
    "$testbed/sendmail/install.sh" >/dev/null || die "tests/testbed/sendmail/install.sh failed"
    # Sendmail listens with a backlog of 10 by default: at 16 sessions the
    # queue overflows, SYNs are dropped and clients wait 1 s to retry, which
    # measures nothing but that.  Postfix's is 100; give Sendmail 128.
    # (start.sh writes one DAEMON_OPTIONS; this appends to its option list.)
    printf '%s\n' "dnl mta_bench.sh: a listen queue for 16 sessions" \
        "define(\`_DPO_', defn(\`_DPO_')\`, Listen=128')dnl" >"$work/sendmail-listen.m4"
    # Sendmail looks up the name of the address each connection came in on
    # ({if_name}; 127.0.0.51 is not in /etc/hosts) in the DNS. The machine's
    # resolver answers, but drops a query now and then, and a dropped one
    # costs the resolver's 5 s timeout: a run of 3 s took 7 s. Ask the
    # benchmark's knotd instead, which refuses at once (not its zone).
    printf '%s\n' "# mta_bench.sh: Sendmail's DNS, answered (REFUSED) at once" \
        "nameserver 127.0.11.53" "options timeout:1 attempts:1" >"$work/resolv.conf"
    for c in "${!CONFIGS[@]}"; do
        dir=$work/sendmail-${CONFIGS[c]}
        sendmail_dirs+=("$dir")
        SENDMAIL_RESOLV_CONF=$work/resolv.conf DELIVERY_MODE=queueonly "$testbed/sendmail/start.sh" "$dir" "$SM_ADDR:${SM_PORTS[c]}" \
            "${MILTER_SPEC[c]}" "$SM_RELAY" "$work/sendmail-listen.m4" 2>>"$work/sendmail-start.log" ||
            die "sendmail/start.sh failed: $(tail -n 5 "$work/sendmail-start.log")"
        grep -q '^O DaemonPortOptions=.*Listen=128' "$dir/sendmail.cf" ||
            die "$dir/sendmail.cf: Listen=128 did not reach DaemonPortOptions"
    done
    echo "Sendmail $(dpkg-query -W -f '${Version}' sendmail-cf 2>/dev/null) on $SM_ADDR:${SM_PORTS[0]}-${SM_PORTS[-1]} (one daemon a configuration, DeliveryMode=queueonly)"
}
stop_sendmails() {
    local d
    for d in "${sendmail_dirs[@]}"; do "$testbed/sendmail/stop.sh" "$d"; done
    sendmail_dirs=()
}
sendmail_queued() { find "$work/sendmail-$1/queue" -name 'qf*' -type f 2>/dev/null | wc -l; }
sendmail_clear() { find "$work/sendmail-$1/queue" -type f \( -name 'qf*' -o -name 'df*' \) -delete 2>/dev/null || true; }

# --- one run ---------------------------------------------------------------------------------
# run MTA CONFIG-INDEX SESSIONS COUNT: sends COUNT messages, checks that COUNT
# more are queued, empties the queue; prints the seconds smtp-source took.
run() {
    local mta=$1 c=$2 s=$3 n=$4 addr port before after t0 t1
    if [[ $mta == postfix ]]; then
        addr=$PF_ADDR port=${PF_PORTS[c]}
        before=$(postfix_queued)
    else
        addr=$SM_ADDR port=${SM_PORTS[c]}
        before=$(sendmail_queued "${CONFIGS[c]}")
    fi
    t0=$EPOCHREALTIME
    if ! smtp-source -s "$s" -m "$n" -r "$RCPTS" -l "$LENGTH" -M client.bench.test \
        -f "$SENDER" -t "bench@$DOMAIN" "$addr:$port" </dev/null >>"$work/smtp-source.log" 2>&1; then
        failed=yes
        die "smtp-source -s $s -m $n to $mta ${CONFIGS[c]} ($addr:$port) failed: $(tail -n 3 "$work/smtp-source.log")"
    fi
    t1=$EPOCHREALTIME
    # The reply to the final dot comes once the message is safe in the queue.
    if [[ $mta == postfix ]]; then
        after=$(postfix_queued)
        postfix_clear
    else
        after=$(sendmail_queued "${CONFIGS[c]}")
        sendmail_clear "${CONFIGS[c]}"
    fi
    if ((after - before != n)); then
        failed=yes
        die "$mta ${CONFIGS[c]}: $((after - before)) messages queued, $n sent"
    fi
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

# check_verdicts: every decision dane-sts-milter logged so far accepted a
# recipient of $DOMAIN with dane=pass; aborts otherwise.
check_verdicts() {
    local bad
    bad=$(cat "$work"/dsm-*.log 2>/dev/null | grep ' action=' |
        grep -vE "domain=\"?$DOMAIN\"? .* dane=pass .* action=accept" | head -n 3 || true)
    if [[ -n $bad ]]; then
        failed=yes
        echo "mta_bench.sh: dane-sts-milter did not accept $DOMAIN with dane=pass:" >&2
        echo "$bad" >&2
        "$dsm_bin" -c "$work/dsm-inet.conf" --check "$DOMAIN" >&2 || true
        exit 1
    fi
}

# serve MTA: one warm-up message through each configuration, then wait.
serve() {
    local mta=$1 c addr=$PF_ADDR
    local -a ports=("${PF_PORTS[@]}")
    [[ $mta == sendmail ]] && addr=$SM_ADDR ports=("${SM_PORTS[@]}")
    for c in "${!CONFIGS[@]}"; do run "$mta" "$c" 1 1 >/dev/null; done
    check_verdicts
    echo "serving ($mta); Ctrl-C stops everything. One session, say:"
    echo "  smtp-source -s 1 -m 20 -r $RCPTS -l $LENGTH -M client.bench.test -f $SENDER -t bench@$DOMAIN $addr:PORT"
    for c in "${!CONFIGS[@]}"; do
        printf '  %-9s port %s  milter %-40s pid %s\n' "${CONFIGS[c]}" "${ports[c]}" \
            "${MILTER_SPEC[c]}" "${MILTER_PID[c]:--}"
    done
    trap 'exit 0' INT TERM
    sleep infinity &
    sleep_pid=$!
    wait "$sleep_pid" || true
}

# --- one MTA ---------------------------------------------------------------------------------
# bench MTA: a warm-up run of each configuration (untimed; its rate sizes the
# runs), then ROUNDS rounds of CONFIGS in turn, at 1, 4 and 16 sessions.
bench() {
    local mta=$1 s c r n t
    local -a count
    for s in 1 4 16; do
        local max=$messages
        ((s == 1)) && max=$single
        for c in "${!CONFIGS[@]}"; do
            n=$((s == 1 ? 10 : 5 * s))
            t=$(run "$mta" "$c" "$s" "$n")
            [[ ${CONFIGS[c]} != dsm-* ]] || dsm_expected=$((dsm_expected + n * RCPTS))
            # What it sends in about $seconds s, between 3 a session and max.
            count[c]=$(awk -v n="$n" -v t="$t" -v sec="$seconds" -v lo=$((3 * s)) -v hi="$max" \
                'BEGIN { k = int(n / t * sec); if (k < lo) k = lo; if (k > hi) k = hi; print k }')
        done
        check_verdicts
        for ((r = 1; r <= rounds; r++)); do
            for c in "${!CONFIGS[@]}"; do
                t=$(run "$mta" "$c" "$s" "${count[c]}")
                [[ ${CONFIGS[c]} != dsm-* ]] || dsm_expected=$((dsm_expected + count[c] * RCPTS))
                echo "$mta ${CONFIGS[c]} $s $t ${count[c]} $r" >>"$results"
                printf '  %-8s -s %-2d %-9s %5d msgs %7.3f s  %7.1f msg/s\n' "$mta" "$s" \
                    "${CONFIGS[c]}" "${count[c]}" "$t" "$(awk -v n="${count[c]}" -v t="$t" 'BEGIN { print n / t }')"
            done
        done
    done
    check_verdicts
}

dsm_expected=0
load_before=$(cut -d' ' -f1 /proc/loadavg)
started=$SECONDS
"$here/bench_zone.sh" "$zone" 3 ecdsap256sha256 >/dev/null ||
    die "bench_zone.sh failed"
echo "benchmark zone on 127.0.11.53 ($zone); recipient domain $DOMAIN; $RCPTS recipients, $LENGTH bytes a message"

if [[ $which != sendmail ]]; then
    echo "== Postfix"
    start_milters 000
    start_postfix
    [[ $serve == no ]] || serve postfix
    bench postfix
    stop_postfix
    stop_milters
fi
if [[ $which != postfix ]]; then
    echo "== Sendmail"
    start_milters 077
    start_sendmails
    [[ $serve == no ]] || serve sendmail
    bench sendmail
    stop_sendmails
    stop_milters
fi
load_after=$(cut -d' ' -f1 /proc/loadavg)

# dane-sts-milter decided every recipient it was sent, warm-ups included.
if (($(dsm_decisions) != dsm_expected)); then
    failed=yes
    die "dane-sts-milter logged $(dsm_decisions) decisions for $dsm_expected recipients"
fi

# --- the table -------------------------------------------------------------------------------
# median MTA CONFIG SESSIONS: median messages/s of the timed runs.
median_rate() {
    awk -v m="$1" -v c="$2" -v s="$3" '$1 == m && $2 == c && $3 == s { print $5 / $4 }' "$results" |
        sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
            if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
fmt_rate() { awk -v v="$1" 'BEGIN { printf (v >= 100 ? "%.0f" : "%.1f"), v }'; }
fmt_spm() { awk -v v="$1" 'BEGIN { printf "%.1f ms", 1000 / v }'; }
# pair_ratio MTA CONFIG-A CONFIG-B SESSIONS: the median over the rounds of A's
# rate ÷ B's in the same round (runs a few seconds apart, so a burst of other
# load on the machine weighs on both), rather than the ratio of the medians.
pair_ratio() {
    awk -v m="$1" -v a="$2" -v b="$3" -v s="$4" '
        $1 == m && $3 == s && $2 == a { ra[$6] = $5 / $4 }
        $1 == m && $3 == s && $2 == b { rb[$6] = $5 / $4 }
        END { for (r in ra) if (r in rb) print ra[r] / rb[r] }' "$results" |
        sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
            printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

target_for() { # MTA SOCKET
    if [[ $1 == sendmail && $2 == inet ]]; then
        echo "≥ 1.0 × do-nothing"
    else
        echo "≥ 0.9 × do-nothing"
    fi
}
meets() { # RATIO MTA SOCKET
    local min=0.9
    [[ $2 == sendmail && $3 == inet ]] && min=1.0
    awk -v r="$1" -v m="$min" 'BEGIN { exit !(r >= m) }' && echo yes || echo "NO"
}

echo
echo "MTA benchmark (\`tests/bench/mta_bench.sh\`), $(date -u +%Y-%m-%d), $(nproc) cores,"
echo "load average ${load_before} before and ${load_after} after; $((SECONDS - started)) s."
echo "smtp-source, $RCPTS recipients and $LENGTH bytes a message, one session a message;"
echo "medians of $rounds alternated rounds (alone, do-nothing, dane-sts-milter); the ratio is"
echo "the median of each round's dane-sts-milter ÷ do-nothing."
echo
echo "| MTA | socket | sessions | alone | + do-nothing | + dane-sts-milter | dsm ÷ do-nothing (rate) | SPEC §9 target | met |"
echo "|---|---|---|---|---|---|---|---|---|"
for mta in postfix sendmail; do
    [[ $which == both || $which == "$mta" ]] || continue
    name=Postfix
    [[ $mta == sendmail ]] && name="Sendmail"
    for kind in unix inet; do
        for s in 4 16 1; do
            a=$(median_rate "$mta" alone "$s")
            nn=$(median_rate "$mta" "null-$kind" "$s")
            d=$(median_rate "$mta" "dsm-$kind" "$s")
            q=$(pair_ratio "$mta" "dsm-$kind" "null-$kind" "$s")
            if ((s == 1)); then
                printf '| %s | %s | 1 (time a message) | %s | %s | %s | %s | | |\n' "$name" "$kind" \
                    "$(fmt_spm "$a")" "$(fmt_spm "$nn")" "$(fmt_spm "$d")" "$q"
            else
                printf '| %s | %s | %d (msg/s) | %s | %s | %s | %s | %s | %s |\n' "$name" "$kind" "$s" \
                    "$(fmt_rate "$a")" "$(fmt_rate "$nn")" "$(fmt_rate "$d")" "$q" \
                    "$(target_for "$mta" "$kind")" "$(meets "$q" "$mta" "$kind")"
            fi
            if [[ -n $rows_file ]]; then
                if ((s == 1)); then
                    printf '| %s + milter, %s socket, 1 session (time a message; MTA alone %s) | %s | %s (do-nothing milter) | %s× the rate | per-message pauses show here |\n' \
                        "$name" "$kind" "$(fmt_spm "$a")" "$(fmt_spm "$d")" "$(fmt_spm "$nn")" "$q"
                else
                    printf '| %s + milter, %s socket, %d sessions (msg/s; MTA alone %s) | %s | %s (do-nothing milter) | %s× | %s |\n' \
                        "$name" "$kind" "$s" "$(fmt_rate "$a")" "$(fmt_rate "$d")" "$(fmt_rate "$nn")" "$q" \
                        "$(target_for "$mta" "$kind")"
                fi >>"$rows_file"
            fi
        done
    done
done
if awk -v l="$load_before" 'BEGIN { exit !(l > 1.0) }'; then
    echo
    echo "mta_bench.sh: the machine was busy (load ${load_before}) before the run; the figures" \
        "understate what it can do" >&2
fi
