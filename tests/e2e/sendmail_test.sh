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

die() { echo "sendmail_test.sh: $*" >&2; exit 2; }
[[ $# -eq 3 && -n $1 && -n $2 && -n $3 ]] ||
    die "usage: $0 MILTER_BINARY TESTBED_DIR WORK_DIR"
[[ $(id -u) -eq 0 ]] || die "needs root (Sendmail's daemon, unshare)"

# This run's test-bed network, 127.N (tests/testbed/net.sh).
# shellcheck source=../testbed/net.sh
. "$(dirname "${BASH_SOURCE[0]}")/../testbed/net.sh"
TB_NET=$(tb_net_of "$2") || exit 2
readonly SM_ADDR=${TB_NET}.0.40 SM_PORT=2525
readonly SINK_ADDR=${TB_NET}.0.41 SINK_PORT=2526
readonly DNS_ADDR=${TB_NET}.10.53
readonly HEADER=X-DANE-STS-Verdict
# Bounds for every wait below; all of them poll, none sleeps blindly.
readonly START_TIMEOUT=20 DELIVERY_TIMEOUT=45 STOP_TIMEOUT=20

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
sink_py=$src/tests/testbed/smtp_sink.py
sm_testbed=$src/tests/testbed/sendmail
snippet=$src/contrib/sendmail/dane-sts-milter.mc
milter_bin=$(realpath -- "$1")
testbed=$(realpath -- "$2")
trust_anchor=$testbed/dns/test.ds
[[ -x $milter_bin && -f $milter_bin ]] || die "no milter binary at $1"
[[ -s $trust_anchor ]] ||
    die "no trust anchor $trust_anchor: start the DNS test bed (tests/testbed/dns/start.sh $testbed/dns)"
[[ -s $testbed/https/ca.crt ]] ||
    die "no $testbed/https/ca.crt: start the HTTPS test bed (tests/testbed/https/start.sh)"
for tool in swaks python3 m4 unshare; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
mkdir -p -- "$3"
work=$(cd -- "$3" && pwd)
[[ $work != / ]] || die "refusing to use / as WORK_DIR"

sm_dir=$work/sendmail
sink_dir=$work/sink
milter_conf=$work/milter.conf
milter_log=$work/milter.log
# The milter's unix socket, in a directory like the shipped one (0750).
# Sendmail refuses a milter socket below a world-writable directory ("unsafe:
# World writable directory"), and WORK may lie below /tmp (a checkout there):
# the socket directory lives in /run, whose ancestors only root may write.
sock_dir=/run/dsm-e2e-sendmail
sock=$sock_dir/milter.sock
started_at=$SECONDS

# --- processes: started by us, stopped by pid ---------------------------------------
# running, cmdline_has, stop_pid, pid_from: shared with the test beds.
. "$src/tests/testbed/lib.sh"

mailq() { "$sm_testbed/mailq.sh" "$sm_dir" 2>&1 || true; }

dump_logs() {
    local f
    for f in "$sm_dir/sendmail.mc" "$sm_dir/sendmail.out" "$work/sendmail-start.log" \
             "$work/milter.out" "$milter_log" "$work/milter-check.out" "$work/sink.log"; do
        [[ -s $f ]] || continue
        echo "===== $f (last 200 lines) ====="
        tail -n 200 -- "$f"
    done
    echo "===== Sendmail's queue ====="
    mailq
    if [[ -d $sink_dir ]]; then
        echo "===== $sink_dir ====="
        ls -l -- "$sink_dir"
    fi
}

milter_pid=
sink_pid=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    "$sm_testbed/stop.sh" "$sm_dir"
    stop_pid smtp_sink.py "$sink_pid"
    stop_pid dane-sts-milter "$milter_pid"
    rm -rf -- "$sock_dir"
    if ((rc != 0)); then
        dump_logs
    fi
    echo "run time: $((SECONDS - started_at)) s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of an earlier run in WORK (killed before its trap could run).
"$sm_testbed/stop.sh" "$sm_dir"
stop_pid smtp_sink.py "$(pid_from "$work/sink.pid" "$work")"
stop_pid dane-sts-milter "$(pid_from "$work/milter.pid" "$milter_conf")"
find "$work" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +

# Fails unless something accepts connections on ADDR:PORT.
accepts() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
for ap in "$SM_ADDR:$SM_PORT" "$SINK_ADDR:$SINK_PORT"; do
    ! accepts "${ap%:*}" "${ap#*:}" || die "$ap is already in use"
done

"$sm_testbed/install.sh" >/dev/null || die "tests/testbed/sendmail/install.sh failed"

# Polls until the milter's unix socket exists; fails early when it died.
wait_socket() { # PID
    local i
    for ((i = 0; i < START_TIMEOUT * 20; i++)); do
        [[ -S $sock ]] && return 0
        running "$1" || { echo "sendmail_test.sh: dane-sts-milter exited" >&2; return 1; }
        sleep 0.05
    done
    echo "sendmail_test.sh: no socket $sock after ${START_TIMEOUT} s" >&2
    return 1
}

# --- 1. the milter --------------------------------------------------------------------
# CONNECTOR_EXTRA: lines for [connector.partners] (the SIGHUP check changes it).
write_milter_conf() { # PARTNERS_EXTRA
    cat >"$milter_conf.new" <<EOF
# Written by tests/e2e/sendmail_test.sh
[milter]
socket = unix:$sock
umask = 117
log_level = debug
log_target = file:$milter_log

[resolver]
trust_anchor_file = $trust_anchor
stub_zones = test.=$DNS_ADDR
timeout_ms = 3000

[sts]
ca_file = $testbed/https/ca.crt
https_port = 8443

[cache]
store = memory

[rcpt]
lookup_timeout_ms = 3000

[connector.default]
recipient_domains = *
mode = opportunistic

[connector.partners]
recipient_domains = notlsa.test, dane-ok.test
mode = mandatory
tags = partner
$1
EOF
    mv -- "$milter_conf.new" "$milter_conf"
}
write_milter_conf "on_failure = defer"
# As shipped (systemd runs it as dane-sts-milter): the milter runs as an
# unprivileged user (here nobody), which owns the socket directory (0750) and
# the socket (umask 117: 0660); Sendmail (root) must take them as safe.
rm -rf -- "$sock_dir"
mkdir -m 0750 "$sock_dir"
chown nobody: "$sock_dir"
: >"$milter_log"
chown nobody: "$milter_log"
as_milter_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

"$milter_bin" -c "$milter_conf" -n >"$work/milter.out" 2>&1 ||
    die "dane-sts-milter -n rejects $milter_conf: $(cat "$work/milter.out")"
# Diagnostics only (printed on failure): what the milter sees in the test bed.
"$milter_bin" -c "$milter_conf" --check notlsa.test dane-ok.test nullmx.test \
    >"$work/milter-check.out" 2>&1 </dev/null || true

"${as_milter_user[@]}" "$milter_bin" -c "$milter_conf" </dev/null >>"$work/milter.out" 2>&1 &
milter_pid=$!
echo "$milter_pid" >"$work/milter.pid"
wait_socket "$milter_pid" || exit 2
[[ $(stat -c %U:%a "$sock") == nobody:660 ]] ||
    die "the socket is $(stat -c %U:%a "$sock"), not nobody:660 as the shipped one would be"
echo "dane-sts-milter (pid $milter_pid, user nobody) on unix:$sock"

# --- 2. the sink (the smart host) ------------------------------------------------------
python3 "$sink_py" --listen "$SINK_ADDR:$SINK_PORT" --dir "$sink_dir" \
    --pidfile "$work/sink.pid" </dev/null >"$work/sink.log" 2>&1 &
sink_pid=$!
for ((i = 0; i < START_TIMEOUT * 20; i++)); do
    [[ -s $work/sink.pid ]] && break
    running "$sink_pid" || die "smtp_sink.py exited: $(cat "$work/sink.log")"
    sleep 0.05
done
[[ -s $work/sink.pid ]] || die "smtp_sink.py wrote no pid file in ${START_TIMEOUT} s"
echo "smtp_sink.py (pid $sink_pid) on $SINK_ADDR:$SINK_PORT"

# --- 3. Sendmail, with the documented snippet -----------------------------------------
# The line of contrib/sendmail/dane-sts-milter.mc exactly as shipped, except
# the socket (the shipped one lives in /var/spool/postfix).
grep -c '^INPUT_MAIL_FILTER(`dane-sts-milter'"'"', `S=[^,]*, F=T, ' "$snippet" >/dev/null ||
    die "$snippet has no INPUT_MAIL_FILTER(\`dane-sts-milter', \`S=..., F=T, ...) line"
sed -n 's|^\(INPUT_MAIL_FILTER(`dane-sts-milter'"'"', `S=\)[^,]*\(, .*\)$|\1unix:'"$sock"'\2|p' \
    "$snippet" >"$work/milter.mc"
[[ $(grep -c . "$work/milter.mc") -eq 1 ]] || die "cannot take the filter line from $snippet"
echo "Sendmail's filter: $(cat "$work/milter.mc")"

DELIVERY_MODE=background "$sm_testbed/start.sh" "$sm_dir" "$SM_ADDR:$SM_PORT" none \
    "$SINK_ADDR:$SINK_PORT" "$work/milter.mc" >"$work/sendmail-start.log" 2>&1 ||
    die "tests/testbed/sendmail/start.sh failed: $(cat "$work/sendmail-start.log")"
grep -qxF "O InputMailFilters=dane-sts-milter" "$sm_dir/sendmail.cf" ||
    die "sendmail.cf does not enable the filter"
echo "Sendmail (pid $(cat "$sm_dir/sendmail.pid")) on $SM_ADDR:$SM_PORT"

# --- 4. checks ----------------------------------------------------------------------------
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
matches() { [[ $1 =~ $2 ]]; }

run_swaks() { # TRANSCRIPT swaks-arguments...
    local out=$1
    shift
    swaks --server "$SM_ADDR:$SM_PORT" --helo client.e2e.test --timeout 60 \
        "$@" >"$out" 2>&1 </dev/null || true
    echo "--- swaks ${*}"
    sed -n '/^ *-> MAIL FROM/,$p' "$out" |
        grep -E '^ *(-> (MAIL|RCPT|DATA|QUIT|\.$)|<-|<\*\*)' | sed 's/^/    /' || true
}

# The server's reply to a command of a transcript, its lines joined.
reply_to() { # TRANSCRIPT REGEX-OF-THE-COMMAND-LINE
    awk -v cmd="$2" '$0 ~ cmd { on = 1; next }
         on && /^ *(->|~>|\*\*\*|===)/ { exit }
         on && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); printf "%s%s", sep, $0; sep = " " }' "$1"
}
mail_reply() { reply_to "$1" '^ *-> MAIL FROM:'; }
rcpt_reply() { reply_to "$1" '^ *-> RCPT TO:'; }
data_reply() { reply_to "$1" '^ *-> \.$'; }

