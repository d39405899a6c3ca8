#!/bin/bash
# SPEC §8 "[metrics] listen" against the built milter on the DNS and HTTPS
# test beds: GET /metrics answers Prometheus text (checked by Prometheus's own
# Python parser), other paths 404, other methods 405; and the counters move by
# exactly what the milter did: RCPT decisions driven over the milter protocol
# (tests/support/milter_rcpt.py speaks it on the wire), policy map answers
# driven with Postfix's postmap, cache hits and misses of both, DNS lookups, the
# HTTPS policy fetch and the STARTTLS probe (SMTP test bed) by kind and outcome.
set -uo pipefail
bin=$1 testbed=$2 work=$3 srcdir=$4
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=../support/check_lib.sh
. "$srcdir/tests/support/check_lib.sh"

pmport=$(free_port) metport=$(free_port)
milter_conf "$work/milter.conf" milter.log_level=debug resolver.timeout_ms=3000 probe.enabled=yes \
    probe.port=2525 probe.timeout_ms=3000 rcpt.lookup_timeout_ms=5000 \
    policy_map.listen="inet:127.0.0.1:$pmport" metrics.listen="127.0.0.1:$metport" \
    connector.partners.recipient_domains=notlsa.test connector.partners.mode=mandatory
mport=$milter_port

trap stop_milter EXIT
start_milter "$work/milter.conf" || bad "the milter starts"
pid=$milter_pid
url="http://127.0.0.1:$metport/metrics"

n=0
scrape() {  # -> $work/scrape.N, its name in $last
    n=$((n + 1)); last="$work/scrape.$n"
    curl -sS --max-time 10 -o "$last" "$url" || bad "scrape $n failed"
}
value() {  # FILE SERIES -> its value, 0 when absent (a labeled series not yet seen)
    awk -v s="$2" 'index($0, s " ") == 1 { v = substr($0, length(s) + 2) } END { print v == "" ? 0 : v }' "$1"
}
expect_delta() {  # SERIES DELTA WHAT: between the two last scrapes
    local before after
    before=$(value "$prev" "$1") after=$(value "$last" "$1")
    if [[ $((after - before)) == "$2" ]]; then ok "$3: $1 +$2"
    else bad "$3: $1 moved by $((after - before)) ($before -> $after), expected +$2"; fi
}
expect_grew() {  # SERIES WHAT
    local before after
    before=$(value "$prev" "$1") after=$(value "$last" "$1")
    if ((after > before)); then ok "$2: $1 $before -> $after"
    else bad "$2: $1 did not grow ($before -> $after)"; fi
}
postmap_q() { map_query "$pmport" "$1"; }

# One milter session: MAIL FROM, RCPT TO each recipient; prints one reply
# code a recipient ('c' continue, 't' tempfail, 'r' reject, or the SMTP code
# of a 'y' reply).
rcpt() { python3 "$srcdir/tests/support/milter_rcpt.py" "$mport" "$@" | awk '{ print $2 }'; }

scrape; first=$last
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{content_type}' "$url")
[[ $code == "200 text/plain; version=0.0.4"* ]] && ok "GET /metrics -> $code" || bad "GET /metrics -> $code"
grep -qx "dane_sts_milter_build_info{version=\"$("$bin" --version | awk '{print $2}')\"} 1" "$first" &&
    ok "build_info names the running version" || bad "no build_info line for this version"
grep -qx '# TYPE dane_sts_milter_decisions_total counter' "$first" && ok "decisions declared" ||
    bad "no TYPE line for decisions"

# A bogus domain through the policy map: a TEMP answer and a cache miss.
prev=$last; out=$(postmap_q bogus.test); scrape
[[ $out == *temporary* ]] && ok "bogus.test -> TEMP" || bad "bogus.test answered '$out'"
expect_delta 'dane_sts_milter_policy_map_requests_total{answer="TEMP"}' 1 "policy map"
expect_delta 'dane_sts_milter_cache_misses_total' 1 "first lookup of bogus.test"
expect_delta 'dane_sts_milter_cache_hits_total' 0 "first lookup of bogus.test"
expect_grew 'dane_sts_milter_lookups_total{kind="tlsa",outcome="bogus"}' "bogus TLSA lookup"
expect_grew 'dane_sts_milter_lookup_duration_seconds_count{kind="mx"}' "MX latency observed"

