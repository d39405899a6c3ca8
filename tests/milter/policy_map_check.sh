#!/bin/bash
# SPEC §7 through Postfix's own socketmap client (postmap), against the built
# milter with [policy_map] on, the DNS and HTTPS test beds.
set -uo pipefail
bin=$1 testbed=$2 work=$3
rm -rf "$work" && mkdir -p "$work/postfix"
passed=0 failed=0
ok()  { echo "ok: $1"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1"; failed=$((failed + 1)); }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/milter.conf" <<CONF
[milter]
socket = inet:$mport@127.0.0.1
log_level = debug
log_target = file:$work/milter.log
[resolver]
trust_anchor_file = $testbed/dns/test.ds
stub_zones = test.=127.0.10.53
timeout_ms = 3000
[sts]
ca_file = $testbed/https/ca.crt
https_port = 8443
[cache]
store = memory
[rcpt]
lookup_timeout_ms = 3000
[policy_map]
listen = inet:127.0.0.1:$port
[connector.default]
recipient_domains = *
mode = opportunistic
[connector.partners]
recipient_domains = notlsa.test
mode = mandatory
[connector.off]
recipient_domains = insecure.test
mode = none
CONF
# postmap reads a main.cf; a private, empty one keeps the machine's out of it.
printf 'compatibility_level = 3.6\n' >"$work/postfix/main.cf"

"$bin" -c "$work/milter.conf" >"$work/stderr.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

query() {  # KEY -> "rc|answer"
    local out rc=0
    out=$(postmap -c "$work/postfix" -q "$1" "socketmap:inet:127.0.0.1:$port:postfix" 2>&1) || rc=$?
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
kill -0 "$pid" && ok "milter still running" || bad "milter died"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
