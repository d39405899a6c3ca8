#!/bin/bash
# SPEC §8 control socket with real parts: a running milter (SQLite store,
# policy map) and `dane-sts-milter --control`, against the DNS and HTTPS
# test beds.
#   - flush: sts-idchange.test's MTA-STS policy changes in the test bed (TXT
#     id and policy file); the cached verdict keeps answering the old one
#     until `--control flush`, after which the very next policy-map answer is
#     the new one, without restarting, while another domain stays cached (no
#     query for it reaches knotd: its own per-zone counter stays put; a zone
#     only this test looks up, counted-control.test) and
#     nothing is dropped from the store but the flushed domain;
#   - show and stats print what the cache holds;
#   - only root and the daemon's group reach the socket (0660; `nobody` is
#     refused);
#   - bad commands, bad domains, an oversized or unfinished request get
#     errors and change nothing; the socket file goes when the milter stops.
set -uo pipefail
bin=$1 testbed=$2 work=$3 srcdir=$4
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=../support/check_lib.sh
. "$srcdir/tests/support/check_lib.sh"

https_policy=$testbed/https/www/mta-sts.sts-idchange.test/.well-known/mta-sts.txt
original_policy=$(cat "$https_policy")
set_policy() {  # TXT-ID POLICY-TEXT: both changed in the running test beds
    printf '%s' "$2" >"$https_policy.tmp" && mv "$https_policy.tmp" "$https_policy"
    "$srcdir/tests/testbed/dns/set-txt.sh" "$testbed/dns" _mta-sts.sts-idchange.test \
        "v=STSv1; id=$1;" >/dev/null
}
cleanup() {
    stop_milter
    # Other tests expect sts-idchange.test as the test bed serves it.
    set_policy 1 "$original_policy"$'\n'
    rm -rf "$sockdir"
}
trap cleanup EXIT

pmport=$(free_port)
# In a directory anyone may enter (the checkout may not be), so that only the
# socket's own mode keeps other users out.
sockdir=$(mktemp -d /run/dsm-control-check.XXXXXX 2>/dev/null || mktemp -d)
chmod 755 "$sockdir"
sock=$sockdir/control.sock
milter_conf "$work/milter.conf" cache.store="sqlite:$work/cache.db" \
    policy_map.listen="inet:127.0.0.1:$pmport" control.socket="unix:$sock"
ctl() { "$bin" -c "$work/milter.conf" --control "$@"; }
stored_verdicts() {
    python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM verdicts").fetchone()[0])' \
        "$work/cache.db" 2>/dev/null
}
query() { map_query "$pmport" "$1"; }

# A stale socket file from a crashed run is replaced.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
start_milter "$work/milter.conf"
mode=$(stat -c %a "$sock" 2>/dev/null)
[[ $mode == 660 ]] && ok "the control socket is 0660 (a stale one was replaced)" ||
    bad "control socket mode '$mode': $(cat "$work/milter.stderr")"

enforce='secure match=mx.sts-idchange.test servername=hostname'
got=$(query sts-idchange.test)
[[ $got == "$enforce" ]] && ok "sts-idchange.test -> $got" || bad "sts-idchange.test answered '$got'"
[[ $(query counted-control.test) == dane-only ]] && ok "counted-control.test -> dane-only" || bad "counted-control.test"
for _ in $(seq 1 50); do  # written behind: both in the store
    [[ $(stored_verdicts) == 2 ]] && break
    sleep 0.1
done

out=$(ctl show sts-idchange.test counted-control.test nothere.test)
rc=$?
((rc == 0)) && [[ $out == *"sts-idchange.test dnssec=secure dane=none sts=enforce age="*"stale=no lookup=idle; policy_id=1 policy_mode=enforce policy_expires_in="* &&
    $out == *"counted-control.test dnssec=secure dane=pass sts=none age="* &&
    $out == *"nothere.test not cached; policy=none"* ]] &&
    ok "show prints the cached verdicts and policy" || bad "show (rc $rc): $out"
out=$(ctl stats)
[[ $out == *"cache_entries=2"* && $out == *"sts_policies=1"* && $out == *"store=sqlite:$work/cache.db"* &&
    $out == *"store_healthy=yes"* ]] && ok "stats counts entries, policies and the store" ||
    bad "stats: $out"

# The destination switches to testing with a new id. The cached verdict still
# answers the old policy (that is what a cache does, for its lifetime) ...
set_policy 2 $'version: STSv1\nmode: testing\nmx: mx.sts-idchange.test\nmax_age: 600\n'
sleep 1.5  # the TXT record's TTL (1 s) is over: a fresh lookup sees id=2
got=$(query sts-idchange.test)
[[ $got == "$enforce" ]] && ok "before the flush the cached verdict still answers ($got)" ||
    bad "before the flush: '$got'"