# The same domain at RCPT: a defer with dnssec-invalid, from the cache.
prev=$last; got=$(rcpt user@bogus.test); scrape
[[ $got == 4* || $got == t ]] && ok "RCPT bogus.test deferred ($got)" || bad "RCPT bogus.test: '$got'"
expect_delta 'dane_sts_milter_decisions_total{action="defer",connector="default",result="dnssec-invalid"}' 1 "RCPT bogus.test"
expect_delta 'dane_sts_milter_cache_hits_total' 1 "RCPT bogus.test (cached)"
expect_delta 'dane_sts_milter_cache_misses_total' 0 "RCPT bogus.test (cached)"

# A DANE domain twice in one transaction and a mandatory connector's defer.
prev=$last; got=$(rcpt a@dane-ok.test b@dane-ok.test c@notlsa.test | tr '\n' ' '); scrape
[[ $got == "c c 4"* ]] && ok "RCPTs answered: $got" || bad "RCPTs answered '$got'"
expect_delta 'dane_sts_milter_decisions_total{action="accept",connector="default",result="none"}' 2 "two RCPTs to dane-ok.test"
expect_delta 'dane_sts_milter_cache_misses_total' 2 "dane-ok.test and notlsa.test looked up"
expect_delta 'dane_sts_milter_cache_hits_total' 1 "dane-ok.test's second RCPT"
expect_delta 'dane_sts_milter_decisions_total{action="defer",connector="partners",result="dane-required"}' 1 "RCPT notlsa.test"
expect_grew 'dane_sts_milter_lookups_total{kind="tlsa",outcome="secure"}' "TLSA of dane-ok.test"
expect_grew 'dane_sts_milter_lookups_total{kind="probe",outcome="ok"}' "STARTTLS probe of mx.dane-ok.test"

# Policy map answers by their first word; a parent-domain query is NOTFOUND
# without touching the cache.
prev=$last; a=$(postmap_q dane-ok.test); b=$(postmap_q .dane-ok.test); scrape
[[ $a == *dane-only* ]] && ok "dane-ok.test -> $a" || bad "dane-ok.test answered '$a'"
[[ -z $b ]] && ok ".dane-ok.test -> NOTFOUND" || bad ".dane-ok.test answered '$b'"
expect_delta 'dane_sts_milter_policy_map_requests_total{answer="OK"}' 1 "policy map"
expect_delta 'dane_sts_milter_policy_map_requests_total{answer="NOTFOUND"}' 1 "policy map"
expect_delta 'dane_sts_milter_cache_hits_total' 1 "policy map from the cache"
expect_delta 'dane_sts_milter_decisions_total{action="accept",connector="default",result="none"}' 0 "policy map is no RCPT decision"

# SPEC §3: "u@" has an empty domain (550 5.1.3, never local), <postmaster>
# has none (accepted, no verdict); neither matches a connector, both counted.
prev=$last
out=$(python3 "$srcdir/tests/support/milter_rcpt.py" "$mport" u@ postmaster); scrape
line=$(grep '^u@ ' <<<"$out")
[[ $line == "u@ 550 550 5.1.3 "* ]] && ok "RCPT <u@> -> 550 5.1.3" || bad "RCPT <u@> answered '$line'"
[[ $(grep '^postmaster ' <<<"$out") == "postmaster c" ]] && ok "RCPT <postmaster> accepted" ||
    bad "RCPT <postmaster>: $(grep '^postmaster ' <<<"$out")"
expect_delta 'dane_sts_milter_unmatched_recipients_total{kind="invalid"}' 1 "RCPT <u@>"
expect_delta 'dane_sts_milter_unmatched_recipients_total{kind="local"}' 1 "RCPT <postmaster>"
expect_delta 'dane_sts_milter_cache_misses_total' 0 "neither is looked up"

