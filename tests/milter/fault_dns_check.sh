#!/bin/bash
# A name server that answers garbage or truncated answers, with the milter
# over the milter protocol. SPEC §4 (RFC 7672 §2.1.1, §2.2): a failed or
# bogus lookup is never "no DANE": the DANE connectors defer `450 4.7.5 ...
# (dnssec-invalid)` (row 3, opportunistic and mandatory alike), within
# lookup_timeout_ms, and the decision line says dnssec=error or bogus; other
# domains are answered as usual meanwhile; the milter does not crash; once
# the server answers properly again (and error_ttl, 1 s, has passed) the
# same domains are accepted.
#
# The name server is a MOCK (tests/support/mock_dns.py --faults), for
# faults knotd cannot produce: random octets (dane-ok.test), an empty UDP
# reply with TC=1 then a TCP answer cut short and the connection closed
# (partner.test), knotd's answer cut in the middle of its records
# (mixed.test). It serves those three zones (stub zones of this milter's
# resolver); their DS records still come from knotd's test. zone, and it
# relays knotd's answers unchanged once the fault is "repaired". libunbound's
# caches (and its record of failing servers) are shortened to 1 s so that
# recovery shows within the test.
set -uo pipefail
bin=$1 testbed=$2 work=$3 srcdir=$4
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=../support/check_lib.sh
. "$srcdir/tests/support/check_lib.sh"
mock=${TB_NET}.10.58

trap stop_started EXIT
# A signal (ctest's timeout, ^C) ends the script through the EXIT trap too.
trap 'exit 1' INT TERM

start_mock_dns mock "$mock" --faults "$work/relay" ||
    { bad "the mock name server did not start"; finish; exit 1; }
mport_dns=$mock_dns_port
# The mock does what it says: garbage, truncated, cut; knotd's answer when relaying.
kq() { kdig +retry=0 +timeout=2 +dnssec -p "$mport_dns" @"$mock" "$@" 2>&1; }
out=$(kq MX dane-ok.test)
[[ $out != *"status: NOERROR"* ]] && ok "mock: dane-ok.test MX gets no usable answer ($(grep -m1 -o 'malformed reply packet' <<<"$out"))" ||
    bad "mock: dane-ok.test MX answered: $out"
out=$(kq +notcp MX partner.test)
[[ $out == *"Flags: qr tc"* ]] && ok "mock: partner.test over UDP is truncated (TC)" || bad "mock: partner.test UDP: $out"
out=$(kq MX mixed.test)
[[ $out != *"ANSWER SECTION"*"RRSIG"* ]] && ok "mock: mixed.test's answer is cut" || bad "mock: mixed.test: $out"
touch "$work/relay"
out=$(kq MX dane-ok.test)
[[ $out == *"status: NOERROR"* && $out == *RRSIG* ]] && ok "mock: relays knotd's signed answer when told to" ||
    bad "mock relay: $out"
rm "$work/relay"

cat >"$work/unbound.conf" <<'EOF'
server:
    cache-max-ttl: 1
    cache-max-negative-ttl: 1
    val-bogus-ttl: 1
    infra-host-ttl: 1
EOF
at_mock="$mock@$mport_dns"
run_milter milter \
    resolver.stub_zones="dane-ok.test.=$at_mock, partner.test.=$at_mock, mixed.test.=$at_mock, test.=${TB_NET}.10.53" \
    resolver.unbound_config="$work/unbound.conf" resolver.timeout_ms=600 sts.ca_file= sts.https_port= \
    cache.min_ttl=1 cache.max_ttl=1 cache.error_ttl=1 cache.stale_ttl=0 rcpt.lookup_timeout_ms=2500 \
    connector.default.recipient_domains='*' connector.default.dane=opportunistic \
    connector.default.mta_sts=none connector.partners.recipient_domains=partner.test \
    connector.partners.mode=mandatory || bad "the milter did not start"
port=$milter_port

decision() { grep "domain=\"\?$1\"\? " "$work/milter.log" | tail -1; }

# --- the faults -----------------------------------------------------------------
# Faulty answers are counted from the end of the round before: once
# error_ttl has passed, the prefetch may look the domains up again (through
# the mock) before round 2's RCPTs come, which are then answered from that.
count0=$(cat "$work/mock.count" 2>/dev/null || echo 0)
for round in 1 2; do
    for d in dane-ok.test partner.test mixed.test notlsa.test; do
        read -r took got <<<"$(rcpt_timed "$port" "$d")"
        took=${took%.*}
        line=$(decision "$d")
        if [[ $d == notlsa.test ]]; then
            [[ $got == "notlsa.test c" ]] && ((took < 1000)) &&
                ok "round $round: notlsa.test (a sound server) answered as usual in $took ms: accepted" ||
                bad "round $round: notlsa.test: '$got' in $took ms"
            continue
        fi
        # shellcheck disable=SC2053
        [[ $got == "$d 450 450 4.7.5 $d: "*"(dnssec-invalid)" ]] && ((took < 2600)) &&
            [[ $line =~ dnssec=(error|bogus)|dane=error ]] && [[ $line == *"result=dnssec-invalid"* ]] &&
            ok "round $round: $d deferred in $took ms: ${got#"$d 450 "} ($(grep -oE '(dnssec|dane)=[a-z]+' <<<"$line" | tr '\n' ' '))" ||
            bad "round $round: $d: '$got' in $took ms; log: $line"
    done
    count1=$(cat "$work/mock.count" 2>/dev/null || echo 0)
    ((count1 > count0)) && ok "round $round: the mock served $((count1 - count0)) faulty answers" ||
        bad "round $round: the mock served no faulty answer: did the lookups reach it?"
    count0=$count1
    # error_ttl: the next round looks up again (the recovery below polls).
    ((round == 2)) || sleep 1.2
done
kill -0 "$milter_pid" 2>/dev/null && ok "the milter is still running" || bad "the milter died"

# --- the server answers properly again ------------------------------------------
touch "$work/relay"
# The three in one session, until each is accepted from a dane=pass verdict
# (polled: error_ttl and libunbound's 1 s caches must pass first).
declare -A want=([dane-ok.test]="dane-ok.test c" [partner.test]="partner.test c" [mixed.test]="mixed.test c")
declare -A got=()
all_pass() {
    local d
    for d in dane-ok.test partner.test mixed.test; do
        [[ ${got[$d]-} == "${want[$d]}" && $(decision "$d") == *"dane=pass"* ]] || return 1
    done
}
for _ in $(seq 1 50); do
    while read -r d rest; do got[$d]="$d $rest"; done < <(rcpt_to "$port" dane-ok.test partner.test mixed.test)
    all_pass && break
    sleep 0.2
done
for d in dane-ok.test partner.test mixed.test; do
    answer=${got[$d]-}
    [[ $answer == "${want[$d]}" && $(decision "$d") == *"dane=pass"*"require=dane"* ]] &&
        ok "recovered: $d accepted, dane=pass require=dane" ||
        bad "no recovery for $d: '$answer'; $(decision "$d")"
done
finish
