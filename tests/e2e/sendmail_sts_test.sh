#!/usr/bin/env bash
# Sendmail 8.17 enforcing MTA-STS at delivery with the milter's policy map
# (SPEC §7, README "5. Attach Sendmail"; TESTBED.md "Sendmail 8.17 without the
# sendmail package"):
#
#   swaks -> Sendmail ${TB_NET}.0.43:2525 (no smart host: MX lookups through the
#            unbound test bed; FEATURE(`sts') and confCACERT exactly as the
#            optional lines of contrib/sendmail/dane-sts-milter.mc, only the
#            port and the CA file changed)
#         -> Ksts socket map "sts DOMAIN" -> dane-sts-milter [policy_map]
#         -> the recipient domain's MX, port 25: STARTTLS listeners started
#            here (tests/testbed/smtp/starttls_server.py, taking mail in TLS)
#
#   (a) sts-enforce.test: policy mx mx.sts-enforce.test; MX ${TB_NET}.21.1 shows
#       a certificate for that name from the test CA: delivered, in TLS.
#   (b) sts-wild.test: policy mx *.sts-wild.test (the map answers
#       match=.sts-wild.test); MX mail.sts-wild.test ${TB_NET}.21.2, test CA:
#       delivered, in TLS.
#   (c) sts-nomatch.test: policy mx other.example.test; MX mx.sts-nomatch.test
#       ${TB_NET}.21.3 shows a valid certificate for its own name: the map answers
#       TEMP, Sendmail defers and never sends the message there.
#   (d) sts-insecure.test: policy mx mx.sts-insecure.test; MX ${TB_NET}.21.22
#       shows a certificate for that name from a CA Sendmail does not trust:
#       the map answers secure, Sendmail's certificate check fails: deferred.
#   (e) notlsa.test under a mandatory connector with on_failure = reject:
#       the map answers TEMP, not PERM (which Sendmail reads as "no policy"):
#       deferred; MX ${TB_NET}.20.5 (valid certificate) never gets it.
#   (f) the map down: Sendmail defers (socket map unreachable = TEMP).
#
# The milter is not attached as a filter here (RCPT would refuse (c)); it
# serves its policy map only, as in postfix_delivery_test.sh.  Sendmail runs
# in a private mount namespace whose /etc/resolv.conf names the unbound test
# bed (tests/testbed/sendmail/start.sh, SENDMAIL_RESOLV_CONF).
#
# Usage: sendmail_sts_test.sh MILTER_BINARY TESTBED_DIR WORK_DIR
# Needs the dns, https and unbound test beds running (ctest fixtures), and
# root.  Everything else is started here, under WORK_DIR (emptied first), and
# stopped on exit by pid.  Exit status: 0 when every check passed, 1 when
# some failed, 2 when the test could not run.
set -euo pipefail

