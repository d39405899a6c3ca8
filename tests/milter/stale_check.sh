#!/bin/bash
# SPEC §6 serve-stale (RFC 8767 style) with real parts: the running milter
# decides a DANE domain, an insecure one and an MTA-STS one over the milter
# protocol; then the DNS server stops answering. Past each verdict's lifetime
# the milter keeps deciding exactly as before, from the stale verdict, and
# logs `stale=yes`, until `stale_ttl` has passed; then the refresh failure
# decides: dnssec=error, which a connector with DANE defers (SPEC §4 row 3,
# 450 4.7.5 dnssec-invalid).
#
# "Stops answering": the milter's name server for test. is this test's own
# relay in front of the DNS test bed's knotd (tests/support/mock_dns.py
# --relay: knotd's answers unchanged, DNSSEC validates), frozen with SIGSTOP
# and thawed with SIGCONT afterwards. Freezing the relay, not knotd, leaves
# the shared knotd answering the tests that run beside this one.
#
# Times are real and short: min_ttl = max_ttl = 2 s (every verdict lives 2 s),
# error_ttl = 1 s, stale_ttl = 6 s. The test bed's records have TTL 300 s, and
# libunbound's own cache would answer for them with knotd frozen: its
# cache-max-ttl is 1 s here, so an expired verdict's refresh reaches knotd as
# it would once real TTLs pass.
set -uo pipefail
bin=$1 testbed=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=../support/check_lib.sh
. "$(dirname "$0")/../support/check_lib.sh"

ns_addr=$TB_NET.10.59
start_mock_dns relay "$ns_addr" --relay || { bad "the relay name server did not start"; exit 1; }
ns_port=$mock_dns_port ns_pid=$mock_dns_pid
cleanup() {
    kill -CONT "$ns_pid" 2>/dev/null
    stop_milter
    stop_started
}
trap cleanup EXIT

printf 'server:\n    cache-max-ttl: 1\n' >"$work/unbound.conf"
milter_conf "$work/milter.conf" resolver.unbound_config="$work/unbound.conf" \
    resolver.stub_zones="test.=$ns_addr@$ns_port" \
    resolver.timeout_ms=500 cache.min_ttl=2 cache.max_ttl=2 cache.error_ttl=1 cache.stale_ttl=6 \
    rcpt.lookup_timeout_ms=2500
port=$milter_port
start_milter "$work/milter.conf" || bad "the milter starts"

# rcpt DOMAIN... -> one line per domain: "DOMAIN CODE [TEXT]", the milter's
# answer to RCPT TO <user@DOMAIN> ('c' continue = accept, or the SMTP code of a
# 'y' reply = defer/reject, TEXT its reply text), one milter session.
rcpt() {
    local d to=()
    for d; do to+=("user@$d"); done
    python3 "$(dirname "$0")/../support/milter_rcpt.py" "$port" "${to[@]}" | sed 's/^user@//'
}
domains=(dane-ok.test insecure.test sts-enforce.test)
log_from() { tail -n +"$(($1 + 1))" "$work/milter.log"; }
log_lines() { wc -l <"$work/milter.log"; }
# decisions SINCE DOMAIN -> the decision log lines for DOMAIN after line SINCE
decisions() { log_from "$1" | grep "domain=\"\?$2\"\? "; }

# --- 1. DNS up: the verdicts ---------------------------------------------------
got=$(rcpt "${domains[@]}")
declare -A first
while read -r d code _; do first[$d]=$code; done <<<"$got"
[[ ${first[dane-ok.test]} == c && ${first[insecure.test]} == c && ${first[sts-enforce.test]} == c ]] &&
    ok "DNS up: all three accepted" || bad "DNS up: $got"
grep -q 'domain="\?dane-ok.test"\? .*require=dane' "$work/milter.log" &&
    grep -q 'domain="\?sts-enforce.test"\? .*require=sts' "$work/milter.log" &&
    grep -q 'domain="\?insecure.test"\? .*require=none' "$work/milter.log" &&
    ok "DNS up: require=dane / none / sts" || bad "DNS up: $(tail -3 "$work/milter.log")"
decided=$(date +%s.%N)

# --- 2. DNS stops answering ----------------------------------------------------
kill -STOP "$ns_pid" || bad "cannot stop the relay name server ($ns_pid)"
since() { awk -v a="$decided" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
wait_past() { # SECONDS after the first decisions
    local left
    left=$(awk -v a="$decided" -v s="$1" -v now="$(date +%s.%N)" 'BEGIN { d = a + s - now; print (d > 0 ? d : 0) }')
    sleep "$left"
}

# Past every lifetime (2 s), within stale_ttl (2 + 6 s): twice, the first
# 1.5 s past the expiry (the prefetcher's refresh has failed by then), the
# second after that failure's error_ttl (1 s) and its retry, 2.5 s before
# the stale verdicts end.
for at in 3.5 5.5; do
    wait_past "$at"
    mark=$(log_lines)
    got=$(rcpt "${domains[@]}")
    t=$(since)
    stale_ok=yes
    for d in "${domains[@]}"; do
        code=$(awk -v d="$d" '$1 == d { print $2 }' <<<"$got")
        line=$(decisions "$mark" "$d")
        if [[ $code != "${first[$d]}" || $line != *"stale=yes"* || $line != *"action=accept"* ]]; then
            stale_ok=no
            bad "DNS down, ${t} s after deciding: $d answered '$code', log: $line"
        fi
    done
    [[ $stale_ok == yes ]] &&
        ok "DNS down, ${t} s after deciding (expired at 2 s): the same decisions, logged stale=yes"
done

# Past stale_ttl (2 + 6 = 8 s, plus the failed refresh's error_ttl): the
# failure decides. Every domain's connector has DANE (opportunistic), so
# dnssec=error defers, whatever the domain was before.
wait_past 9.5
mark=$(log_lines)
got=$(rcpt "${domains[@]}")
t=$(since)
declare -A code_of text_of
while read -r d code text; do [[ -n $d ]] && code_of[$d]=$code text_of[$d]=$text; done <<<"$got"
for d in "${domains[@]}"; do
    line=$(decisions "$mark" "$d")
    if [[ ${code_of[$d]-} == 450 && ${text_of[$d]-} == "450 4.7.5"* && $line == *"dnssec=error"* &&
        $line == *"action=defer"* && $line == *"result=dnssec-invalid"* && $line != *"stale=yes"* ]]; then
        ok "DNS down, ${t} s after deciding (stale_ttl over): $d deferred (${text_of[$d]})"
    else
        bad "DNS down, ${t} s after deciding: $d answered '${code_of[$d]-} ${text_of[$d]-}', log: $line"
    fi
done

# --- 3. DNS back: the name server answers again ------------------------------
kill -CONT "$ns_pid"
kdig +tcp +retry=0 +timeout=2 -p "$ns_port" @"$ns_addr" SOA test. >/dev/null 2>&1 &&
    ok "the name server answers again after SIGCONT" ||
    bad "the name server does not answer after SIGCONT"

echo "($(since) s)"
finish
