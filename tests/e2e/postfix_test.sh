#!/usr/bin/env bash
# End-to-end test through a real Postfix (SPEC §10; TESTBED.md "Postfix with
# the milter"):
#
#   swaks -> Postfix smtpd ${TB_NET}.0.30:2525 (smtpd_milters = dane-sts-milter)
#         -> Postfix smtp client -> relayhost [${TB_NET}.0.31]:2526
#         -> tests/testbed/smtp_sink.py, which keeps every message it receives
#
# Usage: postfix_test.sh MILTER_BINARY TESTBED_DIR WORK_DIR
#
# Needs the DNS test bed (tests/testbed/dns/start.sh TESTBED_DIR/dns) to be
# running.  Everything else (milter, sink, a private Postfix instance) is
# started here, under WORK_DIR (emptied first), and stopped on exit by pid;
# the logs are printed when anything fails.  Exit status: 0 when every check
# passed, 1 when some failed, 2 when the test could not run.
set -euo pipefail

# shellcheck source=../support/mta_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/mta_lib.sh"
mta_init postfix "$@"
readonly SMTPD_ADDR=${TB_NET}.0.30 SMTPD_PORT=2525 PLAIN_PORT=2527
readonly SINK_ADDR=${TB_NET}.0.31 SINK_PORT=2526
# The pace check: PACE_MESSAGES messages, one session, PACE_ROUNDS rounds.
readonly PACE_SENDER=pace@example.test PACE_MESSAGES=50 PACE_ROUNDS=3
smtp_server=$SMTPD_ADDR:$SMTPD_PORT
need_testbed dns/test.ds
need_tools postfix postconf swaks python3 script smtp-source
mta_begin "$SMTPD_ADDR:$SMTPD_PORT" "$SMTPD_ADDR:$PLAIN_PORT" "$SINK_ADDR:$SINK_PORT"

# --- 1. the milter --------------------------------------------------------------------
milter_port=$(free_port)
e2e_milter_conf connector.partners.recipient_domains="notlsa.test, dane-ok.test" \
    connector.partners.mode=mandatory connector.partners.tags=partner
milter_diagnose notlsa.test dane-ok.test
milter_launch
wait_accepts dane-sts-milter 127.0.0.1 "$milter_port" "$milter_pid" || exit 2
echo "dane-sts-milter (pid $milter_pid) on inet:$milter_port@127.0.0.1"

# --- 2. the sink (the relayhost) ------------------------------------------------------
start_sink "$SINK_ADDR:$SINK_PORT"

# --- 3. a private Postfix instance ----------------------------------------------------
postfix_dirs
postfix_main_cf e2e.test <<EOF
# The pace check's messages stay in the hold queue (the sink is not timed).
smtpd_sender_restrictions = check_sender_access inline:{$PACE_SENDER=HOLD}
smtpd_milters = inet:127.0.0.1:$milter_port
milter_default_action = tempfail
milter_protocol = 6
# A hung milter fails the test in seconds, not after Postfix's 30 s defaults.
milter_connect_timeout = 10s
milter_command_timeout = 10s
milter_content_timeout = 10s
relayhost = [$SINK_ADDR]:$SINK_PORT
smtp_dns_support_level = disabled
EOF
# smtpd on $SMTPD_ADDR:$SMTPD_PORT with the milter, and on
# $SMTPD_ADDR:$PLAIN_PORT without (the pace check's baseline).
postfix_master_cf "$SMTPD_ADDR:$SMTPD_PORT inet n - n - - smtpd" \
    "$SMTPD_ADDR:$PLAIN_PORT inet n - n - - smtpd -o smtpd_milters="
postfix_start
wait_accepts "Postfix smtpd" "$SMTPD_ADDR" "$SMTPD_PORT" || exit 2
wait_accepts "Postfix smtpd (no milter)" "$SMTPD_ADDR" "$PLAIN_PORT" || exit 2
echo "Postfix (master pid $master_pid) on $SMTPD_ADDR:$SMTPD_PORT"

