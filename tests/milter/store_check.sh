#!/bin/bash
# SPEC §6 with real parts: verdicts survive a restart in SQLite while DNS is
# down; milters share Redis, so "one host's lookup serves all": a second
# milter with working DNS decides a domain the first looked up without a
# single query reaching the DNS server for it (knotd's own per-zone query
# counter, mod-stats, stays put), and a third decides it with no DNS at all;
# a failing Redis never stops answers and writes resume when it returns; a
# corrupt SQLite file does not keep the milter from starting. Lookups are
# driven through the policy map with Postfix's postmap.
#
# Error verdicts are stored too (SPEC §6, with error_ttl): a bogus domain
# (bogus.test: TLSA bogus; expired.test: every signature expired), one whose
# name server does not answer (noanswer.test: SERVFAIL/timeout, dnssec=error)
# and an MTA-STS error (sts-404.test: TXT present, policy 404) answer, after a
# restart with DNS down (SQLite) and from a second milter with DNS down
# (Redis), exactly as before: the same policy-map answer, the same RCPT reply
# (over the milter protocol) and the same verdict fields in the decision log.
# With DNS down a fresh lookup would say otherwise (dnssec=error, deferred
# with another cause), so only the stored verdict gives the same answers.
#
# MTA-STS policies are stored for their max_age (RFC 8461 §3.3, §5.1): with
# the TXT record gone and no policy host, a restarted milter (SQLite) and a
# second one (Redis) still apply the policy a first one fetched.
#
# The parts (SQLite, a corrupt SQLite file, the Redis fleet, the stored
# MTA-STS policies) share nothing but knotd (each has its own milters and
# store; only the fleet looks up counted-store.test, only the policies part
# changes sts-idchange.test) and run side by side: most of their time is
# waiting (a DNS server that does not answer, postmap's second after a TEMP
# answer, a verdict that must expire).
# shellcheck disable=SC2154 # NAME_pid, NAME_mport, NAME_port: set with printf -v
set -uo pipefail
bin=$1 testbed=$2 work=$3 srcdir=$4
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=../support/check_lib.sh
. "$srcdir/tests/support/check_lib.sh"
redis_port=$(free_port)           # the fleet's (stopped and restarted by it)
policy_redis_port=$(free_port)    # the stored policies' own
knot_listen=$(awk '$1 == "listen:" { print $2; exit }' "$testbed/dns/knot.conf")
# idchange_default: sts-idchange.test's TXT record as the test bed serves it,
# set only when knotd serves another (set-txt.sh waits, 5 s, for a new
# serial, and an unchanged record gets none).
idchange_default() {
    [[ $(kdig +tcp +retry=0 +timeout=1 +short @"${knot_listen%@*}" -p "${knot_listen##*@}" \
        TXT _mta-sts.sts-idchange.test) == '"v=STSv1; id=1;"' ]] ||
        "$srcdir/tests/testbed/dns/set-txt.sh" "$testbed/dns" _mta-sts.sts-idchange.test "v=STSv1; id=1;"
}
# map_query's private main.cf, written once before the parts query at once.
mkdir -p "$work/postfix" && printf 'compatibility_level = 3.6\n' >"$work/postfix/main.cf"

cleanup() {
    stop_started
    stop_redis "$work/redis"
    stop_redis "$work/redis-policies"
    # Other tests expect sts-idchange.test's TXT record as the test bed serves it.
    idchange_default >/dev/null 2>&1
}
trap cleanup EXIT

