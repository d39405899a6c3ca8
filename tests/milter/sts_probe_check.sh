#!/bin/bash
# SPEC §5 for MTA-STS MXs (issue 12 item 1), end to end through the built
# milter with [probe] enabled = yes: the MX of each sts-probe-*.test domain
# (DNS test bed) is a real STARTTLS listener of the SMTP test bed, its policy
# comes from the HTTPS test bed. Each case is checked where an administrator
# meets it: the RCPT reply (tests/support/milter_rcpt.py on the wire), the
# policy map (Postfix's postmap) and `--check` (text and --json).
# ctest: FIXTURES_REQUIRED "dns;https;smtp".
set -uo pipefail
bin=$1 testbed=$2 work=$3 srcdir=$4
rm -rf "$work" && mkdir -p "$work/postfix"
# shellcheck source=../support/check_lib.sh
. "$srcdir/tests/support/check_lib.sh"

for f in https/ca.crt smtp/webpki-ca.crt smtp/cases.txt; do
    [[ -s $testbed/$f ]] || { echo "FAIL: no $testbed/$f (test beds running?)"; exit 1; }
done
grep -q '^sts-probe-partwild ' "$testbed/smtp/cases.txt" ||
    { echo "FAIL: the SMTP test bed predates the sts-probe-* listeners: restart it"; exit 1; }
# [sts] ca_file is the WebPKI trust store of the policy fetch and of the probe
# (RFC 8461 §3.3, §4.2): here both test CAs, as a system bundle holds many.
cat "$testbed/https/ca.crt" "$testbed/smtp/webpki-ca.crt" >"$work/ca.pem"

pmport=$(free_port)
# Our probes come from an address of their own ([probe] bind_address), so the
# listeners' log tells them from other tests' probes (which come from
# 127.0.0.1): no lock against the tests beside this one.
source=${TB_NET}.99.25
milter_conf "$work/milter.conf" - milter.log_level=debug resolver.timeout_ms=3000 \
    sts.ca_file="$work/ca.pem" <<CONF
[probe]
enabled = yes
port = 2525
timeout_ms = 3000
bind_address = $source
[rcpt]
lookup_timeout_ms = 8000
[policy_map]
listen = inet:127.0.0.1:$pmport
CONF
mport=$milter_port
printf 'compatibility_level = 3.6\n' >"$work/postfix/main.cf"

# domain, MX probe outcome (core/probe to_string), sts field, RCPT answer.
cases=(
    "sts-probe-ok.test         verified                   enforce c"
    "sts-probe-wrongname.test  certificate-host-mismatch  fail    450"
    "sts-probe-expired.test    certificate-expired        fail    450"
    "sts-probe-untrusted.test  certificate-not-trusted    fail    450"
    "sts-probe-nostarttls.test starttls-not-supported     fail    450"
    "sts-probe-refused.test    not-answering              enforce c"
    "sts-probe-testing.test    certificate-host-mismatch  testing c"
    # RFC 8461 §4.2: the MX name must be a subjectAltName DNS-ID (RFC 6125
    # §6.4); a certificate with the right CN and no SAN does not name it.
    "sts-probe-nosan.test      certificate-host-mismatch  fail    450"
    # A wildcard stands for the whole left-most label (RFC 6125 §6.4.3)...
    "sts-probe-wildcard.test   verified                   enforce c"
    # ...never for part of one (m*.sts-probe-partwild.test).
    "sts-probe-partwild.test   certificate-host-mismatch  fail    450"
)

# --- --check, text and JSON (no daemon needed) ----------------------------------
# Every run at once, each its own process with its own lookups and probes,
# beside the daemon's start and RCPTs below; checked afterwards, in order.
checks=()
for c in "${cases[@]}"; do
    read -r d _ <<<"$c"
    { rc=0; "$bin" -c "$work/milter.conf" --check "$d" >"$work/check-$d.out" 2>&1 || rc=$?
      echo "$rc" >"$work/check-$d.rc"; } &
    checks+=($!)
    "$bin" -c "$work/milter.conf" --check --json "$d" >"$work/json-$d.out" 2>&1 &
    checks+=($!)
done

# --- the daemon: RCPT and the policy map ------------------------------------------
trap stop_milter EXIT
start_milter "$work/milter.conf" || bad "the milter starts"

rcpts=()
for c in "${cases[@]}"; do read -r d _ <<<"$c"; rcpts+=("user@$d"); done
python3 "$srcdir/tests/support/milter_rcpt.py" "$mport" "${rcpts[@]}" >"$work/rcpt.out" 2>&1

for p in "${checks[@]}"; do wait "$p"; done
# The JSON of every case in one python3: "ok" or what failed to json-DOMAIN.verdict.
python3 - "$work" "${cases[@]}" <<'PY'
import json, sys
work = sys.argv[1]
for case in sys.argv[2:]:
    domain, outcome, sts, _ = case.split()
    try:
        d = json.load(open(f"{work}/json-{domain}.out"))[0]
        p = [x for x in d["probes"] if x["kind"] == "webpki"]
        assert len(p) == 1, d["probes"]
        assert p[0]["host"] == "mx." + d["domain"], p[0]
        assert p[0]["outcome"] == outcome, p[0]
        # RFC 8460 §4.3 result type: none for a verified or silent MX.
        want = "" if outcome in ("verified", "not-answering") else outcome
        assert p[0]["result"] == want, p[0]
        assert d["sts"] == sts, d["sts"]
        verdict = "ok"
    except Exception as e:  # a failed assertion, or no JSON at all
        verdict = f"{type(e).__name__}: {e}"
    with open(f"{work}/json-{domain}.verdict", "w") as f:
        f.write(verdict + "\n")