die() { echo "sendmail_sts_test.sh: $*" >&2; exit 2; }
[[ $# -eq 3 && -n $1 && -n $2 && -n $3 ]] ||
    die "usage: $0 MILTER_BINARY TESTBED_DIR WORK_DIR"
[[ $(id -u) -eq 0 ]] || die "needs root (Sendmail's daemon, unshare -m, port 25)"

# This run's test-bed network, 127.N (tests/testbed/net.sh).
# shellcheck source=../testbed/net.sh
. "$(dirname "${BASH_SOURCE[0]}")/../testbed/net.sh"
TB_NET=$(tb_net_of "$2") || exit 2
readonly SM_ADDR=${TB_NET}.0.43 SM_PORT=2525
readonly MX_PORT=25  # Sendmail delivers to port 25 of each MX
readonly ENFORCE_ADDR=${TB_NET}.21.1 ENFORCE_MX=mx.sts-enforce.test
readonly WILD_ADDR=${TB_NET}.21.2 WILD_MX=mail.sts-wild.test
readonly NOMATCH_ADDR=${TB_NET}.21.3 NOMATCH_MX=mx.sts-nomatch.test
readonly UNTRUSTED_ADDR=${TB_NET}.21.22 UNTRUSTED_MX=mx.sts-insecure.test
readonly NOTLSA_ADDR=${TB_NET}.20.5 NOTLSA_MX=mx.notlsa.test
readonly DNS_ADDR=${TB_NET}.10.53
# Bounds for every wait below; all of them poll, none sleeps blindly.
readonly START_TIMEOUT=20 DELIVERY_TIMEOUT=60 STOP_TIMEOUT=20 POLICY_TIMEOUT=30

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
starttls_py=$src/tests/testbed/smtp/starttls_server.py
sm_testbed=$src/tests/testbed/sendmail
snippet=$src/contrib/sendmail/dane-sts-milter.mc
milter_bin=$(realpath -- "$1")
testbed=$(realpath -- "$2")
[[ -x $milter_bin && -f $milter_bin ]] || die "no milter binary at $1"
for f in dns/test.ds https/ca.crt https/ca.key https/untrusted-ca.crt https/untrusted-ca.key \
         unbound/resolv.conf unbound/unbound.pid; do
    [[ -s $testbed/$f ]] || die "no $testbed/$f: are the dns, https and unbound test beds up?"
done
for tool in swaks python3 m4 unshare mount openssl; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
ca=$testbed/https/ca.crt
mkdir -p -- "$3"
work=$(cd -- "$3" && pwd)
[[ $work != / ]] || die "refusing to use / as WORK_DIR"

sm_dir=$work/sendmail
mx_dir=$work/mx  # the MXs' keys, configuration, and the mail they took
milter_conf=$work/milter.conf
milter_log=$work/milter.log
started_at=$SECONDS
tag=$$-$RANDOM  # in every Subject: messages of another run never count

# running, cmdline_has, stop_pid, pid_from: shared with the test beds.
. "$src/tests/testbed/lib.sh"

mailq() { "$sm_testbed/mailq.sh" "$sm_dir" 2>&1 || true; }

dump_logs() {
    local f
    for f in "$sm_dir/sendmail.mc" "$sm_dir/sendmail.out" "$work/sendmail-start.log" \
             "$work/milter.out" "$milter_log" "$work/mx.log" "$work/mx.out"; do
        [[ -s $f ]] || continue
        echo "===== $f (last 100 lines) ====="
        tail -n 100 -- "$f"
    done
    echo "===== Sendmail's queue ====="
    mailq
}

milter_pid=
mx_pid=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    "$sm_testbed/stop.sh" "$sm_dir"
    stop_pid starttls_server.py "$mx_pid"
    stop_pid dane-sts-milter "$milter_pid"
    ((rc == 0)) || dump_logs
    echo "run time: $((SECONDS - started_at)) s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of an earlier run in WORK (killed before its trap could run).
"$sm_testbed/stop.sh" "$sm_dir"
stop_pid starttls_server.py "$(pid_from "$work/mx.pid" "$work")"
stop_pid dane-sts-milter "$(pid_from "$work/milter.pid" "$milter_conf")"
find "$work" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +

accepts() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
for ap in "$SM_ADDR:$SM_PORT" "$ENFORCE_ADDR:$MX_PORT" "$WILD_ADDR:$MX_PORT" \
          "$NOMATCH_ADDR:$MX_PORT" "$UNTRUSTED_ADDR:$MX_PORT" "$NOTLSA_ADDR:$MX_PORT"; do
    ! accepts "${ap%:*}" "${ap#*:}" || die "$ap is already in use"
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
map_port=$(free_port)

wait_accepts() { # WHAT ADDR PORT [PID]
    local i
    for ((i = 0; i < START_TIMEOUT * 20; i++)); do
        accepts "$2" "$3" && return 0
        if [[ -n ${4-} ]] && ! running "$4"; then
            echo "sendmail_sts_test.sh: $1 exited before listening on $2:$3" >&2
            return 1
        fi
        sleep 0.05
    done
    echo "sendmail_sts_test.sh: $1 not listening on $2:$3 after ${START_TIMEOUT} s" >&2
    return 1
}

"$sm_testbed/install.sh" >/dev/null || die "tests/testbed/sendmail/install.sh failed"

# --- 1. the milter, for its policy map (SPEC §7) -----------------------------------------
mkdir -m 0750 "$work/milter-sock"
cat >"$milter_conf" <<EOF
# Written by tests/e2e/sendmail_sts_test.sh
[milter]
socket = unix:$work/milter-sock/milter.sock
log_level = debug
log_target = file:$milter_log

[resolver]
trust_anchor_file = $testbed/dns/test.ds
stub_zones = test.=$DNS_ADDR
timeout_ms = 3000

[sts]
ca_file = $ca
https_port = 8443

[cache]
store = memory

[rcpt]
lookup_timeout_ms = 3000

[policy_map]
listen = inet:127.0.0.1:$map_port

[connector.default]
recipient_domains = *
mode = opportunistic

[connector.partners]
recipient_domains = notlsa.test
mode = mandatory
on_failure = reject
EOF
"$milter_bin" -c "$milter_conf" -n >"$work/milter.out" 2>&1 ||
    die "dane-sts-milter -n rejects $milter_conf: $(cat "$work/milter.out")"
"$milter_bin" -c "$milter_conf" </dev/null >>"$work/milter.out" 2>&1 &
milter_pid=$!
echo "$milter_pid" >"$work/milter.pid"
wait_accepts "dane-sts-milter policy map" 127.0.0.1 "$map_port" "$milter_pid" || exit 2
echo "dane-sts-milter (pid $milter_pid), policy map on 127.0.0.1:$map_port"

# --- 2. the four MXs, port 25 --------------------------------------------------------------
mkdir -p "$mx_dir/mail"
cat >"$mx_dir/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:${ENV::LEAF_NAME}
EOF
leaf() { # NAME CA-BASENAME: a certificate for NAME from https/CA-BASENAME.{crt,key}
    LEAF_NAME=$1 openssl req -x509 -config "$mx_dir/openssl.cnf" -extensions leaf \
        -CA "$testbed/https/$2.crt" -CAkey "$testbed/https/$2.key" -set_serial "$RANDOM" \
        -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
        -keyout "$mx_dir/$1.key" -out "$mx_dir/$1.crt" 2>>"$work/openssl.out" ||
        die "openssl failed: $(cat "$work/openssl.out")"
}
leaf "$ENFORCE_MX" ca
leaf "$WILD_MX" ca
leaf "$NOMATCH_MX" ca
leaf "$UNTRUSTED_MX" untrusted-ca
leaf "$NOTLSA_MX" ca
mx_listener() { # CASE ADDRESS NAME
    printf '    {"case": "%s", "address": "%s", "port": %d, "mode": "starttls", "name": "%s",\n' \
        "$1" "$2" "$MX_PORT" "$3"
    printf '     "chain": "%s", "key": "%s", "mail_dir": "%s"}' \
        "$mx_dir/$3.crt" "$mx_dir/$3.key" "$mx_dir/mail"
}
{
    echo '{"listeners": ['
    mx_listener sts-enforce "$ENFORCE_ADDR" "$ENFORCE_MX"; echo ,
    mx_listener sts-wild "$WILD_ADDR" "$WILD_MX"; echo ,
    mx_listener sts-nomatch "$NOMATCH_ADDR" "$NOMATCH_MX"; echo ,
    mx_listener sts-untrusted "$UNTRUSTED_ADDR" "$UNTRUSTED_MX"; echo ,
    mx_listener notlsa "$NOTLSA_ADDR" "$NOTLSA_MX"; echo
    echo ']}'
} >"$mx_dir/listeners.json"
python3 "$starttls_py" --config "$mx_dir/listeners.json" --pidfile "$work/mx.pid" \
    --log "$work/mx.log" </dev/null >"$work/mx.out" 2>&1 &
mx_pid=$!
for a in "$ENFORCE_ADDR" "$WILD_ADDR" "$NOMATCH_ADDR" "$UNTRUSTED_ADDR" "$NOTLSA_ADDR"; do
    wait_accepts "starttls_server.py" "$a" "$MX_PORT" "$mx_pid" || exit 2
done
echo "starttls_server.py (pid $mx_pid) on port $MX_PORT of $ENFORCE_ADDR $WILD_ADDR $NOMATCH_ADDR $UNTRUSTED_ADDR $NOTLSA_ADDR"

# --- 3. checks ------------------------------------------------------------------------------
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $1"; }
expect() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
contains() { [[ $1 == *"$2"* ]]; }
equals() { [[ $1 == "$2" ]]; }

# One socketmap request, as Sendmail's socket map sends it: the netstring
# "NAME KEY"; prints the reply without its framing.
cat >"$work/socketmap_query.py" <<'EOF'
import socket, sys
port, name, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
req = f"{name} {key}".encode()
with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
    s.sendall(str(len(req)).encode() + b":" + req + b",")
    buf = b""
    while b":" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
    length, _, rest = buf.partition(b":")
    while len(rest) < int(length) + 1:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection closed")
        rest += chunk
    print(rest[: int(length)].decode())
EOF
map_answer() { # NAME DOMAIN
    python3 "$work/socketmap_query.py" "$map_port" "$1" "$2" 2>&1 || true
}
# A cold cache may answer before the lookup ends (SPEC §7: never waits longer
# than lookup_timeout_ms): wait until the map gives the answer this test is
# about; that answer is itself checked.
policy_is() { # NAME DOMAIN WANT
    local i got=
    for ((i = 0; i < POLICY_TIMEOUT * 4; i++)); do
        got=$(map_answer "$1" "$2")
        [[ $got == "$3" ]] && break
        sleep 0.25
    done
    expect "policy map, name $1: $2 -> '$3' (got: '$got')" equals "$got" "$3"
}

echo "checks:"
# Sendmail's queries (map name "sts") get postfix-mta-sts-resolver's forms.
policy_is sts sts-enforce.test "OK secure match=$ENFORCE_MX servername=hostname"
policy_is sts sts-wild.test "OK secure match=.sts-wild.test servername=hostname"
policy_is sts sts-insecure.test "OK secure match=$UNTRUSTED_MX servername=hostname"
got=$(map_answer sts sts-nomatch.test)
for ((i = 0; i < POLICY_TIMEOUT * 4; i++)); do
    [[ $got == TEMP\ * ]] && break
    sleep 0.25
    got=$(map_answer sts sts-nomatch.test)
done
expect "policy map, name sts: sts-nomatch.test -> TEMP 4.7.5 ... (validation-failure) (got: '$got')" \
    bash -c '[[ $1 == "TEMP 4.7.5 sts-nomatch.test: "*"(validation-failure)" ]]' _ "$got"
# A reject (row 9) is TEMP for Sendmail, PERM for Postfix (unchanged).
got=$(map_answer sts notlsa.test)
for ((i = 0; i < POLICY_TIMEOUT * 4; i++)); do
    [[ $got == TEMP\ * ]] && break
    sleep 0.25
    got=$(map_answer sts notlsa.test)
done
expect "policy map, name sts: notlsa.test -> TEMP 5.7.4 ... (dane-required) (got: '$got')" \
    bash -c '[[ $1 == "TEMP 5.7.4 notlsa.test: "*"(dane-required)" ]]' _ "$got"
got=$(map_answer postfix notlsa.test)
expect "policy map, name postfix: notlsa.test -> PERM 5.7.4 ... (got: '$got')" \
    bash -c '[[ $1 == "PERM 5.7.4 notlsa.test: "*"(dane-required)" ]]' _ "$got"
# Postfix's dane-only means nothing to Sendmail; Postfix's answer is unchanged.
policy_is sts dane-ok.test "NOTFOUND "
policy_is postfix dane-ok.test "OK dane-only"

# Sendmail with the lines of the snippet that the README says to enable:
# `dnl ` removed, the map's port and the CA file changed for the test bed.
sed -n 's/^dnl \(define(`confCACERT\(_PATH\)\{0,1\}'"'"'.*\)$/\1/p; s/^dnl \(FEATURE(`sts'"'"'.*\)$/\1/p' \
    "$snippet" >"$work/sts.mc.shipped"
[[ $(grep -c . "$work/sts.mc.shipped") -eq 3 ]] ||
    die "$snippet lacks the three optional lines (confCACERT_PATH, confCACERT, FEATURE(\`sts'))"
mkdir -p "$work/cacerts"
sed -e "s|inet:8461@127\.0\.0\.1|inet:$map_port@127.0.0.1|" \
    -e "s|\`/etc/ssl/certs/ca-certificates\.crt'|\`$ca'|" \
    -e "s|\`/etc/ssl/certs'|\`$work/cacerts'|" "$work/sts.mc.shipped" >"$work/sts.mc"
[[ $(grep -c "inet:$map_port@127.0.0.1" "$work/sts.mc") -eq 1 && $(grep -c "$ca" "$work/sts.mc") -eq 1 ]] ||
    die "cannot adapt the snippet's FEATURE(\`sts') lines: $(cat "$work/sts.mc")"
echo "Sendmail's MTA-STS lines:"
sed 's/^/    /' "$work/sts.mc"

SENDMAIL_RESOLV_CONF=$testbed/unbound/resolv.conf DELIVERY_MODE=background \
    "$sm_testbed/start.sh" "$sm_dir" "$SM_ADDR:$SM_PORT" none none "$work/sts.mc" \
    >"$work/sendmail-start.log" 2>&1 ||
    die "tests/testbed/sendmail/start.sh failed: $(cat "$work/sendmail-start.log")"
sm_pid=$(cat "$sm_dir/sendmail.pid")
echo "Sendmail (pid $sm_pid) on $SM_ADDR:$SM_PORT"
expect "Sendmail resolves through $testbed/unbound/resolv.conf" \
    equals "$(cat "/proc/$sm_pid/root/etc/resolv.conf")" "$(cat "$testbed/unbound/resolv.conf")"
expect "the machine's /etc/resolv.conf is untouched" \
    bash -c '! grep -qF "$(head -n 1 "$1")" /etc/resolv.conf' _ "$testbed/unbound/resolv.conf"

# Submits one message; prints Sendmail's queue id.
submit() { # RCPT SUBJECT
    local out=$work/swaks-${1#*@}-$RANDOM.txt
    swaks --server "$SM_ADDR:$SM_PORT" --helo client.e2e.test --timeout 30 \
        --from sender@example.test --to "$1" --header "Subject: $2" >"$out" 2>&1 </dev/null || true
    sed -n 's/^<- *250 2\.0\.0 \([0-9A-Za-z]*\) Message accepted for delivery.*/\1/p' "$out" | tail -n 1
}
# The MX's copy of the message with SUBJECT, if any.
at_mx() { # SUBJECT
    local f
    for f in "$mx_dir/mail"/*.eml; do
        [[ -f $f ]] && grep -qxF "Subject: $1"$'\r' "$f" && { echo "$f"; return 0; }
    done
    return 1
}
# Polls until the message QID reached an MX (prints "delivered FILE") or
# Sendmail recorded a failed attempt in its queue file (prints "deferred
# STATUS").
outcome() { # QID SUBJECT
    local i f m
    for ((i = 0; i < DELIVERY_TIMEOUT * 10; i++)); do
        if f=$(at_mx "$2"); then
            echo "delivered $f"
            return 0
        fi
        m=$(grep -a '^M' "$sm_dir/queue/qf$1" 2>/dev/null | tail -n 1) || true
        if [[ -n $m ]]; then
            echo "deferred ${m#M}"
            return 0
        fi
        sleep 0.1
    done
    echo "no outcome after ${DELIVERY_TIMEOUT} s"
}

check_delivered() { # CASE DOMAIN LISTENER
    local subject="sendmail-sts $1 $tag" qid result env
    qid=$(submit "user@$2" "$subject")
    expect "$1: Sendmail accepted the message (queue id '$qid')" test -n "$qid"
    [[ -n $qid ]] || return 0
    result=$(outcome "$qid" "$subject")
    expect "$1: delivered to the MX ($result)" contains "$result" "delivered "
    [[ $result == delivered\ * ]] || return 0
    env=${result#delivered }
    env=${env%.eml}.env
    expect "$1: taken by listener $3" grep -qx "LISTENER $3" "$env"
    expect "$1: over TLS ($(grep '^TLS ' "$env" || true))" grep -q '^TLS TLSv1\.[23] ' "$env"
}
check_deferred() { # CASE DOMAIN WANT-IN-STATUS
    local subject="sendmail-sts $1 $tag" qid result
    qid=$(submit "user@$2" "$subject")
    expect "$1: Sendmail accepted the message (queue id '$qid')" test -n "$qid"
    [[ -n $qid ]] || return 0
    result=$(outcome "$qid" "$subject")
    expect "$1: deferred, not delivered ($result)" contains "$result" "deferred "
    expect "$1: the queue says '$3'" contains "$result" "$3"
    expect "$1: no MX got the message" bash -c '! grep -rqxF "Subject: $1"$'"'\r'"' "$2"' \
        _ "$subject" "$mx_dir/mail"
}

# (a), (b): an MX the policy names, with a certificate Sendmail trusts.
check_delivered sts-enforce sts-enforce.test sts-enforce
check_delivered sts-wild sts-wild.test sts-wild
# (c): the map says TEMP: Sendmail's -T<TMPF>, "STS lookup temp fail".
check_deferred sts-nomatch sts-nomatch.test "sts map: lookup (sts-nomatch.test): deferred"
expect "sts-nomatch: Sendmail never sent MAIL to $NOMATCH_MX" \
    bash -c '! grep -q " sts-nomatch .*<<< MAIL" "$1"' _ "$work/mx.log"
# (d): secure, but the MX's certificate does not verify against CACertFile.
check_deferred sts-untrusted sts-insecure.test "403 4.7.0 authentication failed"
expect "sts-untrusted: Sendmail never sent RCPT to $UNTRUSTED_MX" \
    bash -c '! grep -q " sts-untrusted .*<<< RCPT" "$1"' _ "$work/mx.log"

# (e): a mandatory-DANE reject: TEMP, so Sendmail defers (PERM would be read
# as "no policy" and the message would go to the MX).
check_deferred notlsa-reject notlsa.test "sts map: lookup (notlsa.test): deferred"

# (f): the map down (milter stopped): Sendmail defers rather than sending
# without the policy.
stop_pid dane-sts-milter "$milter_pid"
milter_pid=
check_deferred map-down sts-enforce.test "sts map: lookup (sts-enforce.test): deferred"

echo "$passed passed, $failed failed"
((failed == 0)) || exit 1
