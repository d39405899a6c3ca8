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

# shellcheck source=../support/mta_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/mta_lib.sh"
mta_init sendmail "$@"
need_root "Sendmail's daemon, unshare -m, port 25"
readonly SM_ADDR=${TB_NET}.0.43 SM_PORT=2525
readonly MX_PORT=25  # Sendmail delivers to port 25 of each MX
readonly ENFORCE_ADDR=${TB_NET}.21.1 ENFORCE_MX=mx.sts-enforce.test
readonly WILD_ADDR=${TB_NET}.21.2 WILD_MX=mail.sts-wild.test
readonly NOMATCH_ADDR=${TB_NET}.21.3 NOMATCH_MX=mx.sts-nomatch.test
readonly UNTRUSTED_ADDR=${TB_NET}.21.22 UNTRUSTED_MX=mx.sts-insecure.test
readonly NOTLSA_ADDR=${TB_NET}.20.5 NOTLSA_MX=mx.notlsa.test
DELIVERY_TIMEOUT=60
smtp_server=$SM_ADDR:$SM_PORT
snippet=$src/contrib/sendmail/dane-sts-milter.mc
need_testbed dns/test.ds https/ca.crt https/ca.key https/untrusted-ca.crt https/untrusted-ca.key \
    unbound/resolv.conf unbound/unbound.pid
need_tools swaks python3 m4 unshare mount openssl
ca=$testbed/https/ca.crt
tag=$$-$RANDOM  # in every Subject: messages of another run never count
mta_begin "$SM_ADDR:$SM_PORT" "$ENFORCE_ADDR:$MX_PORT" "$WILD_ADDR:$MX_PORT" \
    "$NOMATCH_ADDR:$MX_PORT" "$UNTRUSTED_ADDR:$MX_PORT" "$NOTLSA_ADDR:$MX_PORT"
map_port=$(free_port)

"$sm_testbed/install.sh" >/dev/null || die "tests/testbed/sendmail/install.sh failed"

# --- 1. the milter, for its policy map (SPEC §7) -----------------------------------------
mkdir -m 0750 "$work/milter-sock"
e2e_milter_conf milter.socket="unix:$work/milter-sock/milter.sock" \
    policy_map.listen="inet:127.0.0.1:$map_port" \
    connector.partners.recipient_domains=notlsa.test connector.partners.mode=mandatory \
    connector.partners.on_failure=reject
milter_launch
wait_accepts "dane-sts-milter policy map" 127.0.0.1 "$map_port" "$milter_pid" || exit 2
echo "dane-sts-milter (pid $milter_pid), policy map on 127.0.0.1:$map_port"

# --- 2. the five MXs, port 25 --------------------------------------------------------------
mx_prepare
leaf "$ENFORCE_MX" ca
leaf "$WILD_MX" ca
leaf "$NOMATCH_MX" ca
leaf "$UNTRUSTED_MX" untrusted-ca
leaf "$NOTLSA_MX" ca
start_mxs "$MX_PORT" "sts-enforce:$ENFORCE_ADDR:$ENFORCE_MX" "sts-wild:$WILD_ADDR:$WILD_MX" \
    "sts-nomatch:$NOMATCH_ADDR:$NOMATCH_MX" "sts-untrusted:$UNTRUSTED_ADDR:$UNTRUSTED_MX" \
    "notlsa:$NOTLSA_ADDR:$NOTLSA_MX"

# --- 3. checks ------------------------------------------------------------------------------
echo "checks:"
# Sendmail's queries (map name "sts") get postfix-mta-sts-resolver's forms.
policy_is sts sts-enforce.test "OK secure match=$ENFORCE_MX servername=hostname"
policy_is sts sts-wild.test "OK secure match=.sts-wild.test servername=hostname"
policy_is sts sts-insecure.test "OK secure match=$UNTRUSTED_MX servername=hostname"
got=$(poll_answer --prefix "TEMP " sts sts-nomatch.test)
expect "policy map, name sts: sts-nomatch.test -> TEMP 4.7.5 ... (validation-failure) (got: '$got')" \
    starts_ends "$got" "TEMP 4.7.5 sts-nomatch.test: " "(validation-failure)"
# A reject (row 9) is TEMP for Sendmail, PERM for Postfix (unchanged).
got=$(poll_answer --prefix "TEMP " sts notlsa.test)
expect "policy map, name sts: notlsa.test -> TEMP 5.7.4 ... (dane-required) (got: '$got')" \
    starts_ends "$got" "TEMP 5.7.4 notlsa.test: " "(dane-required)"
got=$(map_answer postfix notlsa.test)
expect "policy map, name postfix: notlsa.test -> PERM 5.7.4 ... (got: '$got')" \
    starts_ends "$got" "PERM 5.7.4 notlsa.test: " "(dane-required)"
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

SENDMAIL_RESOLV_CONF=$testbed/unbound/resolv.conf sendmail_start "$SM_ADDR:$SM_PORT" none none "$work/sts.mc"
check_private_resolver Sendmail "$(cat "$sm_dir/sendmail.pid")"

# Polls until the message QID reached an MX (prints "delivered FILE") or
# Sendmail recorded a failed attempt in its queue file (prints "deferred
# STATUS").
outcome() { # QID SUBJECT
    local i f m
    for ((i = 0; i < DELIVERY_TIMEOUT * 10; i++)); do
        if f=$(find_message "$mx_dir/mail" "$2"); then
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

check_at_mx() { # CASE DOMAIN LISTENER
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
    expect "$1: no MX got the message" no_message "$mx_dir/mail" "$subject"
}

# (a), (b): an MX the policy names, with a certificate Sendmail trusts.
check_at_mx sts-enforce sts-enforce.test sts-enforce
check_at_mx sts-wild sts-wild.test sts-wild
# (c): the map says TEMP: Sendmail's -T<TMPF>, "STS lookup temp fail".
check_deferred sts-nomatch sts-nomatch.test "sts map: lookup (sts-nomatch.test): deferred"
expect "sts-nomatch: Sendmail never sent MAIL to $NOMATCH_MX" \
    lacks " sts-nomatch .*<<< MAIL" "$work/mx.log"
# (d): secure, but the MX's certificate does not verify against CACertFile.
check_deferred sts-untrusted sts-insecure.test "403 4.7.0 authentication failed"
expect "sts-untrusted: Sendmail never sent RCPT to $UNTRUSTED_MX" \
    lacks " sts-untrusted .*<<< RCPT" "$work/mx.log"

# (e): a mandatory-DANE reject: TEMP, so Sendmail defers (PERM would be read
# as "no policy" and the message would go to the MX).
check_deferred notlsa-reject notlsa.test "sts map: lookup (notlsa.test): deferred"

# (f): the map down (milter stopped): Sendmail defers rather than sending
# without the policy.
stop_pid dane-sts-milter "$milter_pid"
milter_pid=
check_deferred map-down sts-enforce.test "sts map: lookup (sts-enforce.test): deferred"

finish