# start NAME STORE DNS-ADDRESS [SECTION.KEY=VALUE...] -> sets NAME_port (its
# policy map); DNS-ADDRESS ${TB_NET}.10.54 has no server: that milter's DNS is
# down.
start() {
    local name=$1 store=$2 dns=$3 pmport
    shift 3
    pmport=$(free_port)
    printf -v "${name}_port" %s "$pmport"
    run_milter "$name" milter.log_level=debug resolver.stub_zones="test.=$dns" resolver.timeout_ms=1000 \
        cache.store="$store" rcpt.lookup_timeout_ms=2500 policy_map.listen="inet:127.0.0.1:$pmport" "$@" ||
        bad "$name did not start: $(cat "$work/$name.stderr")"
}
query() { map_query "$@"; }  # PORT KEY
# rcpt NAME DOMAIN... -> per domain "DOMAIN CODE [TEXT]": milter NAME's answer
# to RCPT TO <user@DOMAIN> ('c' accept, or the SMTP code and reply text).
rcpt() {
    local mport_var="${1}_mport"
    shift
    rcpt_to "${!mport_var}" "$@"
}
# fields NAME DOMAIN -> the verdict fields of milter NAME's last RCPT decision
# for DOMAIN, from its log.
fields() {
    grep 'rcpt=' "$work/$1.log" | grep "domain=\"\?$2\"\? " | tail -1 |
        grep -oE '(dnssec|dane|sts|require|action|result)=[^ ]+' | tr '\n' ' '
}
# map_answer PORT DOMAIN -> the policy-map answer, without the map's address
# (its port differs from milter to milter) in postmap's messages.
map_answer() { query "$1" "$2" | sed -E 's/socketmap:inet:127\.0\.0\.1:[0-9]+:/socketmap:/g'; }
# map_answers PORT ARRAY DOMAIN... -> ARRAY[DOMAIN]: the policy-map answers,
# asked all at once (postmap waits a second after each TEMP answer).
map_answers() {
    local port=$1 d p pids=()
    local -n into=$2
    shift 2
    for d; do
        map_answer "$port" "$d" >"$work/map-answer.$port.$d" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    for d; do into[$d]=$(<"$work/map-answer.$port.$d"); done
}
error_domains=(bogus.test expired.test noanswer.test sts-404.test)
declare -A pm_before rcpt_before fields_before
# remember_errors NAME: milter NAME (DNS up) decides the error domains.
remember_errors() {
    local d got port_var="${1}_port"
    map_answers "${!port_var}" pm_before "${error_domains[@]}"
    got=$(rcpt "$1" "${error_domains[@]}")
    for d in "${error_domains[@]}"; do
        rcpt_before[$d]=$(grep "^$d " <<<"$got")
        fields_before[$d]=$(fields "$1" "$d")
    done
}
# same_errors NAME WHAT: milter NAME (DNS down) answers as remembered, from
# the store: with DNS down every lookup takes the resolver's timeout_ms
# (1000 ms; noanswer.test's would fail just as before), so the four RCPTs
# must be answered in less than that. The client times the RCPTs themselves:
# starting python and the milter session is no part of it (on a busy
# machine that alone took over a second).
same_errors() {
    local d got pm line f port_var="${1}_port" mport_var="${1}_mport" timed took
    timed=$(milter_rcpt --every 1 --for 0 "${!mport_var}" "${error_domains[@]/#/user@}" 2>&1 |
        sed 's/ user@/ /')
    took=$(awk '{ ms += $1 } END { printf "%d", ms }' <<<"$timed")
    got=$(sed -E 's/^[0-9.]+ //' <<<"$timed")
    ((took < 1000)) && ok "$2: the error domains answered without a lookup ($took ms for the four RCPTs)" ||
        bad "$2: the error domains took $took ms: looked up again? ($timed)"
    local -A pm_now
    map_answers "${!port_var}" pm_now "${error_domains[@]}"
    for d in "${error_domains[@]}"; do
        pm=${pm_now[$d]}
        line=$(grep "^$d " <<<"$got")
        f=$(fields "$1" "$d")
        if [[ $pm == "${pm_before[$d]}" && $line == "${rcpt_before[$d]}" && $f == "${fields_before[$d]}" ]]; then
            ok "$2: $d answers as before (RCPT '${line#"$d "}'; $f; the same policy-map answer)"
        else
            bad "$2: $d: policy map '$pm' (before '${pm_before[$d]}'), RCPT '$line' (before '${rcpt_before[$d]}'), log '$f' (before '${fields_before[$d]}')"
        fi
    done
}
# The kinds the error domains must give with DNS up (tests/testbed/dns/README.md).
check_error_kinds() {
    [[ ${fields_before[bogus.test]} == *"dane=error"* && ${rcpt_before[bogus.test]} == *" 450 4.7.5 "* ]] &&
        ok "$1: bogus.test is an error verdict, deferred (${fields_before[bogus.test]})" ||
        bad "$1: bogus.test: ${rcpt_before[bogus.test]}, ${fields_before[bogus.test]}"
    [[ ${fields_before[expired.test]} == *"dnssec=bogus"* && ${rcpt_before[expired.test]} == *" 450 4.7.5 "* ]] &&
        ok "$1: expired.test is bogus, deferred (${fields_before[expired.test]})" ||
        bad "$1: expired.test: ${rcpt_before[expired.test]}, ${fields_before[expired.test]}"
    [[ ${fields_before[noanswer.test]} == *"dnssec=error"* && ${rcpt_before[noanswer.test]} == *" 450 4.7.5 "* ]] &&
        ok "$1: noanswer.test is a lookup error, deferred (${fields_before[noanswer.test]})" ||
        bad "$1: noanswer.test: ${rcpt_before[noanswer.test]}, ${fields_before[noanswer.test]}"
    [[ ${fields_before[sts-404.test]} == *"sts=error"* && ${rcpt_before[sts-404.test]} == "sts-404.test c" ]] &&
        ok "$1: sts-404.test is an MTA-STS error, accepted (${fields_before[sts-404.test]})" ||
        bad "$1: sts-404.test: ${rcpt_before[sts-404.test]}, ${fields_before[sts-404.test]}"
}