# --- 4. checks ----------------------------------------------------------------------------
echo "checks:"
# Mandatory connector, signed domain without TLSA: SPEC §4 row 9.
check_refused notlsa notlsa.test "deferred with 450 4.7.4" '^450 4\.7\.4 ' \
    notlsa.test partners '(dane-required)'

check_delivered dane-ok no dane-ok.test connector=partners dane=pass require=dane tags=partner
check_delivered dane-ok-forged yes dane-ok.test connector=partners dane=pass require=dane tags=partner

# MTA-STS (SPEC §4 rows 10-12), policies from the HTTPS test bed.
# Row 11: an enforce policy that no MX matches defers at RCPT.
check_refused sts-nomatch sts-nomatch.test "deferred with 450 4.7.5" '^450 4\.7\.5 ' \
    '(validation-failure)'
# A testing policy is never deferred, whatever its mx patterns.
check_delivered sts-testing no sts-testing.test connector=default sts=testing require=none
# Row 10: an enforce policy with a matching MX.
check_delivered sts-enforce no sts-enforce.test sts=enforce require=sts
# DANE governs where it exists (RFC 8461 §2), even with an enforce policy.
check_delivered sts-dane no sts-dane.test dane=pass sts=enforce require=dane

# SPEC §4: every decision is one log line.
check_decision_lines

# SPEC §9, no delayed-ACK stall behind Postfix on an inet: socket. Postfix
# writes milter packets without TCP_NODELAY: a packet the milter leaves
# unanswered (here the macros of the DATA step it negotiated away) holds
# Postfix's next write until the milter's kernel ACKs it, ~40 ms a message
# unless the milter ACKs at once. Timed against the same Postfix without the
# milter, one session, best of PACE_ROUNDS alternated rounds: a stall costs
# PACE_MESSAGES x 40 ms (2 s); the bound allows 10 ms a message, far above
# what a decision from the cache costs even under the sanitizers, so a busy
# machine slows both sides instead of failing the check.
pace() { # PORT: seconds for PACE_MESSAGES messages of 2 recipients, 1 session
    local t0=$EPOCHREALTIME
    smtp-source -s 1 -m "$PACE_MESSAGES" -r 2 -l 2000 -f "$PACE_SENDER" \
        -t pace@dane-ok.test "$SMTPD_ADDR:$1" </dev/null >>"$work/smtp-source.log" 2>&1 ||
        return 1
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'
}
# smtp-source names the recipients of a message pace@, 2pace@...
pace_decisions() {
    grep -cE 'rcpt=<[0-9]*pace@dane-ok\.test> .* action=accept' "$milter_log" 2>/dev/null || true
}
decisions_before=$(pace_decisions)
best_plain='' best_milter='' pace_ok=yes
for ((round = 1; round <= PACE_ROUNDS; round++)); do
    if ! t_plain=$(pace "$PLAIN_PORT") || ! t_milter=$(pace "$SMTPD_PORT"); then
        pace_ok=no
        break
    fi
    echo "    pace round $round: ${t_plain} s without the milter, ${t_milter} s with it"
    best_plain=$(awk -v a="$t_plain" -v b="${best_plain:-$t_plain}" 'BEGIN { print (a < b ? a : b) }')
    best_milter=$(awk -v a="$t_milter" -v b="${best_milter:-$t_milter}" 'BEGIN { print (a < b ? a : b) }')
done
expect "pace: smtp-source sent every message ($(tail -n 1 "$work/smtp-source.log" 2>/dev/null))" \
    equals "$pace_ok" yes
expect "pace: the milter decided every recipient of the timed messages" \
    equals "$(($(pace_decisions) - decisions_before))" "$((PACE_ROUNDS * PACE_MESSAGES * 2))"
if [[ $pace_ok == yes ]]; then
    extra_ms=$(awk -v a="$best_milter" -v b="$best_plain" -v n="$PACE_MESSAGES" \
        'BEGIN { printf "%.1f", (a - b) * 1000 / n }')
    expect "pace: the milter adds under 10 ms a message over inet (best of $PACE_ROUNDS: ${best_plain} s without, ${best_milter} s with, ${extra_ms} ms a message)" \
        awk -v x="$extra_ms" 'BEGIN { exit !(x < 10) }'
fi

finish
