#!/bin/bash
# `dane-sts-milter --check DOMAIN...` against the DNS test bed and, for the
# MTA-STS domains, the HTTPS test bed (SPEC §8). ctest: FIXTURES_REQUIRED "dns;https".
set -uo pipefail
bin=$1 testbed=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=../support/check_lib.sh
. "$(dirname "$0")/../support/check_lib.sh"

# --check needs no [milter] socket; the one written is never opened.
milter_conf "$work/milter.conf" - resolver.timeout_ms=3000 <<CONF
[connector.default]
recipient_domains = *
mode = opportunistic
[connector.partners]
recipient_domains = notlsa.test, dane-ok.test
mode = mandatory
CONF

rc=0; "$bin" -c "$work/milter.conf" --check dane-ok.test >"$work/ok.out" 2>&1 || rc=$?
cat "$work/ok.out"
[ "$rc" = 0 ] && ok "dane-ok.test: exit 0" || bad "dane-ok.test: exit $rc"
for w in "MX dane-ok.test: answer (secure)" "MX host mx.dane-ok.test" "TLSA _25._tcp.mx.dane-ok.test" \
         "3 1 1 " "(usable)" "dane=pass" "connector partners" "require=dane"; do
    grep -qF -- "$w" "$work/ok.out" && ok "dane-ok.test shows '$w'" || bad "dane-ok.test lacks '$w'"
done

rc=0; "$bin" -c "$work/milter.conf" --check notlsa.test bogus.test >"$work/no.out" 2>&1 || rc=$?
cat "$work/no.out"
[ "$rc" = 1 ] && ok "notlsa/bogus: exit 1" || bad "notlsa/bogus: exit $rc"
for w in "450 4.7.4" "(dane-required)" "why bogus" "(dnssec-invalid)"; do
    grep -qF -- "$w" "$work/no.out" && ok "shows '$w'" || bad "lacks '$w'"
done

rc=0; "$bin" -c "$work/milter.conf" --check --json dane-ok.test >"$work/json.out" 2>&1 || rc=$?
if [ "$rc" = 0 ] && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[0]["dane"]=="pass", d' "$work/json.out"; then
    ok "--json parses, dane=pass"
else bad "--json: exit $rc: $(cat "$work/json.out")"; fi

# MTA-STS (RFC 8461): TXT, fetch, policy, MX eligibility; default connector
# (opportunistic, so mta_sts = opportunistic).
rc=0; "$bin" -c "$work/milter.conf" --check sts-enforce.test >"$work/sts.out" 2>&1 || rc=$?
cat "$work/sts.out"
[ "$rc" = 0 ] && ok "sts-enforce.test: exit 0" || bad "sts-enforce.test: exit $rc"
for w in "TXT _mta-sts.sts-enforce.test: answer (secure)" '"v=STSv1; id=20260101;"' \
         "fetch https://mta-sts.sts-enforce.test:8443/.well-known/mta-sts.txt: ok" \
         "address ${TB_NET}.30.1" "status 200" "content type text/plain" \
         "policy id 20260101: mode enforce, max_age 86400" "mx: mx.sts-enforce.test" \
         "MX host mx.sts-enforce.test: eligible" "MTA-STS: enforce" "sts=enforce" \
         "connector default" "require=sts"; do
    grep -qF -- "$w" "$work/sts.out" && ok "sts-enforce.test shows '$w'" || bad "sts-enforce.test lacks '$w'"
done
# The size of the policy: "version: STSv1\nmode: enforce\nmx: mx.sts-enforce.test\nmax_age: 86400\n".
size=$(printf 'version: STSv1\nmode: enforce\nmx: mx.sts-enforce.test\nmax_age: 86400\n' | wc -c)
grep -qE -- "content type text/plain[^,]*, $size octets" "$work/sts.out" &&
    ok "sts-enforce.test shows the policy size ($size octets)" || bad "sts-enforce.test lacks the policy size ($size octets)"

rc=0; "$bin" -c "$work/milter.conf" --check sts-nomatch.test >"$work/nomatch.out" 2>&1 || rc=$?
cat "$work/nomatch.out"
[ "$rc" = 1 ] && ok "sts-nomatch.test: exit 1" || bad "sts-nomatch.test: exit $rc"
for w in "mx: other.example.test" "MX host mx.sts-nomatch.test: not eligible" "MTA-STS: fail" \
         "sts=fail" "450 4.7.5" "(validation-failure)"; do
    grep -qF -- "$w" "$work/nomatch.out" && ok "sts-nomatch.test shows '$w'" || bad "sts-nomatch.test lacks '$w'"
done

finish