# --- SQLite: verdicts survive a restart while DNS is down ---------------------
sqlite_part() {
    local got ok_a sts_a ok_b ok2_b sts_b
    start a "sqlite:$work/cache.db" ${TB_NET}.10.53
    # Asked beside the error domains' lookups (each its own postmap).
    query "$a_port" dane-ok.test >"$work/a.dane-ok" &
    ok_a=$!
    query "$a_port" sts-enforce.test >"$work/a.sts-enforce" &
    sts_a=$!
    remember_errors a
    wait "$ok_a" "$sts_a"
    got=$(<"$work/a.dane-ok")
    [[ $got == dane-only ]] && ok "sqlite: looked up with DNS" || bad "sqlite: first answer: $got"
    check_error_kinds sqlite
    # An MTA-STS enforce verdict keeps its mx patterns through the store: the
    # policy map answers "secure match=" from them (SPEC §7).
    got=$(<"$work/a.sts-enforce")
    [[ $got == "$sts_answer" ]] && ok "sqlite: sts-enforce.test -> $got" ||
        bad "sqlite: sts-enforce.test answered '$got'"
    stop_milter a
    start b "sqlite:$work/cache.db" ${TB_NET}.10.54
    # dane-ok2.test waits on the DNS server that is not there (its lookup
    # runs on its own; the RCPTs of same_errors never wait on it).
    query "$b_port" dane-ok2.test >"$work/b.dane-ok2" &
    ok2_b=$!
    query "$b_port" dane-ok.test >"$work/b.dane-ok" &
    ok_b=$!
    query "$b_port" sts-enforce.test >"$work/b.sts-enforce" &
    sts_b=$!
    same_errors b "sqlite: after a restart with DNS down"
    wait "$ok2_b" "$ok_b" "$sts_b"
    got=$(<"$work/b.dane-ok")
    [[ $got == dane-only ]] && ok "sqlite: after a restart with DNS down, still dane-only" ||
        bad "sqlite: after restart: '$got'"
    got=$(<"$work/b.dane-ok2")
    # Not invented: its MX lookup fails (timeout_ms 1000, within lookup_timeout_ms
    # 2500), so dnssec=error and the DANE connector defers (SPEC §4 row 3): TEMP.
    [[ $got == *"temporary error: 4.7.5 dane-ok2.test: "*"(dnssec-invalid)"* ]] &&
        ok "sqlite: an unknown domain with DNS down is not invented ($got)" ||
        bad "sqlite: unknown domain: '$got'"
    got=$(<"$work/b.sts-enforce")
    [[ $got == "$sts_answer" ]] &&
        ok "sqlite: after a restart with DNS down, sts-enforce.test still -> $got" ||
        bad "sqlite: after a restart, sts-enforce.test answered '$got'"
    stop_milter b
}

# --- a corrupt SQLite file ----------------------------------------------------
corrupt_part() {
    head -c 4096 /dev/urandom >"$work/corrupt.db"
    start c "sqlite:$work/corrupt.db" ${TB_NET}.10.53
    [[ $(query "$c_port" dane-ok.test) == dane-only ]] && ok "corrupt sqlite: the milter starts and answers" ||
        bad "corrupt sqlite: $(tail -5 "$work/c.log")"
    ls "$work"/corrupt.db.corrupt-* >/dev/null 2>&1 && ok "corrupt sqlite: the bad file was moved aside" ||
        bad "corrupt sqlite: no moved-aside file"
    stop_milter c
}
sts_answer='secure match=mx.sts-enforce.test servername=hostname'

