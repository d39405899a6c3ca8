#!/bin/bash
# SPEC §11 readiness report with real parts: milters decide real RCPTs
# (tests/support/milter_rcpt.py over the milter protocol) for domains of the
# DNS test bed with and without DANE, through three connectors (one in test
# mode, one mandatory with on_failure = reject, the default one), are
# restarted, and `--report` / `--report --json` must give exactly the counts
# sent: per connector the domains and recipients seen, what was (would be)
# deferred or rejected as configured and, for the non-mandatory connectors,
# if switched to mandatory, with causes, most recipients first.
#
#   SQLite: traffic, SIGTERM (the stop flushes), restart, more traffic, the
#   report read while the milter runs (after the 10 s flush), stop, report.
#   Redis: two milters on one Redis server (started here on a free port, not
#   the shared test bed's) count into the same hashes: the sums add up.
# Also: --connector, --days, a database not created yet, and exit 2 for a
# memory store or an unknown connector.
# shellcheck disable=SC2154 # NAME_pid, NAME_mport: set by run_milter with printf -v
set -uo pipefail
bin=$1 testbed=$2 work=$3 srcdir=$4
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=../support/check_lib.sh
. "$srcdir/tests/support/check_lib.sh"

cleanup() {
    stop_started
    stop_redis "$work/redis"
}
trap cleanup EXIT

# The connectors every milter here uses (the report lists them in this
# order), and the rest of its settings (lookup_timeout_ms long enough that no
# cold lookup reads "pending").
connectors='[connector.partners]
recipient_domains = notlsa.test, bogus.test, dane-ok.test
mode = opportunistic
test_mode = yes
[connector.strict]
recipient_domains = insecure.test, dane-unusable.test, dane-ok2.test
mode = mandatory
on_failure = reject
[connector.default]
recipient_domains = *
mode = opportunistic'
settings=(resolver.timeout_ms=3000 rcpt.lookup_timeout_ms=20000 report.days=30)

# start NAME STORE: starts a milter, sets NAME_pid and NAME_mport.
start() {
    run_milter "$1" - "${settings[@]}" cache.store="$2" <<<"$connectors" ||
        bad "$1: the milter did not listen on ${milter_port}"
}

# send PORT N DOMAIN: N recipients of DOMAIN in one session; checks that the
# milter answered each one.
send() {
    local to=() i
    for ((i = 1; i <= $2; i++)); do to+=("u$i@$3"); done
    local got
    got=$(milter_rcpt "$1" "${to[@]}" | wc -l)
    [[ $got == "$2" ]] || bad "send $2 x $3: $got answers"
}

# send_all PORT "N DOMAIN"...: as send, each its own session, all at once.
send_all() {
    local port=$1 spec n d i k=0 to pids=() got
    shift
    for spec; do
        read -r n d <<<"$spec"
        to=()
        for ((i = 1; i <= n; i++)); do to+=("u$i@$d"); done
        milter_rcpt "$port" "${to[@]}" >"$work/send.$port.$k" &
        pids+=($!) k=$((k + 1))
    done
    wait "${pids[@]}"
    k=0
    for spec; do
        read -r n d <<<"$spec"
        got=$(wc -l <"$work/send.$port.$k")
        [[ $got == "$n" ]] || bad "send $n x $d: $got answers"
        k=$((k + 1))
    done
}

today=$(date -u +%F)
first=$(date -u -d "$today -29 days" +%F)

# ---- Redis: two milters, one server: the counts add up -------------------
# Its own Redis server, milters and work files: it runs beside the SQLite
# part (most of which is waiting for the running milter's 10 s flush).
redis_part() {
    local redis_port store out json ttl
    redis_port=$(free_port)
    start_redis "$work/redis" "$redis_port" ||
        { bad "redis did not start"; return; }
    store="redis://127.0.0.1:$redis_port/3"
    start r1 "$store"
    start r2 "$store"
    send "$r1_mport" 3 notlsa.test
    send "$r1_mport" 2 bogus.test
    send "$r1_mport" 1 dane-ok.test
    send "$r2_mport" 2 notlsa.test
    send "$r2_mport" 1 sts-enforce.test
    stop_milter r1
    stop_milter r2
    out=$("$bin" -c "$work/r1.conf" --report --connector partners)
    cat >"$work/expected-redis.txt" <<TXT
readiness report: $first to $today (UTC, 30 days), store $store

connector partners: dane=opportunistic mta_sts=opportunistic test_mode=yes
  seen: 3 domains, 8 recipients
  as configured (opportunistic, test mode): 1 domain, 2 recipients (25.0%) would be deferred or rejected
          2  defer   dnssec-invalid              bogus.test
  if mandatory: 2 domains, 7 recipients (87.5%) would be deferred or rejected
          5  defer   dane-required               notlsa.test
          2  defer   dnssec-invalid              bogus.test
TXT
    if diff -u "$work/expected-redis.txt" <(printf '%s\n' "$out"); then
        ok "redis: two milters' counts add up (partners: 8 recipients, notlsa.test 3+2)"
    else
        bad "redis: the fleet's report differs (diff above)"
    fi
    json=$("$bin" -c "$work/r2.conf" --report --json --connector default)
    python3 -c '
import json, sys
c = json.loads(sys.argv[1])["connectors"][0]
assert (c["name"], c["recipients"], c["mandatory"]["recipients"]) == ("default", 1, 1), c
' "$json" && ok "redis: --json from the other milter's config reads the same store" ||
        bad "redis --json: $json"
    ttl=$(redis-cli -p "$redis_port" -n 3 TTL "dane-sts-milter:v1:counts:$today")
    ((ttl > 31 * 86400 - 120 && ttl <= 31 * 86400)) &&
        ok "redis: the day's hash expires after [report] days + 1 ($ttl s)" || bad "redis TTL: $ttl"
}
run_part redis redis_part

