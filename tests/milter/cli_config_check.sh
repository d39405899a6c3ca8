#!/bin/bash
# `dane-sts-milter -n`: the shipped file passes; bad files fail naming file and key.
set -uo pipefail
bin=$1 shipped=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=../support/check_lib.sh
. "$(dirname "$0")/../support/check_lib.sh"

if "$bin" -c "$shipped" -n >"$work/out" 2>&1; then ok "shipped milter.conf passes -n"
else bad "shipped milter.conf fails -n: $(cat "$work/out")"; fi

expect_error() {  # name, file content, words the error must contain
    local name=$1 body=$2; shift 2
    printf '%s\n' "$body" >"$work/$name.conf"
    if "$bin" -c "$work/$name.conf" -n >"$work/$name.out" 2>&1; then
        bad "$name: -n exited 0"; return
    fi
    local rc=0
    "$bin" -c "$work/$name.conf" -n >/dev/null 2>&1 || rc=$?
    [ "$rc" = 1 ] || { bad "$name: exit status $rc, expected 1"; return; }
    for w in "$work/$name.conf" "$@"; do
        grep -qF -- "$w" "$work/$name.out" || { bad "$name: error lacks '$w': $(cat "$work/$name.out")"; return; }
    done
    ok "$name: $(cat "$work/$name.out")"
}

expect_error unknown_key $'[milter]\nsocket = inet:8891@127.0.0.1\nfrobnicate = yes' frobnicate
expect_error unknown_section $'[frob]\na = b' frob
expect_error bad_mode $'[connector.partners]\nrecipient_domains = a.test\nmode = strict' partners mode strict
expect_error bad_number $'[rcpt]\nlookup_timeout_ms = soon' lookup_timeout_ms
expect_error missing_domains $'[connector.x]\nmode = none' recipient_domains
# [probe] bind_address must be an address of this host (TEST-NET-1 is
# nobody's): -n, --check and the start refuse it, naming key and address.
expect_error bind_elsewhere $'[probe]\nenabled = yes\nbind_address = 192.0.2.1' \
    "[probe] bind_address 192.0.2.1: Cannot assign requested address"
printf '[milter]\nsocket = unix:%s/m.sock\n[probe]\nenabled = yes\nbind_address = 192.0.2.1\n' \
    "$work" >"$work/bind.conf"
rc=0; timeout 20 "$bin" -c "$work/bind.conf" >"$work/bind-start.out" 2>&1 || rc=$?
[[ $rc == 1 ]] && grep -qF "[probe] bind_address 192.0.2.1: Cannot assign requested address" "$work/bind-start.out" &&
    ok "the start refuses [probe] bind_address 192.0.2.1: $(tail -1 "$work/bind-start.out")" ||
    bad "the start with [probe] bind_address 192.0.2.1: exit $rc, $(cat "$work/bind-start.out")"
rc=0; timeout 20 "$bin" -c "$work/bind.conf" --check a.test >"$work/bind-check.out" 2>&1 || rc=$?
[[ $rc == 2 ]] && grep -qF "[probe] bind_address 192.0.2.1: Cannot assign requested address" "$work/bind-check.out" &&
    ok "--check refuses it too (exit 2)" || bad "--check with [probe] bind_address 192.0.2.1: exit $rc, $(cat "$work/bind-check.out")"
printf '[probe]\nenabled = no\nbind_address = 192.0.2.1\n' >"$work/bind-off.conf"
"$bin" -c "$work/bind-off.conf" -n >/dev/null 2>&1 && ok "-n: a bind_address unused (probes off) passes" ||
    bad "-n refuses a bind_address although probes are off"

rm -f "$work/nonexistent.conf"
if "$bin" -c "$work/nonexistent.conf" -n >"$work/nf.out" 2>&1; then bad "missing file accepted"
elif grep -qF "$work/nonexistent.conf" "$work/nf.out"; then ok "missing file named"
else bad "missing file not named: $(cat "$work/nf.out")"; fi

"$bin" --version | grep -q '^dane-sts-milter [0-9]' && ok "--version" || bad "--version"
rc=0; "$bin" --bogus-flag >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] && ok "usage error exits 2" || bad "usage error exit $rc"
# SPEC §8: 2 on usage errors, whichever way the command line is wrong.
for args in "--json" "--check" "-n extra.test" "-c"; do
    rc=0; "$bin" $args >/dev/null 2>&1 || rc=$?
    [ "$rc" = 2 ] && ok "'$args' exits 2" || bad "'$args' exit $rc"
done
rc=0; "$bin" -c "$work/nonexistent.conf" --check a.test >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] && ok "--check with a missing config exits 2" || bad "--check, missing config: exit $rc"
"$bin" -V | grep -q '^dane-sts-milter [0-9]' && ok "-V" || bad "-V"
for flag in -h --help; do
    out=$("$bin" $flag) && grep -q '^usage: dane-sts-milter' <<<"$out" && ok "$flag exits 0 with usage" ||
        bad "$flag"
done

finish
