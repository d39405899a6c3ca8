#!/usr/bin/env bash
# End-to-end delivery through a real Postfix whose TLS policy comes from the
# milter's policy map (SPEC §5, §7; TESTBED.md "Postfix delivering with DANE"):
#
#   swaks -> Postfix smtpd ${TB_NET}.0.32:2525 -> Postfix smtp client
#         (smtp_dns_support_level = dnssec, resolver: the unbound test bed,
#          smtp_tls_policy_maps = socketmap -> dane-sts-milter [policy_map])
#         -> the recipient domain's MX, port 25: STARTTLS listeners started
#            here (tests/testbed/smtp/starttls_server.py, taking mail in TLS)
#
#   (a) dane-ok.test: MX ${TB_NET}.20.1 presents the key of its TLSA 3 1 1 (the
#       DNS test bed's certs/): delivered, "Verified TLS connection".
#   (b) partner.test: MX ${TB_NET}.20.12 presents a key made here, not the one
#       its TLSA 3 1 1 names: not delivered, deferred, "Untrusted TLS".
#   (c) sts-enforce.test: enforce policy "mx: mx.sts-enforce.test"; MX
#       ${TB_NET}.21.1 presents a certificate for that name from the HTTPS test
#       bed's CA (smtp_tls_CAfile): delivered under `secure`, "Verified".
#
# Port 25, not the smtp test bed's 2525: Postfix looks TLSA records up at
# _PORT._tcp.HOST for the port it connects to (RFC 6698 §3), and the zones
# publish _25._tcp only.  Nothing else listens on port 25 of these addresses
# (the smtp test bed uses 2525); the test runs alone (RUN_SERIAL), so no
# other test sees these MXs answer.
#
# The Postfix smtp client resolves through /etc/resolv.conf and trusts the AD
# bit, so the whole instance runs inside `unshare -m --propagation private`
# with the unbound test bed's resolv.conf bound over /etc/resolv.conf: the
# machine's own files stay untouched.  Postfix's default security level stays
# `may`, so only the policy map's answers can make (a) verified and (b) fail.
#
# Usage: postfix_delivery_test.sh MILTER_BINARY TESTBED_DIR WORK_DIR
# Needs the dns, https, smtp and unbound test beds running (ctest fixtures).
# Everything else is started here, under WORK_DIR (emptied first), and
# stopped on exit by pid.  Exit status: 0 when every check passed, 1 when
# some failed, 2 when the test could not run.
set -euo pipefail