# ---- SQLite: a restart, the report while running and after --------------
db="$work/cache.db"
# Before the daemon ever ran: an empty report, and no file created (it would
# belong to whoever ran --report).
milter_conf "$work/s0.conf" - "${settings[@]}" cache.store="sqlite:$db" <<<"$connectors"
out=$("$bin" -c "$work/s0.conf" --report)
rc=$?
[[ $rc == 0 && $(grep -c '^  seen: 0 domains, 0 recipients$' <<<"$out") == 3 && ! -e $db ]] &&
    ok "--report before any count: exit 0, nothing seen, no file created" ||
    bad "--report without a database: exit $rc, $(ls "$work"), $out"
start s1 "sqlite:$db"
send_all "$s1_mport" \
    "3 notlsa.test" \
    "2 bogus.test" \
    "1 dane-ok.test" \
    "2 insecure.test" \
    "1 dane-unusable.test" \
    "1 dane-ok2.test" \
    "2 sts-enforce.test" \
    "1 sts-nomatch.test" \
    "1 nullmx.test"
# notlsa.test      partners: accepted; mandatory: dane-required
# bogus.test       partners: would defer (dnssec-invalid)
# dane-ok.test     partners: accepted either way
# insecure.test    strict: rejected (dane-required)
# dane-unusable.test  strict: deferred (tlsa-invalid)
# dane-ok2.test    strict: accepted
# sts-enforce.test default: accepted; mandatory: dane-required
# sts-nomatch.test default: deferred (validation-failure)
# nullmx.test      default: rejected (null MX)
stop_milter s1
start s2 "sqlite:$db"
send_all "$s2_mport" "1 notlsa.test" "1 sts-enforce.test"
# The flusher writes every 10 s: the report reads the file under the
# running milter (WAL). Polled every 0.2 s for up to 25 s (two flushes).
for _ in $(seq 1 125); do
    sleep 0.2
    "$bin" -c "$work/s2.conf" --report >"$work/running.txt" 2>"$work/running.err"
    rc=$?
    grep -qx '  seen: 3 domains, 7 recipients' "$work/running.txt" && break
done
[[ $rc == 0 ]] && ok "--report while the milter runs: exit 0" || bad "--report while running: exit $rc"
grep -qx '  seen: 3 domains, 7 recipients' "$work/running.txt" &&
    ok "--report while running sees the restarted milter's counts (partners: 7 recipients)" ||
    bad "--report while running: $(cat "$work/running.txt" "$work/running.err")"
stop_milter s2

cat >"$work/expected.txt" <<TXT
readiness report: $first to $today (UTC, 30 days), store sqlite:$db

connector partners: dane=opportunistic mta_sts=opportunistic test_mode=yes
  seen: 3 domains, 7 recipients
  as configured (opportunistic, test mode): 1 domain, 2 recipients (28.6%) would be deferred or rejected
          2  defer   dnssec-invalid              bogus.test
  if mandatory: 2 domains, 6 recipients (85.7%) would be deferred or rejected
          4  defer   dane-required               notlsa.test
          2  defer   dnssec-invalid              bogus.test

connector strict: dane=mandatory mta_sts=opportunistic
  seen: 3 domains, 4 recipients
  as configured (mandatory): 2 domains, 3 recipients (75.0%) were deferred or rejected
          2  reject  dane-required               insecure.test
          1  defer   tlsa-invalid                dane-unusable.test