# Polls the sink for the message whose Subject is SUBJECT; prints its file.
wait_for_message() { # SUBJECT
    local i f
    for ((i = 0; i < DELIVERY_TIMEOUT * 5; i++)); do
        for f in "$sink_dir"/*.eml; do
            [[ -f $f ]] || continue
            if grep -qxF "Subject: $1"$'\r' "$f"; then
                echo "$f"
                return 0
            fi
        done
        sleep 0.2
    done
    return 1
}

# Every HEADER field of a message, unfolded, one a line.
verdict_headers() { # FILE
    python3 - "$1" "$HEADER" <<'EOF'
import email, email.policy, re, sys
with open(sys.argv[1], "rb") as f:
    msg = email.message_from_binary_file(f, policy=email.policy.compat32)
for value in msg.get_all(sys.argv[2]) or []:
    print(re.sub(r"\r?\n[ \t]+", " ", value).strip())
EOF
}

# True when the `; `-separated VALUE has the element WANT.
has_field() { # VALUE WANT
    local -a parts
    local p
    IFS=';' read -ra parts <<<"$1"
    for p in "${parts[@]}"; do
        p=${p#"${p%%[![:space:]]*}"}
        p=${p%"${p##*[![:space:]]}"}
        [[ $p == "$2" ]] && return 0
    done
    return 1
}

# Checks the message with SUBJECT that the milter accepted on its way through
# Sendmail to the sink: exactly one verdict header, for DOMAIN, with every
# FIELD. FORGED: whether it was submitted with a forged header (must be gone).
check_at_sink() { # TAG SUBJECT FORGED DOMAIN FIELD...
    local tag=$1 subject=$2 forged=$3 domain=$4
    shift 4
    local file
    if ! file=$(wait_for_message "$subject"); then
        not_ok "$tag: message reached the sink within ${DELIVERY_TIMEOUT} s"
        return 0
    fi
    ok "$tag: message reached the sink ($(basename "$file"))"
    local -a headers
    mapfile -t headers < <(verdict_headers "$file")
    echo "    ${#headers[@]} $HEADER header(s):"
    printf '      %s\n' "${headers[@]}"
    expect "$tag: exactly one $HEADER header" equals "${#headers[@]}" 1
    local h=${headers[0]-}
    expect "$tag: the header is for $domain" matches "$h" "^${domain//./\\.};"
    local field
    for field in "$@"; do
        expect "$tag: the header has $field" has_field "$h" "$field"
    done
    if [[ $forged == yes ]]; then
        local all
        all=$(printf '%s\n' "${headers[@]}")
        expect "$tag: the forged header is gone" equals "$(grep -c forged <<<"$all" || true)" 0
    fi
}

# Sends one message to user@DOMAIN, which the milter must accept, and checks
# it at the sink (check_at_sink).
check_delivered() { # TAG FORGED DOMAIN FIELD...
    local tag=$1 forged=$2 domain=$3 subject="e2e $1 $$" transcript=$work/swaks-$1.txt
    shift 3
    local -a extra=()
    [[ $forged == yes ]] && extra=(--add-header "$HEADER: $domain; forged=yes")
    run_swaks "$transcript" --from sender@example.test --to "user@$domain" \
        --header "Subject: $subject" "${extra[@]}"
    local reply
    reply=$(rcpt_reply "$transcript")
    expect "$tag: RCPT user@$domain accepted (got: $reply)" matches "$reply" '^250 '
    reply=$(data_reply "$transcript")
    expect "$tag: message accepted for delivery (got: $reply)" \
        matches "$reply" '^250 2\.0\.0 [0-9A-Za-z]+ Message accepted for delivery'
    check_at_sink "$tag" "$subject" "$forged" "$domain" "$@"
}

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

# Sends to DOMAIN and checks the RCPT reply: the code matches REGEX, the
# reply names each WORD, and it is exactly the milter's reply for CONNECTOR.
check_refused() { # TAG DOMAIN CONNECTOR REGEX WORD...
    local tag=$1 domain=$2 connector=$3 want=$4 transcript=$work/swaks-$1.txt
    shift 4
    local expected
    expected=$(expected_reply "$domain" "$connector")
    run_swaks "$transcript" --from sender@example.test --to "user@$domain" \
        --header "Subject: e2e $tag $$"
    local reply word
    reply=$(rcpt_reply "$transcript")
    expect "$tag: RCPT user@$domain answered $want (got: $reply)" matches "$reply" "$want"
    for word in "$@"; do
        expect "$tag: the reply names $word" contains "$reply" "$word"
    done
    expect "$tag: the reply is the milter's own (--check: $expected)" \
        equals "$reply" "$expected"
}

# SPEC §4: every decision is one log line.
decisions() { grep -F "rcpt=<$1> " "$milter_log" 2>/dev/null || true; }

echo "checks:"
# Mandatory connector, signed domain without TLSA: SPEC §4 row 9, defer.
check_refused notlsa notlsa.test partners '^450 4\.7\.4 ' notlsa.test partners '(dane-required)'
# Null MX (RFC 7505): SPEC §4 row 2, reject.
check_refused nullmx nullmx.test default '^556 5\.1\.10 ' nullmx.test

check_delivered dane-ok no dane-ok.test connector=partners dane=pass require=dane tags=partner
check_delivered dane-ok-forged yes dane-ok.test connector=partners dane=pass require=dane tags=partner

# MTA-STS (SPEC §4 rows 10-12), policies from the HTTPS test bed.
# Row 11: an enforce policy that no MX matches defers at RCPT.
check_refused sts-nomatch sts-nomatch.test default '^450 4\.7\.5 ' sts-nomatch.test '(validation-failure)'
# A testing policy is never deferred, whatever its mx patterns.
check_delivered sts-testing no sts-testing.test connector=default sts=testing require=none
# Row 10: an enforce policy with a matching MX.
check_delivered sts-enforce no sts-enforce.test sts=enforce require=sts
# DANE governs where it exists (RFC 8461 §2), even with an enforce policy.
check_delivered sts-dane no sts-dane.test dane=pass sts=enforce require=dane

lines=$(decisions user@notlsa.test)
expect "milter log: one decision line for <user@notlsa.test>" \
    equals "$(grep -c . <<<"$lines" || true)" 1
for field in action=defer connector=partners result=dane-required; do
    expect "milter log: the <user@notlsa.test> line has $field" contains "$lines" " $field"
done
lines=$(decisions user@dane-ok.test)
expect "milter log: one decision line per message for <user@dane-ok.test>" \
    equals "$(grep -c . <<<"$lines" || true)" 2
expect "milter log: every <user@dane-ok.test> line has action=accept" \
    equals "$(grep -c ' action=accept' <<<"$lines" || true)" 2

# SIGHUP (SPEC §8): reload with partners' on_failure changed to reject; the
# next transaction through the same Sendmail gets 550 5.7.4 (row 9).
reloads=$(grep -c 'reloaded config=' "$milter_log" || true)
write_milter_conf "on_failure = reject"
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
check_refused notlsa-reject notlsa.test partners '^550 5\.7\.4 ' notlsa.test partners '(dane-required)'

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
    not_ok "SIGTERM: the milter exited within ${STOP_TIMEOUT} s"
else
    status=0
    wait "$milter_pid" || status=$?
    milter_pid=
    expect "SIGTERM: the milter exited with status 0 (got $status)" equals "$status" 0
fi
check_at_sink inflight "$subject" no dane-ok.test connector=partners dane=pass require=dane

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

echo "$passed passed, $failed failed"
((failed == 0)) || exit 1
