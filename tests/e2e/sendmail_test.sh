#!/usr/bin/env bash
# End-to-end test through a real Sendmail 8.17 (SPEC §10; TESTBED.md
# "Sendmail 8.17 without the sendmail package"):
#
#   swaks -> Sendmail ${TB_NET}.0.40:2525 (INPUT_MAIL_FILTER: dane-sts-milter, run
#            as nobody as systemd runs it as dane-sts-milter, on
#            a unix socket, the line of contrib/sendmail/dane-sts-milter.mc
#            with only S= changed to this run's socket)
#         -> SMART_HOST [${TB_NET}.0.41]:2526
#         -> tests/testbed/smtp_sink.py, which keeps every message it receives
#
# Sendmail comes from tests/testbed/sendmail (install.sh extracts Debian's
# sendmail-bin without installing it; start.sh/stop.sh run a private daemon).
#
# Usage: sendmail_test.sh MILTER_BINARY TESTBED_DIR WORK_DIR
#
# Needs the DNS and HTTPS test beds (tests/testbed/dns/start.sh
# TESTBED_DIR/dns, tests/testbed/https/start.sh ...) to be running, and root.
# Everything else (milter, sink, Sendmail) is started here, under WORK_DIR
# (emptied first), and stopped on exit by pid; the logs are printed when
# anything fails.  Exit status: 0 when every check passed, 1 when some failed,
# 2 when the test could not run.
set -euo pipefail

# shellcheck source=../support/mta_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/mta_lib.sh"
mta_init sendmail "$@"
need_root "Sendmail's daemon, unshare"
readonly SM_ADDR=${TB_NET}.0.40 SM_PORT=2525
readonly SINK_ADDR=${TB_NET}.0.41 SINK_PORT=2526
smtp_server=$SM_ADDR:$SM_PORT smtp_timeout=60
FORGED_HEADER="DOMAIN; forged=yes"
snippet=$src/contrib/sendmail/dane-sts-milter.mc
need_testbed dns/test.ds https/ca.crt
need_tools swaks python3 m4 unshare
# The milter's unix socket, in a directory like the shipped one (0750).
# Sendmail refuses a milter socket below a world-writable directory ("unsafe:
# World writable directory"), and WORK may lie below /tmp (a checkout there):
# the socket directory lives in /run, whose ancestors only root may write.
sock_dir=/run/dsm-e2e-sendmail-${TB_NET}  # one per test-bed network
sock=$sock_dir/milter.sock
cleanup_paths+=("$sock_dir")
mta_begin "$SM_ADDR:$SM_PORT" "$SINK_ADDR:$SINK_PORT"

"$sm_testbed/install.sh" >/dev/null || die "tests/testbed/sendmail/install.sh failed"

# --- 1. the milter --------------------------------------------------------------------
# PARTNERS_ON_FAILURE: [connector.partners] on_failure (the SIGHUP check
# changes it).
write_milter_conf() { # PARTNERS_ON_FAILURE
    e2e_milter_conf milter.socket="unix:$sock" milter.umask=117 \
        connector.partners.recipient_domains="notlsa.test, dane-ok.test" \
        connector.partners.mode=mandatory connector.partners.tags=partner \
        connector.partners.on_failure="$1"
}
write_milter_conf defer
# As shipped (systemd runs it as dane-sts-milter): the milter runs as an
# unprivileged user (here nobody), which owns the socket directory (0750) and
# the socket (umask 117: 0660); Sendmail (root) must take them as safe.
rm -rf -- "$sock_dir"
mkdir -m 0750 "$sock_dir"
chown nobody: "$sock_dir"
: >"$milter_log"
chown nobody: "$milter_log"
milter_as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

milter_diagnose notlsa.test dane-ok.test nullmx.test
milter_launch
wait_for "dane-sts-milter's socket $sock" "$milter_pid" test -S "$sock" || exit 2
[[ $(stat -c %U:%a "$sock") == nobody:660 ]] ||
    die "the socket is $(stat -c %U:%a "$sock"), not nobody:660 as the shipped one would be"
echo "dane-sts-milter (pid $milter_pid, user nobody) on unix:$sock"

# --- 2. the sink (the smart host) ------------------------------------------------------
start_sink "$SINK_ADDR:$SINK_PORT"