connector default: dane=opportunistic mta_sts=opportunistic
  seen: 3 domains, 5 recipients
  as configured (opportunistic): 2 domains, 2 recipients (40.0%) were deferred or rejected
          1  reject  null-mx                     nullmx.test
          1  defer   validation-failure          sts-nomatch.test
  if mandatory: 3 domains, 5 recipients (100.0%) would be deferred or rejected
          3  defer   dane-required               sts-enforce.test
          1  reject  null-mx                     nullmx.test
          1  defer   dane-required               sts-nomatch.test
TXT
"$bin" -c "$work/s2.conf" --report >"$work/report.txt" 2>"$work/report.err"
rc=$?
[[ $rc == 0 ]] && ok "--report: exit 0" || bad "--report: exit $rc ($(cat "$work/report.err"))"
if diff -u "$work/expected.txt" "$work/report.txt"; then
    ok "--report after a restart: every number exact"
else
    bad "--report differs from the traffic sent (diff above)"
fi

"$bin" -c "$work/s2.conf" --report --json >"$work/report.json" 2>"$work/json.err"
rc=$?
[[ $rc == 0 ]] && ok "--report --json: exit 0" || bad "--report --json: exit $rc"
if python3 - "$work/report.json" "$db" "$first" "$today" <<'PY'; then
import json, sys
got = json.load(open(sys.argv[1]))
db, first, today = sys.argv[2:5]
def sc(mode, test, domains, rcpts, deferred, rejected, share, refused):
    return {"dane_mode": mode, "test_mode": test, "domains": domains, "recipients": rcpts,
            "deferred": deferred, "rejected": rejected, "share_percent": share,
            "refused": [{"domain": d, "action": a, "cause": c, "recipients": n}
                        for n, a, c, d in refused]}
want = {"first_day": first, "last_day": today, "days": 30, "store": "sqlite:" + db,
        "connectors": [
    {"name": "partners", "dane_mode": "opportunistic", "sts_mode": "opportunistic",
     "test_mode": True, "domains": 3, "recipients": 7,
     "configured": sc("opportunistic", True, 1, 2, 2, 0, 28.6,
                      [(2, "defer", "dnssec-invalid", "bogus.test")]),
     "mandatory": sc("mandatory", False, 2, 6, 6, 0, 85.7,
                     [(4, "defer", "dane-required", "notlsa.test"),
                      (2, "defer", "dnssec-invalid", "bogus.test")])},
    {"name": "strict", "dane_mode": "mandatory", "sts_mode": "opportunistic",
     "test_mode": False, "domains": 3, "recipients": 4,
     "configured": sc("mandatory", False, 2, 3, 1, 2, 75.0,
                      [(2, "reject", "dane-required", "insecure.test"),
                       (1, "defer", "tlsa-invalid", "dane-unusable.test")]),
     "mandatory": None},
    {"name": "default", "dane_mode": "opportunistic", "sts_mode": "opportunistic",
     "test_mode": False, "domains": 3, "recipients": 5,
     "configured": sc("opportunistic", False, 2, 2, 1, 1, 40.0,
                      [(1, "reject", "null-mx", "nullmx.test"),
                       (1, "defer", "validation-failure", "sts-nomatch.test")]),
     "mandatory": sc("mandatory", False, 3, 5, 4, 1, 100.0,
                     [(3, "defer", "dane-required", "sts-enforce.test"),
                      (1, "reject", "null-mx", "nullmx.test"),
                      (1, "defer", "dane-required", "sts-nomatch.test")])}]}
if got != want:
    print(json.dumps(got, indent=1))
    sys.exit(1)
PY
    ok "--report --json: the same numbers, the documented fields"
else
    bad "--report --json differs (printed above)"
fi

out=$("$bin" -c "$work/s2.conf" --report --connector strict --days 1)
[[ $(grep -c '^connector ' <<<"$out") == 1 && $out == *"readiness report: $today to $today (UTC, 1 day)"* &&
   $out == *"2  reject  dane-required               insecure.test"* ]] &&
    ok "--connector strict --days 1: one connector, today only" || bad "--connector/--days: $out"

"$bin" -c "$work/s2.conf" --report --connector nosuch >/dev/null 2>"$work/err.txt"
rc=$?
[[ $rc == 2 ]] && grep -q 'no connector "nosuch"' "$work/err.txt" &&
    ok "--connector of no connector: exit 2 with a reason" || bad "unknown connector: exit $rc $(cat "$work/err.txt")"
sed 's|^store = .*|store = memory|' "$work/s2.conf" >"$work/memory.conf"
"$bin" -c "$work/memory.conf" --report >/dev/null 2>"$work/err.txt"
rc=$?
[[ $rc == 2 ]] && grep -q 'memory keeps no readiness counts' "$work/err.txt" &&
    ok "store = memory: exit 2 with a reason" || bad "memory store: exit $rc $(cat "$work/err.txt")"

tally_part redis
finish
