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

# shellcheck source=../support/mta_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/mta_lib.sh"
mta_init postfix "$@"
need_root "unshare -m, mount --bind, a Postfix instance"
readonly SMTPD_ADDR=${TB_NET}.0.32 SMTPD_PORT=2525
readonly MX_PORT=25                     # Postfix's default; TLSA at _25._tcp
readonly DANE_MX_ADDR=${TB_NET}.20.1 DANE_MX=mx.dane-ok.test
readonly BAD_MX_ADDR=${TB_NET}.20.12 BAD_MX=mx.partner.test
readonly STS_MX_ADDR=${TB_NET}.21.1 STS_MX=mx.sts-enforce.test
DELIVERY_TIMEOUT=60
smtp_server=$SMTPD_ADDR:$SMTPD_PORT smtp_helo=client.delivery.test smtp_from=sender@delivery.test
MAP_CLIENT=postmap  # the policy map's answers as Postfix's own client gets them
need_testbed dns/test.ds "dns/certs/$DANE_MX.crt" "dns/certs/$DANE_MX.key" https/ca.crt \
    https/ca.key unbound/resolv.conf unbound/unbound.pid
need_tools postfix postconf postmap swaks python3 script unshare mount openssl
ca=$testbed/https/ca.crt
tag=$$-$RANDOM  # in every Subject: messages of another run never count
mta_begin "$SMTPD_ADDR:$SMTPD_PORT" "$DANE_MX_ADDR:$MX_PORT" "$BAD_MX_ADDR:$MX_PORT" \
    "$STS_MX_ADDR:$MX_PORT"
map_port=$(free_port)
milter_port=$(free_port)
[[ $milter_port != "$map_port" ]] || milter_port=$(free_port)

# --- 1. the milter, for its policy map (SPEC §7) -----------------------------------------
# No probe: the milter says what DNS and the policy say (dane-only for both
# DANE domains); finding the certificate mismatch is Postfix's job here.
e2e_milter_conf policy_map.listen="inet:127.0.0.1:$map_port"
milter_launch
wait_accepts "dane-sts-milter policy map" 127.0.0.1 "$map_port" "$milter_pid" || exit 2
echo "dane-sts-milter (pid $milter_pid), policy map on 127.0.0.1:$map_port"

# --- 2. the three MXs, port 25 --------------------------------------------------------------
mx_prepare
# (a) the key behind dane-ok.test's TLSA 3 1 1.
cp "$testbed/dns/certs/$DANE_MX.crt" "$testbed/dns/certs/$DANE_MX.key" "$mx_dir/"
# (b) self-signed, a key no TLSA record names; (c) a WebPKI certificate for
# the MX name from the HTTPS test bed's CA, which is Postfix's smtp_tls_CAfile.
leaf "$BAD_MX"
leaf "$STS_MX" ca
start_mxs "$MX_PORT" "dane-match:$DANE_MX_ADDR:$DANE_MX" "dane-mismatch:$BAD_MX_ADDR:$BAD_MX" \
    "sts-enforce:$STS_MX_ADDR:$STS_MX"

# --- 3. a private Postfix instance in its own mount namespace -------------------------------
postfix_dirs
postfix_main_cf delivery.test <<EOF
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
# smtpd only on $SMTPD_ADDR:$SMTPD_PORT; tlsmgr for the smtp client's TLS.
postfix_master_cf "$SMTPD_ADDR:$SMTPD_PORT inet n - n - - smtpd" \
    "tlsmgr    unix  -       -       n       1000?   1       tlsmgr"

# --- 4. checks ------------------------------------------------------------------------------
# Postfix asks the map once per delivery, and a cold cache may answer before
# the lookup ends: first wait until the map gives the answer this test is
# about (policy_is); that answer is itself checked (the policy_map test
# covers the cold path).
echo "checks:"
policy_is postfix dane-ok.test dane-only
policy_is postfix partner.test dane-only
policy_is postfix sts-enforce.test "secure match=$STS_MX servername=hostname"

primed_lines=$(wc -l <"$milter_log")
RESOLV_CONF=$testbed/unbound/resolv.conf postfix_start
wait_accepts "Postfix smtpd" "$SMTPD_ADDR" "$SMTPD_PORT" || exit 2
echo "Postfix (master pid $master_pid) on $SMTPD_ADDR:$SMTPD_PORT"
# The master must see the test resolver and the rest of the machine must not.
check_private_resolver "Postfix master" "$master_pid"

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

declare -A qid subject
for d in dane-ok.test partner.test sts-enforce.test; do
    subject[$d]="delivery $d $tag"
    qid[$d]=$(submit "user@$d" "${subject[$d]}")
    expect "$d: Postfix queued the message (queue id '${qid[$d]}')" \
        test -n "${qid[$d]}"
done

# DOMAIN's message went to MX (ADDRESS) in verified TLS, to its LISTENER.
check_sent() { # DOMAIN MX ADDRESS LISTENER
    local d=$1 mx=$2 addr=$3 file status
    if [[ -n ${qid[$d]} ]] && file=$(wait_for_message "$mx_dir/mail" "${subject[$d]}" "${qid[$d]}"); then
        ok "$d: delivered to $mx ($(basename "$file"))"
        expect "$d: the MX took it inside TLS" grep -q '^TLS TLSv1' "${file%.eml}.env"
        expect "$d: ... on the $4 listener" grep -qx "LISTENER $4" "${file%.eml}.env"
    else
        bad "$d: delivered to $mx within ${DELIVERY_TIMEOUT} s"
    fi
    status=$(wait_for_status "${qid[$d]:-none}" || true)
    expect "$d: maillog says status=sent via ${mx}[$addr]:$MX_PORT" \
        contains "$status" "relay=${mx}[$addr]:$MX_PORT, "
    expect "$d: ... status=sent" contains "$status" " status=sent "
    expect "$d: maillog says Verified TLS connection to $mx" \
        grep -qF "Verified TLS connection established to ${mx}[$addr]:$MX_PORT" "$maillog"
    maillog_for "${qid[$d]:-none}"
}

# (a) DANE, certificate matches the TLSA record.
check_sent dane-ok.test "$DANE_MX" "$DANE_MX_ADDR" dane-match

# (b) DANE, certificate does not match: deferred, never delivered.
d=partner.test
status=$(wait_for_status "${qid[$d]:-none}" || true)
expect "$d: maillog says status=deferred" contains "$status" " status=deferred "
expect "$d: ... because the certificate did not verify" \
    contains "$status" "Server certificate not verified"
expect "$d: maillog says Untrusted TLS connection to mx.$d" \
    grep -qF "Untrusted TLS connection established to ${BAD_MX}[$BAD_MX_ADDR]:$MX_PORT" "$maillog"
expect "$d: never delivered" no_message "$mx_dir/mail" "${subject[$d]}"
maillog_for "${qid[$d]:-none}"

# (c) MTA-STS enforce: delivered under `secure` to the policy's MX.
check_sent sts-enforce.test "$STS_MX" "$STS_MX_ADDR" sts-enforce

# Postfix itself asked the map for each domain (after the priming above).
for d in dane-ok.test partner.test sts-enforce.test; do
    asked=$(tail -n +"$((primed_lines + 1))" "$milter_log" | grep -c " policy_map name=postfix key=$d " || true)
    expect "milter log: the policy map answered Postfix about $d ($asked times)" \
        test "$asked" -ge 1
done

finish
