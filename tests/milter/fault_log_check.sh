#!/bin/bash
# The log target ([milter] log_target, SPEC §2: stderr | syslog | file:/path)
# going bad while the milter runs, with real parts: a real file system (a
# 64 KiB tmpfs), RCPTs over the milter protocol, DNS from the test bed.
# SPEC §3: nothing may crash the daemon or block other connections; a log
# line is never worth a mail. Faults:
#   1. file: on a full file system (ENOSPC on every write);
#   2. file: whose directory is removed while the milter runs;
#   3. file: whose directory becomes impossible (a plain file in its place);
#   4. stderr whose reader has gone (a closed pipe: EPIPE, SIGPIPE).
# Throughout, every RCPT is answered as SPEC §4 says within lookup_timeout_ms;
# the failure is said key=value on stderr (log_target=... log_state=failed);
# when the fault goes away lines land in the file again, after one saying
# what happened (log_state=recovered lost_lines=N, log_state=reopened).
# No mock: every fault is real.
set -uo pipefail
bin=$1 testbed=$2 work=$3 srcdir=$4
# A tmpfs of our own size needs root (ctest skips the test otherwise: 77).
[[ $(id -u) == 0 ]] || { echo "SKIP: mounting a tmpfs needs root"; exit 77; }
[[ -d $work/logfs ]] && umount "$work/logfs" 2>/dev/null
rm -rf "$work" && mkdir -p "$work/logfs"
# shellcheck source=../support/check_lib.sh
. "$srcdir/tests/support/check_lib.sh"

mounted=no
cleanup() {
    stop_started
    [[ $mounted == yes ]] && umount "$work/logfs"
}
trap cleanup EXIT
# A signal (ctest's timeout, ^C) ends the script through the EXIT trap too.
trap 'exit 1' INT TERM

# start NAME LOG_TARGET [SECTION.KEY=VALUE...]
start() {
    local name=$1 target=$2
    shift 2
    run_milter "$name" milter.log_target="$target" resolver.timeout_ms=1000 sts.ca_file= \
        sts.https_port= rcpt.lookup_timeout_ms=2500 connector.partners.recipient_domains=notlsa.test \
        connector.partners.mode=mandatory "$@" ||
        bad "$name did not start: $(cat "$work/$name.stderr" 2>/dev/null)"
}
# answers NAME WHAT: RCPTs answered as SPEC §4 says (DANE pass accepted;
# mandatory without TLSA 4.7.4; bogus 4.7.5), and the milter still runs.
answers() {
    local v="${1}_mport" p="${1}_pid" t0 took got
    t0=$(now_ms)
    got=$(rcpt_to "${!v}" dane-ok.test notlsa.test bogus.test)
    took=$(($(now_ms) - t0))
    # shellcheck disable=SC2053
    if [[ $got == "dane-ok.test c
notlsa.test 450 450 4.7.4 notlsa.test: "*"(dane-required)
bogus.test 450 450 4.7.5 bogus.test: "*"(dnssec-invalid)" ]] && ((took < 4000)) && kill -0 "${!p}" 2>/dev/null; then
        ok "$2: RCPTs answered as SPEC §4 says in $took ms, the milter runs"
    else
        bad "$2: RCPTs in $took ms: $(tr '\n' '|' <<<"$got"); running: $(kill -0 "${!p}" 2>/dev/null && echo yes || echo no)"
    fi
}
decisions() { cat "$1" 2>/dev/null | grep -c 'rcpt=.*domain=.*action='; }

# Parts 1, 2+3 and 4 run at once (each its own milter, log target and
# files); their results are printed in order.
# --- 1. a full file system -------------------------------------------------------
mount -t tmpfs -o size=64k tmpfs "$work/logfs" && mounted=yes ||
    { bad "cannot mount a tmpfs (root needed)"; finish; exit 1; }
part_full() {
    log=$work/logfs/milter.log
    start a "file:$log" milter.log_level=debug  # debug: more lines
    answers a "log file fine"
    ((($(decisions "$log")) >= 3)) && ok "log file fine: the decisions are logged" || bad "no decisions in $log"
    dd if=/dev/zero of="$work/logfs/filler" bs=1k 2>/dev/null
    # The last page of the file may have room for some lines: a few rounds.
    for i in 1 2 3 4; do answers a "log file system full (round $i)"; done
    grep -q "log_target=file:$log log_state=failed error=\"No space left on device\"" "$work/a.stderr" &&
        ok "full: said on stderr: $(grep -m1 -o 'log_target=.*log_state=failed.*' "$work/a.stderr")" ||
        bad "full: nothing on stderr: $(tail -2 "$work/a.stderr")"
    n=$(grep -c 'log_state=failed' "$work/a.stderr")
    ((n == 1)) && ok "full: said once, not once a line" || bad "full: said $n times"
    rm "$work/logfs/filler"
    answers a "log file system has room again"
    grep -q "log_state=recovered lost_lines=[1-9]" "$log" &&
        ok "room again: $(grep -m1 -o 'log_target=.*log_state=recovered.*' "$log")" ||
        bad "room again: no log_state=recovered line: $(tail -2 "$log")"
    tail -1 "$log" | grep -q 'rcpt=.*domain=.*bogus.test.*action=defer' &&
        ok "room again: the decisions are logged again" || bad "room again: last line: $(tail -1 "$log")"
}
# --- 2. the log directory removed ------------------------------------------------
part_dir() {
    log=$work/logdir/milter.log
    start b "file:$log"
    answers b "log directory there"
    rm -rf "$work/logdir"
    answers b "log directory removed"
    sleep 1.1  # the file is looked at once a second
    answers b "log directory removed (a second later)"
    grep -q "log_target=file:$log log_state=reopened reason=\"the file was removed\"" "$log" 2>/dev/null &&
        ok "removed: $log is back: $(grep -m1 -o 'log_target=.*reopened.*' "$log")" ||
        bad "removed: no $log, or no reopened line (ls: $(ls "$work"))"
    ((($(decisions "$log")) >= 3)) && ok "removed: the decisions since are in the new file" ||
        bad "removed: $(decisions "$log") decisions in the new file"
}
# --- 3. the log directory impossible --------------------------------------------
# The same milter as part 2, after its reopen: a second fault once the first
# was recovered from.
part_impossible() {
    rm -rf "$work/logdir" && echo "not a directory" >"$work/logdir"
    answers b "log directory is a file"
    sleep 1.1
    answers b "log directory is a file (a second later)"
    grep -q "log_target=file:$log log_state=failed error=\"Not a directory\"" "$work/b.stderr" &&
        ok "impossible: said on stderr: $(grep -m1 -o 'log_target=.*log_state=failed.*' "$work/b.stderr")" ||
        bad "impossible: nothing on stderr: $(tail -2 "$work/b.stderr")"
    rm "$work/logdir"
    sleep 1.1
    answers b "log directory possible again"
    grep -q "log_state=recovered lost_lines=[1-9]" "$log" 2>/dev/null &&
        ok "possible again: $(grep -m1 -o 'log_target=.*log_state=recovered.*' "$log")" ||
        bad "possible again: no recovered line in $log"
}
# --- 4. stderr closed ----------------------------------------------------------
part_stderr() {
    stderr_closed=yes start c stderr
    answers c "stderr closed"
    answers c "stderr closed (again)"
}

part_dir_then_impossible() {
    part_dir
    part_impossible
}
run_part full part_full
run_part dir part_dir_then_impossible
run_part stderr part_stderr
tally_part full
tally_part dir
tally_part stderr
finish