# --- Redis: a fleet shares lookups --------------------------------------------
redis_part() {
    local got ttl knot_before knot_after_r1 knot_after_r2 control_before control_after
    start_redis "$work/redis" "$redis_port" || { bad "redis did not start"; return; }
    start r1 "redis://127.0.0.1:$redis_port/0" ${TB_NET}.10.53
    start r2 "redis://127.0.0.1:$redis_port/0" ${TB_NET}.10.53   # DNS works
    start r3 "redis://127.0.0.1:$redis_port/0" ${TB_NET}.10.54   # no DNS at all
    # The error domains (their own part: other domains, other keys) beside
    # counted-store.test and mixed.test.
    run_part redis_errors redis_errors
    # knotd counts queries per zone for every test of the run: counted-store.test
    # is a zone only this test looks up (tests/testbed/dns/README.md).
    knot_before=$(knot_queries "$testbed/dns" counted-store.test)
    [[ $(query "$r1_port" counted-store.test) == dane-only ]] && ok "redis: first milter looked it up" ||
        bad "redis: first milter"
    for _ in $(seq 1 50); do  # written behind: wait until it is in Redis
        [[ -n $(redis-cli -p "$redis_port" --raw KEYS '*counted-store.test*') ]] && break
        sleep 0.1
    done
    knot_after_r1=$(knot_queries "$testbed/dns" counted-store.test)
    [[ $knot_before =~ ^[0-9]+$ ]] && ((knot_after_r1 > knot_before)) &&
        ok "redis: the first milter's lookup reached knotd (counted-store.test queries $knot_before -> $knot_after_r1)" ||
        bad "redis: knotd's counter for counted-store.test did not see the first lookup ($knot_before -> $knot_after_r1)"
    got=$(query "$r2_port" counted-store.test)
    knot_after_r2=$(knot_queries "$testbed/dns" counted-store.test)
    [[ $got == dane-only ]] && ok "redis: the second milter decides counted-store.test (dane-only)" ||
        bad "redis: second milter got '$got'"
    [[ $knot_after_r2 == "$knot_after_r1" ]] &&
        ok "redis: ...without a query for it reaching knotd ($knot_after_r2 before and after)" ||
        bad "redis: the second milter queried knotd for counted-store.test ($knot_after_r1 -> $knot_after_r2)"
    # Control: a domain not in Redis does reach knotd through the second milter,
    # so the counter above could have moved.
    control_before=$(knot_queries "$testbed/dns" mixed.test)
    got=$(query "$r2_port" mixed.test)
    control_after=$(knot_queries "$testbed/dns" mixed.test)
    [[ $got == dane-only ]] && ((control_after > control_before)) &&
        ok "redis: a domain not in Redis is looked up in DNS (mixed.test queries $control_before -> $control_after)" ||
        bad "redis: control mixed.test: '$got', knotd queries $control_before -> $control_after"
    got=$(query "$r3_port" counted-store.test)
    [[ $got == dane-only ]] && ok "redis: a third milter, without DNS, decides from the fleet's verdict" ||
        bad "redis: third milter got '$got'"
    ttl=$(redis-cli -p "$redis_port" TTL "$(redis-cli -p "$redis_port" --raw KEYS '*counted-store.test*' | head -1)")
    ((ttl > 0 && ttl <= 86400)) && ok "redis: the key has a TTL ($ttl s)" || bad "redis: TTL '$ttl'"
    tally_part redis_errors

    # Redis goes away: answers keep coming (from memory and DNS).
    stop_redis "$work/redis"
    local start took resumed i
    start=$(date +%s%N)
    got=$(query "$r1_port" notlsa.test)
    took=$(( ($(date +%s%N) - start) / 1000000 ))
    [[ $got == NOTFOUND* || $got == "" ]] && ok "redis down: still answering ($took ms)" ||
        bad "redis down: '$got'"
    kill -0 "$r1_pid" 2>/dev/null && ok "redis down: the milter keeps running" || bad "milter died"
    # Redis comes back: writes resume (after the store's reconnect backoff,
    # 100 ms doubling: polled every 0.2 s, for as long as before).
    start_redis "$work/redis" "$redis_port"
    resumed=no
    for i in $(seq 1 200); do
        query "$r1_port" "d$i.nosuch.test" >/dev/null
        query "$r1_port" implicit.test >/dev/null
        if [[ -n $(redis-cli -p "$redis_port" --raw KEYS '*implicit.test*') ]]; then resumed=yes; break; fi
        sleep 0.2
        # a fresh domain each round, so a lookup (and a write) happens
        query "$r1_port" "cname-mx.test" >/dev/null
        [[ -n $(redis-cli -p "$redis_port" --raw KEYS '*cname-mx.test*') ]] && { resumed=yes; break; }
    done
    [[ $resumed == yes ]] && ok "redis back: writes resumed" || bad "redis back: no writes"
}
# Error verdicts: the first milter (DNS up) decides them; the third (no DNS)
# answers the same from Redis.
redis_errors() {
    local d ttl
    remember_errors r1
    check_error_kinds redis
    for d in "${error_domains[@]}"; do  # written behind: wait until they are in Redis
        for _ in $(seq 1 50); do
            [[ -n $(redis-cli -p "$redis_port" --raw KEYS "*$d*") ]] && break
            sleep 0.1
        done
    done
    same_errors r3 "redis: a second milter with DNS down"
    ttl=$(redis-cli -p "$redis_port" TTL "$(redis-cli -p "$redis_port" --raw KEYS '*bogus.test*' | head -1)")
    ((ttl > 0 && ttl <= 60)) && ok "redis: an error verdict's key lives error_ttl ($ttl s of 60)" ||
        bad "redis: bogus.test's TTL '$ttl' (error_ttl is 60 s)"
}