# --- 3. Sendmail, with the documented snippet -----------------------------------------
# The line of contrib/sendmail/dane-sts-milter.mc exactly as shipped, except
# the socket (the shipped one lives in /var/spool/postfix).
grep -c '^INPUT_MAIL_FILTER(`dane-sts-milter'"'"', `S=[^,]*, F=T, ' "$snippet" >/dev/null ||
    die "$snippet has no INPUT_MAIL_FILTER(\`dane-sts-milter', \`S=..., F=T, ...) line"
sed -n 's|^\(INPUT_MAIL_FILTER(`dane-sts-milter'"'"', `S=\)[^,]*\(, .*\)$|\1unix:'"$sock"'\2|p' \
    "$snippet" >"$work/milter.mc"
[[ $(grep -c . "$work/milter.mc") -eq 1 ]] || die "cannot take the filter line from $snippet"
echo "Sendmail's filter: $(cat "$work/milter.mc")"

sendmail_start "$SM_ADDR:$SM_PORT" none "$SINK_ADDR:$SINK_PORT" "$work/milter.mc"
grep -qxF "O InputMailFilters=dane-sts-milter" "$sm_dir/sendmail.cf" ||
    die "sendmail.cf does not enable the filter"

# --- 4. checks ----------------------------------------------------------------------------
# The milter's reply for user@DOMAIN as `--check` states it for CONNECTOR
# (SPEC §8), in the form Sendmail passes it on to the client: "CODE X.Y.Z
# TEXT", with "<user@DOMAIN>... " before TEXT for the codes after which
# Sendmail names the address (450, 550, 553: fmtmsg() in its err.c).
expected_reply() { # DOMAIN CONNECTOR
    local line
    line=$("$milter_bin" -c "$milter_conf" --check "$1" </dev/null 2>/dev/null |
        sed -n "s/^  connector $2 ([^)]*): \(defer\|reject\) \([245][0-9][0-9] [245]\.[0-9.]* .*\)/\2/p" |
        head -n 1) || true
    case $line in
        450\ * | 550\ * | 553\ *) echo "${line%% *} $(cut -d' ' -f2 <<<"$line") <user@$1>... $(cut -d' ' -f3- <<<"$line")" ;;
        *) echo "$line" ;;
    esac
}

# check_refused (mta_lib.sh), and the reply is exactly the milter's own for
# CONNECTOR.
check_milter_refused() { # TAG DOMAIN CONNECTOR WHAT REGEX WORD...
    local tag=$1 domain=$2 connector=$3 expected
    shift 3
    expected=$(expected_reply "$domain" "$connector")
    check_refused "$tag" "$domain" "$@"
    expect "$tag: the reply is the milter's own (--check: $expected)" \
        equals "$reply" "$expected"
}

echo "checks:"
# Mandatory connector, signed domain without TLSA: SPEC §4 row 9, defer.
check_milter_refused notlsa notlsa.test partners "deferred with 450 4.7.4" '^450 4\.7\.4 ' \
    notlsa.test partners '(dane-required)'
# Null MX (RFC 7505): SPEC §4 row 2, reject.
check_milter_refused nullmx nullmx.test default "rejected with 556 5.1.10" '^556 5\.1\.10 ' \
    nullmx.test

check_delivered dane-ok no dane-ok.test connector=partners dane=pass require=dane tags=partner
check_delivered dane-ok-forged yes dane-ok.test connector=partners dane=pass require=dane tags=partner

# MTA-STS (SPEC §4 rows 10-12), policies from the HTTPS test bed.
# Row 11: an enforce policy that no MX matches defers at RCPT.
check_milter_refused sts-nomatch sts-nomatch.test default "deferred with 450 4.7.5" \
    '^450 4\.7\.5 ' sts-nomatch.test '(validation-failure)'
# A testing policy is never deferred, whatever its mx patterns.
check_delivered sts-testing no sts-testing.test connector=default sts=testing require=none
# Row 10: an enforce policy with a matching MX.
check_delivered sts-enforce no sts-enforce.test sts=enforce require=sts
# DANE governs where it exists (RFC 8461 §2), even with an enforce policy.
check_delivered sts-dane no sts-dane.test dane=pass sts=enforce require=dane

# SPEC §4: every decision is one log line.
check_decision_lines

# SIGHUP (SPEC §8): reload with partners' on_failure changed to reject; the
# next transaction through the same Sendmail gets 550 5.7.4 (row 9).
reloads=$(grep -c 'reloaded config=' "$milter_log" || true)
write_milter_conf reject
kill -HUP "$milter_pid"
reloaded=no
for ((i = 0; i < START_TIMEOUT * 20; i++)); do
    if (($(grep -c 'reloaded config=' "$milter_log" || true) > reloads)); then
        reloaded=yes
        break
    fi
    running "$milter_pid" || break
    sleep 0.05