# SPEC §7: bad requests get PERM: a key that is no domain name (answered by
# the milter) and a request without "name key" (by the protocol layer); a
# broken netstring closes the connection unanswered. Raw netstrings: postmap
# only reports PERM as a lookup error.
sockmap() {  # REQUEST... -> one reply a line, "closed" when the server hung up
    python3 - "$pmport" "$@" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
for req in sys.argv[2:]:
    raw = req.encode()
    s.sendall(raw[4:] if req.startswith("raw:") else b"%d:%s," % (len(raw), raw))
    digits = b""
    while (c := f.read(1)) != b":":
        if not c:
            print("closed")
            sys.exit(0)
        digits += c
    print(f.read(int(digits)).decode())
    f.read(1)  # the ','
PY
}
prev=$last; out=$(sockmap 'postfix bad..name.example' 'postfixnokey' 'raw:12x:junk,'); scrape
mapfile -t answers <<<"$out"
[[ ${answers[0]} == "PERM invalid domain name: "* ]] && ok "bad..name.example -> ${answers[0]}" ||
    bad "bad..name.example answered '${answers[0]}'"
[[ ${answers[1]} == "PERM "* ]] && ok "a request without key -> ${answers[1]}" ||
    bad "a request without key answered '${answers[1]-}'"
[[ ${answers[2]-} == closed ]] && ok "a broken netstring closes the connection" ||
    bad "a broken netstring got '${answers[2]-}'"
expect_delta 'dane_sts_milter_policy_map_requests_total{answer="PERM"}' 1 "invalid key"
expect_delta 'dane_sts_milter_policy_map_malformed_total{kind="request"}' 1 "request without key"
expect_delta 'dane_sts_milter_policy_map_malformed_total{kind="framing"}' 1 "broken netstring"
expect_delta 'dane_sts_milter_cache_misses_total' 0 "bad requests are never looked up"

# An MTA-STS domain: the TXT lookup and the HTTPS fetch are counted.
prev=$last; a=$(postmap_q sts-enforce.test); scrape
[[ $a == *secure* ]] && ok "sts-enforce.test -> $a" || bad "sts-enforce.test answered '$a'"
expect_delta 'dane_sts_milter_lookups_total{kind="sts_fetch",outcome="ok"}' 1 "policy fetched"
expect_grew 'dane_sts_milter_lookups_total{kind="sts_txt",outcome="secure"}' "_mta-sts TXT"
expect_grew 'dane_sts_milter_lookup_duration_seconds_count{kind="sts_fetch"}' "fetch latency observed"
# A failed fetch (RFC 8461 §3.3: worth an administrator's attention; row S16
# of tests/CONFORMANCE.md) is counted as such: sts-404.test's policy is a 404.
prev=$last; a=$(postmap_q sts-404.test); scrape
expect_delta 'dane_sts_milter_lookups_total{kind="sts_fetch",outcome="fail"}' 1 "failed policy fetch"
expect_delta 'dane_sts_milter_lookups_total{kind="sts_fetch",outcome="ok"}' 0 "no fetch counted ok"

# Scraping changes nothing it reports.
prev=$last; scrape
expect_delta 'dane_sts_milter_cache_hits_total' 0 "scrape only"
expect_delta 'dane_sts_milter_cache_misses_total' 0 "scrape only"
[[ $(value "$last" dane_sts_milter_cache_entries) -ge 4 ]] && ok "cache_entries counts the verdicts" ||
    bad "cache_entries = $(value "$last" dane_sts_milter_cache_entries)"
grep -q '^dane_sts_milter_store_errors_total{store="memory"} 0$' "$last" && ok "store errors by store" ||
    bad "no store_errors_total{store=\"memory\"}"