# ... until it is flushed: then the next answer is the new policy's.
knot_before=$(knot_queries "$testbed/dns" counted-control.test)
out=$(ctl flush sts-idchange.test)
rc=$?
((rc == 0)) && [[ $out == "sts-idchange.test flushed verdict=yes policy=yes store=yes; now dnssec=secure dane=none sts=testing" ]] &&
    ok "flush: $out" || bad "flush (rc $rc): $out"
# A testing policy is reported, never enforced (SPEC §4): NOTFOUND, for which
# postmap prints nothing.
got=$(query sts-idchange.test)
[[ -z $got ]] && ok "after the flush the policy map answers as for the testing policy (NOTFOUND)" ||
    bad "after the flush: '$got'"
out=$(ctl show sts-idchange.test)
[[ $out == *"sts=testing"*"policy_id=2 policy_mode=testing"* ]] && ok "show: $out" || bad "show after flush: $out"
[[ $(query counted-control.test) == dane-only ]] && ok "counted-control.test still answers from the cache" ||
    bad "counted-control.test after the flush"
knot_after=$(knot_queries "$testbed/dns" counted-control.test)
[[ $knot_before =~ ^[0-9]+$ && $knot_after == "$knot_before" ]] &&
    ok "no query for counted-control.test reached knotd ($knot_before before and after)" ||
    bad "counted-control.test was looked up again (knotd $knot_before -> $knot_after)"
grep -q 'control=flush domain=sts-idchange.test verdict=yes policy=yes store=yes dnssec=secure dane=none sts=testing' \
    "$work/milter.log" && ok "the flush is logged" || bad "no flush line in the log"

# Bad input changes nothing.
expect_error() {  # WHAT EXPECTED-TEXT ARGS...
    local what=$1 want=$2 out rc
    shift 2
    out=$(ctl "$@" 2>&1)
    rc=$?
    ((rc == 1)) && [[ $out == *"$want"* ]] && ok "$what -> exit 1, '$out'" || bad "$what (rc $rc): $out"
}
expect_error "unknown command" 'unknown command "frob"; expected flush, show or stats' frob
expect_error "bad domain" '"bad..name": ' flush counted-control.test bad..name
expect_error "flush without domain" 'flush needs at least one domain' flush
expect_error "stats with arguments" 'stats takes no arguments' stats now
out=$(ctl show counted-control.test)
[[ $out == *"counted-control.test dnssec=secure dane=pass"* ]] &&
    ok "a refused flush left counted-control.test cached" || bad "after the refused flush: $out"
raw() {  # BYTES-FROM-STDIN: the raw answer of the control socket
    python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(15)
s.connect(sys.argv[1])
data = sys.stdin.buffer.read()
try:
    s.sendall(data)
    if not data.endswith(b"\n"):
        s.shutdown(socket.SHUT_WR)
except OSError:
    pass
out = b""
try:
    while chunk := s.recv(65536):
        out += chunk
except OSError:
    pass
print(out.decode(errors="replace").strip())' "$sock"
}
got=$(head -c 20000 /dev/zero | tr '\0' a | raw)
[[ $got == "error: request over 16384 octets" ]] && ok "an oversized request: $got" || bad "oversized: '$got'"
got=$(printf 'stats' | raw)
[[ $got == "error: the request does not end in a line feed" ]] && ok "an unfinished request: $got" ||
    bad "unfinished: '$got'"
got=$(printf 'show \001x\n' | raw)
[[ $got == "error: the request is not one line of printable ASCII" ]] && ok "a control character: $got" ||
    bad "control character: '$got'"

# Only root and the daemon's group: another user is refused by the kernel.
if [[ $(id -u) == 0 && $sockdir == /run/* ]] && id nobody >/dev/null 2>&1; then
    out=$(runuser -u nobody -- python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"stats\n")
print(s.recv(100))' "$sock" 2>&1)
    [[ $out == *"PermissionError"* ]] && ok "user nobody is refused: ${out##*$'\n'}" ||
        bad "nobody: $out"
else
    echo "skip: not root, cannot try another user"
fi

stop_milter
rc=$?
((rc == 0)) && ok "the milter stops cleanly" || bad "milter exit $rc"
[[ ! -e $sock ]] && ok "the control socket is removed on stop" || bad "the control socket is left behind"
out=$(ctl stats 2>&1)
[[ $? == 1 && $out == *"cannot talk to the daemon at $sock"* ]] && ok "no daemon: $out" || bad "no daemon: $out"
finish