# --- MTA-STS policies outlive their verdicts (RFC 8461 §3.3, §5.1, §10.2) ---
# Verdicts live 1 s here (max_ttl), sts-idchange.test's policy 86400 s
# (max_age). A milter fetches the policy; then its TXT record is removed and
# the next milter (a restart on the same SQLite file; another milter on the
# same Redis) reaches no policy host at all (https_port 9: nothing listens).
# Its own lookup finds no TXT record: only the stored policy keeps the
# domain under enforce. A control milter with the same setting and no store
# shows what the answer is without it. SQLite and Redis side by side: one
# TXT change, one wait.
idchange_txt() { "$srcdir/tests/testbed/dns/set-txt.sh" "$testbed/dns" _mta-sts.sts-idchange.test "$@"; }
policy_answer='secure match=mx.sts-idchange.test servername=hostname'
short_verdicts=(cache.max_ttl=1 cache.min_ttl=1 cache.stale_ttl=0)
policy_part() {
    local what got port_var
    start_redis "$work/redis-policies" "$policy_redis_port" || { bad "redis (policies) did not start"; return; }
    local -A store=([sqlite]="sqlite:$work/policies.db" [redis]="redis://127.0.0.1:$policy_redis_port/1")
    # The first milter of each fetches; the second, without the TXT record
    # and the policy host, still answers from the stored policy.
    idchange_default
    for what in sqlite redis; do
        start "p1_$what" "${store[$what]}" ${TB_NET}.10.53 "${short_verdicts[@]}"
    done
    for what in sqlite redis; do
        port_var="p1_${what}_port"
        got=$(query "${!port_var}" sts-idchange.test)
        [[ $got == "$policy_answer" ]] && ok "$what: the policy of sts-idchange.test fetched ($got)" ||
            bad "$what: first answer for sts-idchange.test: '$got'"
    done
    stop_milter p1_sqlite
    idchange_txt
    sleep 2  # the verdict (1 s) and the TXT record (TTL 1 s) are gone
    for what in sqlite redis; do
        start "p2_$what" "${store[$what]}" ${TB_NET}.10.53 "${short_verdicts[@]}" sts.https_port=9
    done
    start p3 memory ${TB_NET}.10.53 "${short_verdicts[@]}" sts.https_port=9
    for what in sqlite redis; do
        port_var="p2_${what}_port"
        got=$(query "${!port_var}" sts-idchange.test)
        [[ $got == "$policy_answer" ]] &&
            ok "$what: no TXT record, no policy host, the stored policy still applies ($got)" ||
            bad "$what: without TXT record and policy host, sts-idchange.test answered '$got'"
        grep -q 'sts=enforce' "$work/p2_$what.log" && ok "$what: the second milter's verdict says sts=enforce" ||
            bad "$what: no sts=enforce in the second milter's log"
        stop_milter "p2_$what"
    done
    stop_milter p1_redis
    got=$(query "$p3_port" sts-idchange.test)
    [[ $got != "$policy_answer" ]] &&
        ok "control: without a store the same milter has no policy for sts-idchange.test ('$got')" ||
        bad "control: a milter without a store still answered '$got'"
    stop_milter p3
    idchange_txt "v=STSv1; id=1;"
}

run_part sqlite sqlite_part
run_part corrupt corrupt_part
run_part redis redis_part
run_part policies policy_part
tally_part sqlite
tally_part corrupt
tally_part redis
tally_part policies
finish
