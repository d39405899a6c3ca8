#!/bin/bash
# SPEC §6 "RCPT never waits on a refresh in flight" and "a domain in steady
# use never misses", with real parts over the milter protocol: dane-ok.test
# lives 2 s (min_ttl = max_ttl = 2 play a 2 s DNS TTL; the test bed's records
# have 300 s) and its name server answers every query 0.5 s late; one lookup
# (MX, A, AAAA, TLSA, each validated) takes 8 such queries, ~4 s, twice the
# verdict's life and four times lookup_timeout_ms = 1000, the most the milter
# waits on a miss. After the first lookup has landed, a RCPT for it every
# 0.3 s for 8 s (two refreshes or more, each outlasting the verdict): every
# answer comes within 100 ms (a cache hit's time; a wait on the lookup would
# take up to 1000 ms), every one is decided from the DANE verdict
# (require=dane, never `pending`), and lookups of the domain kept going
# through the slow server meanwhile.
#
# The slow name server is a MOCK (tests/support/mock_dns.py --slow): a relay
# in front of the test bed's knotd that holds every answer 0.5 s, the fault
# knotd itself cannot produce. Only the zone dane-ok.test is sent to it (a
# stub zone of this milter's own resolver); its DS still comes from knotd's
# test. zone, so DNSSEC validates as usual. libunbound's own cache would
# answer refreshes without asking the name server: its cache-max-ttl is 1 s
# here. So that each query is asked once and answered late (not sent again
# after libunbound's 376 ms for a server it has no round-trip time for, nor
# split into one query per label), unknown-server-time-limit is 3 s and
# qname-minimisation off: the lookup is then 8 late answers in a row.
set -uo pipefail
bin=$1 testbed=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=../support/check_lib.sh
. "$here/../support/check_lib.sh"
slow_addr=${TB_NET}.10.57  # the mock name server of dane-ok.test
domain=dane-ok.test
# The milter first, while its name server still answers: stopped the other
# way round, a query in flight would wait out resolver.timeout_ms.
trap 'stop_milter; stop_started' EXIT

delay_ms=500
start_mock_dns proxy "$slow_addr" --slow "0.$delay_ms" || { bad "the mock name server did not start"; exit 1; }
proxy_port=$mock_dns_port
# The mock is slow, and relays knotd's signed answer.
start=$(date +%s%N)
out=$(kdig +retry=0 +timeout=5 +dnssec -p "$proxy_port" @"$slow_addr" MX "$domain" 2>&1)
took=$(( ($(date +%s%N) - start) / 1000000 ))
[[ $out == *"status: NOERROR"* && $out == *RRSIG* ]] && ((took >= delay_ms - 20)) &&
    ok "the mock name server relays knotd's signed answer, ${took} ms late" ||
    bad "mock name server: ${took} ms, $out"

printf 'server:\n    cache-max-ttl: 1\n    unknown-server-time-limit: 3000\n    qname-minimisation: no\n' \
    >"$work/unbound.conf"
milter_conf "$work/milter.conf" - resolver.stub_zones="$domain.=$slow_addr@$proxy_port, test.=${TB_NET}.10.53" \
    resolver.unbound_config="$work/unbound.conf" resolver.timeout_ms=10000 cache.min_ttl=2 \
    cache.max_ttl=2 rcpt.lookup_timeout_ms=1000 sts.ca_file= sts.https_port= <<CONF
[connector.default]
recipient_domains = *
dane = opportunistic
mta_sts = none
CONF
port=$milter_port
start_milter "$work/milter.conf" || { bad "the milter did not start"; exit 1; }

# One milter session; every INTERVAL s for SECONDS s (or once), RCPT TO
# user@DOMAIN; prints per RCPT "MS CODE" (how long the answer took, the
# milter's answer: 'c' accept or the SMTP code).
rcpt_loop() { rcpt_timed "$port" "$1" "$2" "$3" | awk '{ print $1, $3 }'; }
log_lines() { wc -l <"$work/milter.log"; }
decisions() { tail -n +"$(($1 + 1))" "$work/milter.log" | grep "domain=\"\?$domain\"\? "; }

# --- 1. the first RCPT misses: its lookup outlasts lookup_timeout_ms ----------
mark=$(log_lines)
first=$(rcpt_loop "$domain" 1 0)
read -r ms code <<<"$first"
line=$(decisions "$mark")
awk -v m="$ms" 'BEGIN { exit !(m >= 900) }' && [[ $line == *"dane=pending"* ]] &&
    ok "cold miss: the first RCPT waited lookup_timeout_ms (${ms} ms, dane=pending): the server is slow" ||
    bad "cold miss: ${ms} ms '$code', log: $line"

# --- 2. wait for that lookup to land ---------------------------------------------
landed=no
for _ in $(seq 1 60); do
    mark=$(log_lines)
    rcpt_loop "$domain" 1 0 >/dev/null
    if decisions "$mark" | grep -q 'dane=pass'; then landed=yes; break; fi
    sleep 0.2
done
[[ $landed == yes ]] && ok "the first lookup landed: dane=pass" ||
    { bad "no dane=pass verdict for $domain: $(tail -3 "$work/milter.log")"; finish; exit 1; }

# --- 3. steady use: every 0.3 s for 8 s -----------------------------------------
mark=$(log_lines)
count_before=$(cat "$work/proxy.count")
times=$(rcpt_loop "$domain" 0.3 8)
count_after=$(cat "$work/proxy.count")
n=$(wc -l <<<"$times")
slowest=$(sort -n <<<"$times" | tail -1 | cut -d' ' -f1)
codes=$(cut -d' ' -f2 <<<"$times" | sort | uniq -c | tr -s ' ' | tr '\n' ',')
echo "RCPT answer times (ms): $(cut -d' ' -f1 <<<"$times" | tr '\n' ' ')"
((n >= 26)) && ok "steady use: $n RCPTs in 8 s" || bad "steady use: only $n RCPTs"
awk -v m="$slowest" 'BEGIN { exit !(m <= 100) }' &&
    ok "steady use: no RCPT waited (slowest answer ${slowest} ms, at most 100 ms)" ||
    bad "steady use: a RCPT took ${slowest} ms (more than a cache hit's 100 ms)"
[[ $codes == " $n c," ]] && ok "steady use: all $n accepted" || bad "steady use: answers $codes"
lines=$(decisions "$mark")
total=$(grep -c . <<<"$lines")
dane=$(grep -c 'dane=pass.*require=dane' <<<"$lines")
stale=$(grep -c 'stale=yes' <<<"$lines")
((total == n && dane == n)) &&
    ok "steady use: every decision from the DANE verdict, require=dane ($stale of them stale=yes)" ||
    bad "steady use: $dane of $total decisions (of $n RCPTs) dane=pass require=dane: $(grep -v 'dane=pass' <<<"$lines" | head -2)"
# The premise: refreshes outlasted the verdict's 2 s, so some RCPTs came
# while the verdict had expired and its refresh was still under way.
((stale >= 1)) &&
    ok "steady use: $stale RCPTs came while a refresh outlasted the verdict (stale=yes)" ||
    bad "steady use: no RCPT came after the verdict expired: no refresh was in flight"
((count_after - count_before >= 6)) &&
    ok "steady use: lookups kept going through the slow server ($((count_after - count_before)) late answers)" ||
    bad "steady use: only $((count_after - count_before)) answers from the slow server: were refreshes made?"

finish
