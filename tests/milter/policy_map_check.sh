#!/bin/bash
# SPEC §7 through Postfix's own socketmap client (postmap), against the built
# milter with [policy_map] on, the DNS and HTTPS test beds.
set -uo pipefail
bin=$1 testbed=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=../support/check_lib.sh
. "$(dirname "$0")/../support/check_lib.sh"

port=$(free_port)
milter_conf "$work/milter.conf" milter.log_level=debug resolver.timeout_ms=3000 \
    rcpt.lookup_timeout_ms=3000 policy_map.listen="inet:127.0.0.1:$port" \
    connector.partners.recipient_domains=notlsa.test connector.partners.mode=mandatory \
    connector.off.recipient_domains=insecure.test connector.off.mode=none

trap stop_milter EXIT
start_milter "$work/milter.conf" || bad "the milter starts"

query() {  # KEY -> "rc|answer"
    local out rc=0
    out=$(map_query "$port" "$1") || rc=$?
    echo "$rc|$out"
}
expect() {  # KEY RC ANSWER-SUBSTRING
    local got
    got=$(query "$1")
    if [[ ${got%%|*} == "$2" && ${got#*|} == *"$3"* ]]; then ok "$1 -> $got"
    else bad "$1: expected rc $2 and '$3', got '$got'"; fi
}

expect dane-ok.test 0 "dane-only"                          # require=dane
expect sts-enforce.test 0 "secure match=mx.sts-enforce.test servername=hostname"
expect sts-wild.test 0 "secure match=.sts-wild.test servername=hostname"
expect dane-unusable.test 0 "encrypt"                      # require=encrypt
expect insecure.test 0 "may"                               # dane none, mta_sts none
expect sts-testing.test 1 ""                               # NOTFOUND: nothing to enforce
expect notlsa.test 1 "temporary"                           # a defer: TEMP
expect bogus.test 1 "temporary"                            # dnssec-invalid defer: TEMP
# Postfix asks for parent domains after a NOTFOUND: never PERM (it would defer).
expect .sts-testing.test 1 ""
expect "[127.0.0.1]:25" 1 ""
# A key that is no domain name is a bad request (SPEC §7): PERM.
expect "bad..name.test" 1 "permanent error: invalid domain name: empty label"
grep -q "dnssec-invalid" "$work/milter.log" && ok "TEMP text logged with its result type" ||
    bad "no dnssec-invalid in the policy map log"

# Malformed and oversized requests over a raw connection.
reply=$(python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"7:postfix,")             # no key
print(s.recv(4096).decode(errors="replace"))
big = b"postfix " + b"a" * 100000
s.sendall(str(len(big)).encode() + b":" + big + b",")
try:
    data = s.recv(4096)
    print("closed" if data == b"" else "answered:" + data.decode(errors="replace"))
except ConnectionResetError:
    print("closed")
PY
)
[[ $reply == *PERM* ]] && ok "malformed request -> PERM" || bad "malformed: $reply"
[[ $reply == *closed* ]] && ok "oversized request closes the connection" || bad "oversized: $reply"
kill -0 "$milter_pid" && ok "milter still running" || bad "milter died"
finish