code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$metport/other")
[[ $code == 404 ]] && ok "GET /other -> 404" || bad "GET /other -> $code"
hdrs=$(curl -s --max-time 10 -D - -o /dev/null -X POST "$url" | tr -d '\r')
[[ $hdrs == "HTTP/1.1 405"* ]] && ok "POST /metrics -> 405" || bad "POST /metrics -> ${hdrs%%$'\n'*}"
grep -qix 'Allow: GET' <<<"$hdrs" && ok "405 says Allow: GET" || bad "no Allow: GET in: $hdrs"

# Prometheus's own parser (prometheus_client) reads every family; each
# histogram's _count equals its +Inf bucket and buckets never decrease.
# (promtool is in Debian's 96 MB prometheus package: not used.) Debian's
# python3, where python3-prometheus-client is installed.
check=$(/usr/bin/python3 - "$last" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
fams = {f.name: f for f in text_string_to_metric_families(text)}
errors = []
for f in fams.values():
    if not f.name.startswith("dane_sts_milter_"):
        errors.append("outside the namespace: " + f.name)
    if f.type == "histogram":
        series = {}
        for s in f.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            series.setdefault(key, {"b": [], "count": None})
            if s.name.endswith("_bucket"):
                series[key]["b"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[key]["count"] = s.value
        for key, v in series.items():
            b = sorted(v["b"])
            if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)) or b[-1][0] != float("inf") \
                    or b[-1][1] != v["count"]:
                errors.append("histogram %s %s inconsistent" % (f.name, key))
need = ["dane_sts_milter_decisions", "dane_sts_milter_cache_hits", "dane_sts_milter_cache_misses",
        "dane_sts_milter_cache_stale_served", "dane_sts_milter_cache_evictions",
        "dane_sts_milter_cache_entries", "dane_sts_milter_lookups",
        "dane_sts_milter_lookup_duration_seconds", "dane_sts_milter_prefetch_queue_depth",
        "dane_sts_milter_prefetch_refreshes", "dane_sts_milter_store_errors",
        "dane_sts_milter_policy_map_requests", "dane_sts_milter_build_info"]
errors += ["missing " + n for n in need if n not in fams]
print("; ".join(errors) if errors else "parsed %d families" % len(fams))
PY
)
[[ $check == parsed* ]] && ok "prometheus_client: $check" || bad "exposition: $check"

# The Grafana dashboard queries only series the milter exports.
dashboard=$srcdir/contrib/grafana/dane-sts-milter.json
missing=""
for name in $(grep -o 'dane_sts_milter_[a-z_]*' "$dashboard" | sort -u); do
    grep -q "^${name}[{ ]" "$last" || missing+=" $name"
done
[[ -z $missing ]] && ok "every metric of the Grafana dashboard is exported" ||
    bad "the dashboard queries metrics the milter does not export:$missing"

# SIGHUP with another [metrics] listen: the socket was bound before the
# privilege drop, so the change waits for a restart and says so; the bound
# port keeps serving.
newport=$(free_port)
sed -i "s/^listen = 127.0.0.1:$metport\$/listen = 127.0.0.1:$newport/" "$work/milter.conf"
kill -HUP "$pid"
for _ in $(seq 1 100); do grep -q "reloaded config=" "$work/milter.log" && break; sleep 0.1; done
grep -q "reload: \[policy_map\] and \[metrics\] listen changes take effect after a restart" \
    "$work/milter.log" && ok "reload warns that a new [metrics] listen needs a restart" ||
    bad "no restart warning for a changed [metrics] listen"
curl -sf --max-time 10 -o /dev/null "$url" && ok "the bound metrics port still serves after reload" ||
    bad "metrics port gone after reload"

kill -0 "$pid" && ok "milter still running" || bad "milter died"
stop_milter
rc=$?
[[ $rc == 0 ]] && ok "SIGTERM: exit status 0" || bad "SIGTERM: exit status $rc"
# The sanitizer build (DSM_SANITIZE) reports on stderr.
grep -E "Sanitizer|runtime error:" "$work/milter.stderr" && bad "sanitizer report" || ok "no sanitizer report"
(exec 3<>"/dev/tcp/127.0.0.1/$metport") 2>/dev/null && bad "metrics port still open after stop" ||
    ok "metrics port closed on shutdown"
finish
