#!/bin/bash
# `dane-sts-milter --check DOMAIN...` against the DNS test bed (SPEC §8).
set -uo pipefail
bin=$1 testbed=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
passed=0 failed=0
ok()  { echo "ok: $1"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1"; failed=$((failed + 1)); }

cat >"$work/milter.conf" <<CONF
[resolver]
trust_anchor_file = $testbed/dns/test.ds
stub_zones = test.=127.0.10.53
timeout_ms = 3000
[cache]
store = memory
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

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