done
expect "SIGHUP: the milter logged the reload" equals "$reloaded" yes
expect "SIGHUP: the milter still runs" running "$milter_pid"
check_milter_refused notlsa-reject notlsa.test partners "rejected with 550 5.7.4" '^550 5\.7\.4 ' \
    notlsa.test partners '(dane-required)'

# SIGTERM (SPEC §8) with Sendmail connected: a transaction under way (RCPT
# accepted, DATA not yet sent) when the signal arrives finishes, and its
# message gets its header; then the milter exits with status 0.
cat >"$work/inflight.py" <<'EOF'
# One SMTP transaction that pauses after RCPT until the file GO exists.
import os, smtplib, sys, time
host, port, rcpt, subject, ready, go = sys.argv[1:7]
s = smtplib.SMTP(host, int(port), timeout=60)
s.ehlo("client.e2e.test")
code, msg = s.mail("sender@example.test")
print("MAIL", code, msg.decode(), flush=True)
code, msg = s.rcpt(rcpt)
print("RCPT", code, msg.decode(), flush=True)
open(ready, "w").close()
for _ in range(1200):
    if os.path.exists(go):
        break
    time.sleep(0.05)
code, msg = s.docmd("DATA")
print("DATA", code, msg.decode(), flush=True)
if code == 354:
    s.send(("Subject: %s\r\n\r\nin flight\r\n.\r\n" % subject).encode())
    code, msg = s.getreply()
    print("EOM", code, msg.decode(), flush=True)
s.quit()
EOF
subject="e2e inflight $$"
python3 "$work/inflight.py" "$SM_ADDR" "$SM_PORT" user@dane-ok.test "$subject" \
    "$work/inflight.ready" "$work/inflight.go" >"$work/inflight.out" 2>&1 </dev/null &
inflight_pid=$!
for ((i = 0; i < START_TIMEOUT * 20; i++)); do
    [[ -e $work/inflight.ready ]] && break
    running "$inflight_pid" || break
    sleep 0.05
done
expect "SIGTERM: RCPT of the transaction in flight accepted ($(grep '^RCPT' "$work/inflight.out" || true))" \
    grep -q '^RCPT 250 ' "$work/inflight.out"
stopping_before=$(grep -c 'stopping' "$milter_log" || true)
kill -TERM "$milter_pid"
# Once the milter says it is stopping, the client goes on with DATA.
for ((i = 0; i < STOP_TIMEOUT * 20; i++)); do
    (($(grep -c 'stopping' "$milter_log" || true) > stopping_before)) && break
    running "$milter_pid" || break
    sleep 0.05
done
: >"$work/inflight.go"
wait "$inflight_pid" || true
sed 's/^/    /' "$work/inflight.out"
expect "SIGTERM: the transaction in flight finished ($(grep '^EOM' "$work/inflight.out" || true))" \
    grep -q '^EOM 250 2\.0\.0 .*Message accepted for delivery' "$work/inflight.out"
for ((i = 0; i < STOP_TIMEOUT * 20; i++)); do
    running "$milter_pid" || break
    sleep 0.05
done
if running "$milter_pid"; then
    bad "SIGTERM: the milter exited within ${STOP_TIMEOUT} s"
else
    status=0
    wait "$milter_pid" || status=$?
    milter_pid=
    expect "SIGTERM: the milter exited with status 0 (got $status)" equals "$status" 0
fi
check_at_sink inflight "$subject" "" no dane-ok.test connector=partners dane=pass require=dane

# Then F=T: with the milter gone Sendmail answers 4xx and takes nothing;
# unchecked mail never goes out.
subject="e2e milter-down $$"
transcript=$work/swaks-milter-down.txt
run_swaks "$transcript" --from sender@example.test --to user@dane-ok.test --header "Subject: $subject"
reply=$(mail_reply "$transcript")
[[ $reply == 250* ]] && reply=$(rcpt_reply "$transcript")
expect "milter down: Sendmail answers 4xx with F=T (got: $reply)" matches "$reply" '^4[0-9][0-9] 4\.'
expect "milter down: no message accepted for delivery" \
    equals "$(grep -c 'Message accepted for delivery' "$transcript" || true)" 0
expect "milter down: the message is not in Sendmail's queue" \
    equals "$(grep -rlF "$subject" "$sm_dir/queue" | wc -l)" 0

finish