PY
for c in "${cases[@]}"; do
    read -r d outcome sts answer <<<"$c"
    want_rc=0; [[ $answer == c ]] || want_rc=1
    rc=$(<"$work/check-$d.rc")
    [[ $rc == "$want_rc" ]] && ok "--check $d: exit $rc" || { bad "--check $d: exit $rc, expected $want_rc"; cat "$work/check-$d.out"; }
    grep -qF "probe mx.$d [" "$work/check-$d.out" && grep -qF "(WebPKI): $outcome" "$work/check-$d.out" &&
        ok "--check $d shows the probe: $outcome" || bad "--check $d lacks 'probe mx.$d ... (WebPKI): $outcome'"
    grep -qF "sts=$sts" "$work/check-$d.out" && ok "--check $d: sts=$sts" || bad "--check $d: no sts=$sts"
    if [[ $answer == 450 ]]; then
        grep -qF "defer 450 4.7.5 $d: " "$work/check-$d.out" && grep -qF "(validation-failure)" "$work/check-$d.out" &&
            ok "--check $d: defer 450 4.7.5 (validation-failure)" || bad "--check $d: no row-11 defer"
    fi
    if [[ $(<"$work/json-$d.verdict") == ok ]]
    then ok "--check --json $d: probe $outcome, sts=$sts"
    else bad "--check --json $d: $(<"$work/json-$d.verdict"): $(head -c 600 "$work/json-$d.out")"; fi
done

cat "$work/rcpt.out"
for c in "${cases[@]}"; do
    read -r d outcome sts answer <<<"$c"
    line=$(grep "^user@$d " "$work/rcpt.out")
    got=$(awk '{ print $2 }' <<<"$line")
    if [[ $answer == c ]]; then
        [[ $got == c ]] && ok "RCPT $d accepted" || bad "RCPT $d: '$line'"
    elif [[ $got == 450 && $line == *"(validation-failure)" &&
            $line == "user@$d 450 450 4.7.5 $d: connector \"default\": MTA-STS requires TLS to an MX host named in the policy, but no eligible MX host passed the STARTTLS probe: mx.$d ($outcome): "* ]]; then
        ok "RCPT $d: 450 4.7.5 naming mx.$d ($outcome)"
        # A name check that failed says so (RFC 8461 §4.2): X509 error 62.
        if [[ $outcome == certificate-host-mismatch ]]; then
            [[ $line == *"($outcome): certificate verification failed: hostname mismatch (X509 error 62 at depth 0, CN="* ]] &&
                ok "RCPT $d: hostname mismatch at depth 0" || bad "RCPT $d: no hostname mismatch in '$line'"
        fi
    else
        bad "RCPT $d: '$line'"
    fi
    grep -q "domain=$d .*sts=$sts" "$work/milter.log" && ok "log: $d sts=$sts" ||
        bad "log: no decision line for $d with sts=$sts"
done

# SPEC §7: the map answers from the same cached verdicts (no new probe).
# Every domain at once: postmap sleeps 1 s before it exits on a TEMP answer
# (Postfix's msg_fatal), which the fail cases get.
ours() { local n; n=$(grep -c -F " $source:" "$testbed/smtp/server.log" 2>/dev/null); echo "${n:-0}"; }
before=$(ours)
((before > 0)) && ok "the probes came from [probe] bind_address $source ($before log lines)" ||
    bad "no line of the SMTP listeners' log comes from [probe] bind_address $source"

asked=()
for c in "${cases[@]}"; do
    read -r d _ <<<"$c"
    { rc=0; postmap -c "$work/postfix" -q "$d" "socketmap:inet:127.0.0.1:$pmport:postfix" \
        >"$work/map-$d.out" 2>&1 || rc=$?; echo "$rc" >"$work/map-$d.rc"; } &
    asked+=($!)
done
for p in "${asked[@]}"; do wait "$p"; done
for c in "${cases[@]}"; do
    read -r d outcome sts answer <<<"$c"
    rc=$(<"$work/map-$d.rc") out=$(<"$work/map-$d.out")
    case $sts in
        enforce) [[ $rc == 0 && $out == "secure match=mx.$d servername=hostname" ]] ;;
        # postmap cuts the TEMP text it prints; the start names the cause.
        fail)    [[ $rc == 1 && $out == *"temporary error: 4.7.5 $d: "* &&
                    $out == *"no eligible MX host passed the STARTTLS probe: mx.$d ("* ]] ;;
        testing) [[ $rc == 1 && -z $out ]] ;;
    esac && ok "policy map $d -> rc $rc '$out'" || bad "policy map $d -> rc $rc '$out' (sts=$sts)"
done
after=$(ours)
[[ $before == "$after" ]] && ok "the policy map answered from the cache: no new probe" ||
    bad "the listeners saw $((after - before)) more lines from $source during the policy map queries"

finish