die() { echo "postfix_delivery_test.sh: $*" >&2; exit 2; }
[[ $# -eq 3 && -n $1 && -n $2 && -n $3 ]] ||
    die "usage: $0 MILTER_BINARY TESTBED_DIR WORK_DIR"
[[ $(id -u) -eq 0 ]] || die "needs root (unshare -m, mount --bind, a Postfix instance)"

# This run's test-bed network, 127.N (tests/testbed/net.sh).
# shellcheck source=../testbed/net.sh
. "$(dirname "${BASH_SOURCE[0]}")/../testbed/net.sh"
TB_NET=$(tb_net_of "$2") || exit 2
readonly SMTPD_ADDR=${TB_NET}.0.32 SMTPD_PORT=2525
readonly MX_PORT=25                     # Postfix's default; TLSA at _25._tcp
readonly DANE_MX_ADDR=${TB_NET}.20.1 DANE_MX=mx.dane-ok.test
readonly BAD_MX_ADDR=${TB_NET}.20.12 BAD_MX=mx.partner.test
readonly STS_MX_ADDR=${TB_NET}.21.1 STS_MX=mx.sts-enforce.test
readonly DNS_ADDR=${TB_NET}.10.53
# Bounds for every wait below; all of them poll, none sleeps blindly.
readonly START_TIMEOUT=20 DELIVERY_TIMEOUT=60 STOP_TIMEOUT=20 POLICY_TIMEOUT=30

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
starttls_py=$here/../testbed/smtp/starttls_server.py
milter_bin=$(realpath -- "$1")
testbed=$(realpath -- "$2")
[[ -x $milter_bin && -f $milter_bin ]] || die "no milter binary at $1"
for f in dns/test.ds "dns/certs/$DANE_MX.crt" "dns/certs/$DANE_MX.key" https/ca.crt \
         https/ca.key unbound/resolv.conf unbound/unbound.pid; do
    [[ -s $testbed/$f ]] || die "no $testbed/$f: are the dns, https and unbound test beds up?"
done
for tool in postfix postconf postmap swaks python3 script unshare mount openssl; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
ca=$testbed/https/ca.crt
mkdir -p -- "$3"
work=$(cd -- "$3" && pwd)
[[ $work != / ]] || die "refusing to use / as WORK_DIR"

pf=$work/postfix
pfconf=$pf/conf
pfqueue=$pf/queue
pfdata=$pf/data
maillog=$pf/maillog
mx_dir=$work/mx  # the MXs' keys, configuration, and the mail they took
milter_conf=$work/milter.conf
milter_log=$work/milter.log
started_at=$SECONDS
tag=$$-$RANDOM  # in every Subject: messages of another run never count

# --- processes: started by us, stopped by pid ---------------------------------------
# running, cmdline_has, stop_pid, pid_from: shared with the test beds.
. "$(dirname "${BASH_SOURCE[0]}")/../testbed/lib.sh"

# postfix with its diagnostics visible: with no syslog, check and start say
# why they fail only on a terminal (TESTBED.md).
postfix_cmd() { # postfix arguments...
    local cmd
    cmd=$(printf '%q ' postfix -c "$pfconf" "$@")
    SHELL=/bin/bash script -qec "$cmd" /dev/null </dev/null >>"$work/postfix-cmd.log" 2>&1
}
# The same inside a private mount namespace whose /etc/resolv.conf names the
# unbound test bed.  The master and every daemon it spawns stay in that
# namespace; it disappears with them.  The bind mount is private to it.
postfix_cmd_in_ns() { # postfix arguments...
    local cmd
    cmd=$(printf '%q ' postfix -c "$pfconf" "$@")
    unshare -m --propagation private sh -c \
        'mount --bind "$1" /etc/resolv.conf && shift && SHELL=/bin/bash exec script -qec "$*" /dev/null' \
        sh "$testbed/unbound/resolv.conf" "$cmd" </dev/null >>"$work/postfix-cmd.log" 2>&1
}
stop_postfix() {
    local pid i
    pid=$(pid_from "$pfqueue/pid/master.pid" master)
    [[ -n $pid ]] || return 0
    postfix_cmd stop || true
    for ((i = 0; i < STOP_TIMEOUT * 20; i++)); do
        running "$pid" || return 0
        sleep 0.05
    done
    echo "postfix_delivery_test.sh: Postfix master (pid $pid) did not stop; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

dump_logs() {
    local f
    for f in "$work/postfix-cmd.log" "$maillog" "$work/milter.out" "$milter_log" \
             "$work/mx.log" "$work/mx.out"; do
        [[ -s $f ]] || continue
        echo "===== $f (last 100 lines) ====="
        tail -n 100 -- "$f"
    done
}

milter_pid=
mx_pid=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_postfix
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
[[ ! -d $pfconf ]] || stop_postfix
stop_pid starttls_server.py "$(pid_from "$work/mx.pid" "$work")"
stop_pid dane-sts-milter "$(pid_from "$work/milter.pid" "$milter_conf")"
find "$work" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +

accepts() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
for ap in "$SMTPD_ADDR:$SMTPD_PORT" "$DANE_MX_ADDR:$MX_PORT" "$BAD_MX_ADDR:$MX_PORT" \
          "$STS_MX_ADDR:$MX_PORT"; do
    ! accepts "${ap%:*}" "${ap#*:}" || die "$ap is already in use"
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
milter_port=$(free_port)
map_port=$(free_port)
[[ $milter_port != "$map_port" ]] || map_port=$(free_port)

wait_accepts() { # WHAT ADDR PORT [PID]
    local i
    for ((i = 0; i < START_TIMEOUT * 20; i++)); do
        accepts "$2" "$3" && return 0
        if [[ -n ${4-} ]] && ! running "$4"; then
            echo "postfix_delivery_test.sh: $1 exited before listening on $2:$3" >&2
            return 1
        fi
        sleep 0.05
    done
    echo "postfix_delivery_test.sh: $1 not listening on $2:$3 after ${START_TIMEOUT} s" >&2
    return 1
}

# --- 1. the milter, for its policy map (SPEC §7) -----------------------------------------
# No probe: the milter says what DNS and the policy say (dane-only for both
# DANE domains); finding the certificate mismatch is Postfix's job here.
cat >"$milter_conf" <<EOF
# Written by tests/e2e/postfix_delivery_test.sh
[milter]
socket = inet:$milter_port@127.0.0.1
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
EOF
"$milter_bin" -c "$milter_conf" -n >"$work/milter.out" 2>&1 ||
    die "dane-sts-milter -n rejects $milter_conf: $(cat "$work/milter.out")"
"$milter_bin" -c "$milter_conf" </dev/null >>"$work/milter.out" 2>&1 &
milter_pid=$!
echo "$milter_pid" >"$work/milter.pid"
wait_accepts "dane-sts-milter policy map" 127.0.0.1 "$map_port" "$milter_pid" || exit 2
echo "dane-sts-milter (pid $milter_pid), policy map on 127.0.0.1:$map_port"

# --- 2. the three MXs, port 25 --------------------------------------------------------------
mkdir -p "$mx_dir/mail"
# (a) the key behind dane-ok.test's TLSA 3 1 1.
cp "$testbed/dns/certs/$DANE_MX.crt" "$testbed/dns/certs/$DANE_MX.key" "$mx_dir/"
# (b) and (c): our own openssl config (the system's would add CA:TRUE to a
# -x509 certificate).  (b) is self-signed, a key no TLSA record names; (c) a
# WebPKI certificate for the MX name from the HTTPS test bed's CA, which is
# Postfix's smtp_tls_CAfile.
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
leaf() { # NAME [openssl req arguments...]
    local name=$1
    shift
    LEAF_NAME=$name openssl req -x509 -config "$mx_dir/openssl.cnf" -extensions leaf "$@" \
        -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$name" \
        -keyout "$mx_dir/$name.key" -out "$mx_dir/$name.crt" 2>>"$work/openssl.out" ||
        die "openssl failed: $(cat "$work/openssl.out")"
}
leaf "$BAD_MX"
leaf "$STS_MX" -CA "$ca" -CAkey "$testbed/https/ca.key" -set_serial "$RANDOM"
mx_listener() { # CASE ADDRESS NAME
    printf '    {"case": "%s", "address": "%s", "port": %d, "mode": "starttls", "name": "%s",\n' \
        "$1" "$2" "$MX_PORT" "$3"
    printf '     "chain": "%s", "key": "%s", "mail_dir": "%s"}' \
        "$mx_dir/$3.crt" "$mx_dir/$3.key" "$mx_dir/mail"
}
{
    echo '{"listeners": ['
    mx_listener dane-match "$DANE_MX_ADDR" "$DANE_MX"; echo ,
    mx_listener dane-mismatch "$BAD_MX_ADDR" "$BAD_MX"; echo ,
    mx_listener sts-enforce "$STS_MX_ADDR" "$STS_MX"; echo
    echo ']}'
} >"$mx_dir/listeners.json"
python3 "$starttls_py" --config "$mx_dir/listeners.json" --pidfile "$work/mx.pid" \
    --log "$work/mx.log" </dev/null >"$work/mx.out" 2>&1 &
mx_pid=$!
for a in "$DANE_MX_ADDR" "$BAD_MX_ADDR" "$STS_MX_ADDR"; do
    wait_accepts "starttls_server.py" "$a" "$MX_PORT" "$mx_pid" || exit 2
done
echo "starttls_server.py (pid $mx_pid) as $DANE_MX, $BAD_MX, $STS_MX on port $MX_PORT"

# --- 3. a private Postfix instance in its own mount namespace -------------------------------
mkdir -p "$pfconf" "$pfqueue" "$pfdata"
chown postfix: "$pfdata"
chmod 755 "$work" "$pf" "$pfconf" "$pfqueue"
dir=$work
while [[ $dir != / ]]; do
    [[ $(stat -c %A "$dir") == ?????????[xt] ]] ||
        die "$dir is not searchable by the postfix user; use another WORK_DIR"
    dir=$(dirname "$dir")
done

cat >"$pfconf/main.cf" <<EOF
# Written by tests/e2e/postfix_delivery_test.sh: a private instance for one run.
compatibility_level = 3.6
queue_directory = $pfqueue
data_directory = $pfdata
maillog_file = $maillog
maillog_file_prefixes = $pf
myhostname = mta.delivery.test
mydomain = delivery.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
# Straight to each domain's MX, found in the DNS, on port 25.
default_transport = smtp
# DNSSEC: MX, address and TLSA answers count only with the AD bit of the
# validating resolver named in the namespace's resolv.conf (RFC 7672 §2.1).
smtp_dns_support_level = dnssec
# Left at may: only the policy map's answers raise it.
smtp_tls_security_level = may
smtp_tls_policy_maps = socketmap:inet:127.0.0.1:$map_port:postfix
smtp_tls_CAfile = $ca
smtp_tls_loglevel = 1
smtp_connect_timeout = 10s
# One try is enough to see a deferral; no retries while the test runs.
queue_run_delay = 300s
minimal_backoff_time = 300s
maximal_backoff_time = 600s
EOF

# chroot (5th column) off everywhere; smtpd only on $SMTPD_ADDR:$SMTPD_PORT.
cat >"$pfconf/master.cf" <<EOF
# Written by tests/e2e/postfix_delivery_test.sh
# service type  private unpriv  chroot  wakeup  maxproc command
$SMTPD_ADDR:$SMTPD_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

# --- 4. checks ------------------------------------------------------------------------------
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

# The policy map's answer for DOMAIN, as Postfix's own socketmap client gets it.
printf 'compatibility_level = 3.6\n' >"$work/postmap.cf"
mkdir -p "$work/postmap" && mv "$work/postmap.cf" "$work/postmap/main.cf"
map_answer() { # DOMAIN
    postmap -c "$work/postmap" -q "$1" "socketmap:inet:127.0.0.1:$map_port:postfix" 2>&1 || true
}
# Postfix asks the map once per delivery, and a cold cache may answer before
# the lookup ends (SPEC §7: never waits longer than lookup_timeout_ms).  So
# first wait until the map gives the answer this test is about; that answer
# is itself checked (the policy_map test covers the cold path).
policy_is() { # DOMAIN WANT
    local i got=
    for ((i = 0; i < POLICY_TIMEOUT * 4; i++)); do
        got=$(map_answer "$1")
        [[ $got == "$2" ]] && break
        sleep 0.25
    done
    expect "policy map: $1 -> '$2' (got: '$got')" equals "$got" "$2"
}
echo "checks:"
policy_is dane-ok.test dane-only
policy_is partner.test dane-only
policy_is sts-enforce.test "secure match=$STS_MX servername=hostname"

primed_lines=$(wc -l <"$milter_log")
postfix_cmd check || die "postfix check failed: $(cat "$work/postfix-cmd.log")"
postfix_cmd_in_ns start || die "postfix start failed: $(cat "$work/postfix-cmd.log")"
wait_accepts "Postfix smtpd" "$SMTPD_ADDR" "$SMTPD_PORT" || exit 2
master_pid=$(pid_from "$pfqueue/pid/master.pid" master)
[[ -n $master_pid ]] || die "no Postfix master pid"
echo "Postfix (master pid $master_pid) on $SMTPD_ADDR:$SMTPD_PORT"
# The master must see the test resolver and the rest of the machine must not.
expect "Postfix master resolves through $testbed/unbound/resolv.conf" \
    equals "$(cat "/proc/$master_pid/root/etc/resolv.conf")" "$(cat "$testbed/unbound/resolv.conf")"
expect "the machine's /etc/resolv.conf is untouched" \
    bash -c '! grep -qF "$(head -n 1 "$1")" /etc/resolv.conf' _ "$testbed/unbound/resolv.conf"

# Submits one message; prints its Postfix queue id.
submit() { # RCPT SUBJECT
    local out=$work/swaks-${1#*@}.txt
    swaks --server "$SMTPD_ADDR:$SMTPD_PORT" --helo client.delivery.test --timeout 30 \
        --from sender@delivery.test --to "$1" --header "Subject: $2" >"$out" 2>&1 </dev/null || true
    sed -n 's/^<- *250 .*queued as \([0-9A-Za-z]*\).*/\1/p' "$out" | tail -n 1
}
# Polls DIR for the message with SUBJECT; prints its file.  Gives up early
# once Postfix logs that it deferred or bounced QID.
wait_for_message() { # DIR SUBJECT QID
    local i f
    for ((i = 0; i < DELIVERY_TIMEOUT * 5; i++)); do
        for f in "$1"/*.eml; do
            [[ -f $f ]] && grep -qxF "Subject: $2"$'\r' "$f" && { echo "$f"; return 0; }
        done
        grep -qE " $3: .* status=(deferred|bounced)" "$maillog" 2>/dev/null && return 1
        sleep 0.2
    done
    return 1
}
# Polls the maillog until QID has a delivery status; prints that line.
wait_for_status() { # QID
    local i line
    for ((i = 0; i < DELIVERY_TIMEOUT * 5; i++)); do
        line=$(grep -E " $1: to=<.* status=" "$maillog" 2>/dev/null | tail -n 1 || true)
        [[ -n $line ]] && { echo "$line"; return 0; }
        sleep 0.2
    done
    return 1
}
maillog_for() { # QID: every line of that delivery, for the report
    grep -F " $1: " "$maillog" 2>/dev/null | sed 's/^/      /' || true
}

declare -A qid subject
for d in dane-ok.test partner.test sts-enforce.test; do
    subject[$d]="delivery $d $tag"
    qid[$d]=$(submit "user@$d" "${subject[$d]}")
    expect "$d: Postfix queued the message (queue id '${qid[$d]}')" \
        test -n "${qid[$d]}"
done

# (a) DANE, certificate matches the TLSA record.
d=dane-ok.test
if [[ -n ${qid[$d]} ]] && file=$(wait_for_message "$mx_dir/mail" "${subject[$d]}" "${qid[$d]}"); then
    ok "$d: delivered to mx.$d ($(basename "$file"))"
    expect "$d: the MX took it inside TLS" grep -q '^TLS TLSv1' "${file%.eml}.env"
    expect "$d: ... on the dane-match listener" grep -qx 'LISTENER dane-match' "${file%.eml}.env"
else
    not_ok "$d: delivered to mx.$d within ${DELIVERY_TIMEOUT} s"
fi
status=$(wait_for_status "${qid[$d]:-none}" || true)
expect "$d: maillog says status=sent via ${DANE_MX}[$DANE_MX_ADDR]:$MX_PORT" \
    contains "$status" "relay=${DANE_MX}[$DANE_MX_ADDR]:$MX_PORT, "
expect "$d: ... status=sent" contains "$status" " status=sent "
expect "$d: maillog says Verified TLS connection to mx.$d" \
    grep -qF "Verified TLS connection established to ${DANE_MX}[$DANE_MX_ADDR]:$MX_PORT" "$maillog"
maillog_for "${qid[$d]:-none}"

# (b) DANE, certificate does not match: deferred, never delivered.
d=partner.test
status=$(wait_for_status "${qid[$d]:-none}" || true)
expect "$d: maillog says status=deferred" contains "$status" " status=deferred "
expect "$d: ... because the certificate did not verify" \
    contains "$status" "Server certificate not verified"
expect "$d: maillog says Untrusted TLS connection to mx.$d" \
    grep -qF "Untrusted TLS connection established to ${BAD_MX}[$BAD_MX_ADDR]:$MX_PORT" "$maillog"
expect "$d: never delivered" \
    bash -c '! grep -lxF "Subject: $1"$'"'\r'"' "$2"/*.eml 2>/dev/null' _ "${subject[$d]}" "$mx_dir/mail"
maillog_for "${qid[$d]:-none}"

# (c) MTA-STS enforce: delivered under `secure` to the policy's MX.
d=sts-enforce.test
if [[ -n ${qid[$d]} ]] && file=$(wait_for_message "$mx_dir/mail" "${subject[$d]}" "${qid[$d]}"); then
    ok "$d: delivered to $STS_MX ($(basename "$file"))"
    expect "$d: the MX took it inside TLS" grep -q '^TLS TLSv1' "${file%.eml}.env"
    expect "$d: ... on the sts-enforce listener" grep -qx 'LISTENER sts-enforce' "${file%.eml}.env"
else
    not_ok "$d: delivered to $STS_MX within ${DELIVERY_TIMEOUT} s"
fi
status=$(wait_for_status "${qid[$d]:-none}" || true)
expect "$d: maillog says status=sent via ${STS_MX}[$STS_MX_ADDR]:$MX_PORT" \
    contains "$status" "relay=${STS_MX}[$STS_MX_ADDR]:$MX_PORT, "
expect "$d: ... status=sent" contains "$status" " status=sent "
expect "$d: maillog says Verified TLS connection to $STS_MX" \
    grep -qF "Verified TLS connection established to ${STS_MX}[$STS_MX_ADDR]:$MX_PORT" "$maillog"
maillog_for "${qid[$d]:-none}"

# Postfix itself asked the map for each domain (after the priming above).
for d in dane-ok.test partner.test sts-enforce.test; do
    asked=$(tail -n +"$((primed_lines + 1))" "$milter_log" | grep -c " policy_map name=postfix key=$d " || true)
    expect "milter log: the policy map answered Postfix about $d ($asked times)" \
        test "$asked" -ge 1
done

echo "$passed passed, $failed failed"
((failed == 0)) || exit 1
