# shellcheck shell=bash
# Shared set-up of the end-to-end tests (tests/e2e/*.sh) and of the MTA
# benchmark (tests/bench/mta_bench.sh): a private Postfix or Sendmail, the
# milter, an SMTP sink or STARTTLS MXs, started here and stopped by pid; the
# checks the tests make on what came through. Source it first (before setting
# $testbed: check_lib.sh reads that at source time), then:
#
#   mta_init MTA MILTER_BINARY TESTBED_DIR WORK_DIR
#       MTA is postfix or sendmail. Sets TB_NET, milter_bin, testbed, work
#       and the paths below; dies (exit 2) on a usage error.
#   need_root WHY / need_testbed FILE... / need_tools TOOL...
#   mta_begin ADDR:PORT...
#       EXIT trap (mta_cleanup), stops what an earlier run left in WORK,
#       empties it, and dies unless every ADDR:PORT is free.
#   e2e_milter_conf [SECTION.KEY=VALUE...]   check_lib's milter_conf, as the
#       e2e tests run the milter (debug log, 3 s DNS and RCPT bounds)
#   milter_launch   -n check, then the milter in the background
#       ($milter_pid, WORK/milter.pid)
#   start_sink ADDR:PORT / mx_prepare, leaf, start_mxs: who takes the mail
#   postfix_dirs, postfix_main_cf, postfix_master_cf, postfix_start,
#   stop_postfix: a private Postfix instance; sendmail_start: a private
#   Sendmail (tests/testbed/sendmail)
#   expect TEXT COMMAND...: ok or bad (check_lib.sh), by COMMAND's status
# Everything polls with a bound (START_TIMEOUT, DELIVERY_TIMEOUT,
# STOP_TIMEOUT, POLICY_TIMEOUT, seconds; a test may change them after
# sourcing); nothing sleeps blindly.

mta_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$mta_lib_dir/../.." && pwd)
# ok, bad, finish, free_port, milter_conf; net.sh's tb_net_of.
# shellcheck source=check_lib.sh
. "$mta_lib_dir/check_lib.sh"
# running, cmdline_has, stop_pid, pid_from: shared with the test beds.
# shellcheck source=../testbed/lib.sh
. "$src/tests/testbed/lib.sh"

START_TIMEOUT=20 DELIVERY_TIMEOUT=45 STOP_TIMEOUT=20 POLICY_TIMEOUT=30
readonly HEADER=X-DANE-STS-Verdict
sm_testbed=$src/tests/testbed/sendmail
# What the SMTP clients here say: swaks' --helo and --timeout, submit's sender.
smtp_helo=client.e2e.test smtp_timeout=30 smtp_from=sender@example.test
milter_pid='' sink_pid='' mx_pid='' master_pid=''
smtp_server='' map_port=''  # set by the test: the MTA's ADDR:PORT, the policy map's port
FORGED_HEADER=forged  # check_delivered's forged verdict (DOMAIN: the recipient's)
milter_as=()
cleanup_paths=()  # removed on exit too (e.g. a socket directory in /run)

die() { echo "${0##*/}: $*" >&2; exit 2; }

mta_init() { # MTA MILTER_BINARY TESTBED_DIR WORK_DIR
    mta=$1
    shift
    [[ $# -eq 3 && -n $1 && -n $2 && -n $3 ]] ||
        die "usage: $0 MILTER_BINARY TESTBED_DIR WORK_DIR"
    # This run's test-bed network, 127.N (tests/testbed/net.sh).
    # shellcheck disable=SC2034  # read by check_lib.sh's milter_conf and the tests
    TB_NET=$(tb_net_of "$2") || exit 2
    milter_bin=$(realpath -- "$1")
    testbed=$(realpath -- "$2")
    [[ -x $milter_bin && -f $milter_bin ]] || die "no milter binary at $1"
    mkdir -p -- "$3"
    work=$(cd -- "$3" && pwd)
    [[ $work != / ]] || die "refusing to use / as WORK_DIR"
    milter_conf=$work/milter.conf
    milter_log=$work/milter.log
    sink_dir=$work/sink
    mx_dir=$work/mx  # the MXs' keys, configuration, and the mail they took
    postfix_paths "$work/postfix"
    sm_dir=$work/sendmail
    started_at=$SECONDS
}

need_root() { [[ $(id -u) -eq 0 ]] || die "needs root ($1)"; }
need_tools() {
    local tool
    for tool; do
        command -v "$tool" >/dev/null || die "$tool is not installed"
    done
}
need_testbed() { # FILE... (below TESTBED_DIR)
    local f bed
    for f; do
        bed=${f%%/*}
        [[ -s $testbed/$f ]] ||
            die "no $testbed/$f: start the $bed test bed (tests/testbed/$bed/start.sh $testbed/$bed)"
    done
}

# Fails unless something accepts connections on ADDR:PORT.
accepts() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for WHAT PID COMMAND...: polls COMMAND until it succeeds; fails early
# when PID (unless empty) has died, and after START_TIMEOUT seconds.
wait_for() {
    local what=$1 pid=$2 i
    shift 2
    for ((i = 0; i < START_TIMEOUT * 20; i++)); do
        "$@" && return 0
        if [[ -n $pid ]] && ! running "$pid"; then
            echo "${0##*/}: $what: the process (pid $pid) exited" >&2
            return 1
        fi
        sleep 0.05
    done
    echo "${0##*/}: $what: not after ${START_TIMEOUT} s" >&2
    return 1
}
wait_accepts() { # WHAT ADDR PORT [PID]
    wait_for "$1 listening on $2:$3" "${4-}" accepts "$2" "$3"
}

# --- processes: started here, stopped by pid ----------------------------------------
dump_logs() {
    local f
    for f in "$work/postfix-cmd.log" "$maillog" "$sm_dir/sendmail.mc" "$sm_dir/sendmail.out" \
             "$work/sendmail-start.log" "$work/milter.out" "$milter_log" \
             "$work/milter-check.out" "$work/sink.log" "$work/mx.log" "$work/mx.out"; do
        [[ -s $f ]] || continue
        echo "===== $f (last 200 lines) ====="
        tail -n 200 -- "$f"
    done
    if [[ $mta == sendmail ]]; then
        echo "===== Sendmail's queue ====="
        mailq
    fi
    if [[ -d $sink_dir ]]; then
        echo "===== $sink_dir ====="
        ls -l -- "$sink_dir"
    fi
}

stop_mta() {
    if [[ $mta == postfix ]]; then
        stop_postfix
    else
        "$sm_testbed/stop.sh" "$sm_dir"
    fi
}

mta_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_mta
    stop_pid smtp_sink.py "$sink_pid"
    stop_pid starttls_server.py "$mx_pid"
    stop_pid dane-sts-milter "$milter_pid"
    ((${#cleanup_paths[@]} == 0)) || rm -rf -- "${cleanup_paths[@]}"
    ((rc == 0)) || dump_logs
    echo "run time: $((SECONDS - started_at)) s"
    exit "$rc"
}

mta_begin() { # ADDR:PORT... that must be free
    trap mta_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # Leftovers of an earlier run in WORK (killed before its trap could run).
    stop_mta
    stop_pid smtp_sink.py "$(pid_from "$work/sink.pid" "$work")"
    stop_pid starttls_server.py "$(pid_from "$work/mx.pid" "$work")"
    stop_pid dane-sts-milter "$(pid_from "$work/milter.pid" "$milter_conf")"
    find "$work" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
    local ap
    for ap; do
        ! accepts "${ap%:*}" "${ap#*:}" || die "$ap is already in use"
    done
}

# --- the milter ---------------------------------------------------------------------
# Written beside and renamed: a milter reloading it (SIGHUP) never reads half.
e2e_milter_conf() { # [SECTION.KEY=VALUE...]
    milter_conf "$milter_conf.new" milter.log_level=debug resolver.timeout_ms=3000 \
        rcpt.lookup_timeout_ms=3000 "$@"
    mv -- "$milter_conf.new" "$milter_conf"
}
# milter_launch: the milter in the background, run through the command
# prefix milter_as (e.g. setpriv ..., to run it as another user) if set.
milter_launch() {
    "$milter_bin" -c "$milter_conf" -n >"$work/milter.out" 2>&1 ||
        die "dane-sts-milter -n rejects $milter_conf: $(cat "$work/milter.out")"
    "${milter_as[@]}" "$milter_bin" -c "$milter_conf" </dev/null >>"$work/milter.out" 2>&1 &
    milter_pid=$!
    echo "$milter_pid" >"$work/milter.pid"
}
# Diagnostics only (printed on failure): what the milter sees in the test bed.
milter_diagnose() { # DOMAIN...
    "$milter_bin" -c "$milter_conf" --check "$@" >"$work/milter-check.out" 2>&1 </dev/null || true
}

# --- who takes the mail ---------------------------------------------------------------
# tests/testbed/smtp_sink.py on ADDR:PORT, keeping every message in $sink_dir.
start_sink() { # ADDR:PORT
    python3 "$src/tests/testbed/smtp_sink.py" --listen "$1" --dir "$sink_dir" \
        --pidfile "$work/sink.pid" </dev/null >"$work/sink.log" 2>&1 &
    sink_pid=$!
    wait_for "smtp_sink.py's pid file" "$sink_pid" test -s "$work/sink.pid" ||
        die "smtp_sink.py did not start: $(cat "$work/sink.log")"
    echo "smtp_sink.py (pid $sink_pid) on $1"
}

# MXs: tests/testbed/smtp/starttls_server.py, taking mail in TLS into
# $mx_dir/mail. mx_prepare first, then a certificate per MX (leaf, or a copy
# into $mx_dir), then start_mxs.
mx_prepare() {
    mkdir -p "$mx_dir/mail"
    # Our own openssl config: the system's would add CA:TRUE to a -x509
    # certificate.
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
}
# leaf NAME [CA]: $mx_dir/NAME.{crt,key}, a certificate for NAME from the
# HTTPS test bed's https/CA.{crt,key}, or self-signed without CA.
leaf() {
    local -a by=()
    [[ -z ${2-} ]] ||
        by=(-CA "$testbed/https/$2.crt" -CAkey "$testbed/https/$2.key" -set_serial "$RANDOM")
    LEAF_NAME=$1 openssl req -x509 -config "$mx_dir/openssl.cnf" -extensions leaf "${by[@]}" \
        -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
        -keyout "$mx_dir/$1.key" -out "$mx_dir/$1.crt" 2>>"$work/openssl.out" ||
        die "openssl failed: $(cat "$work/openssl.out")"
}
# start_mxs PORT CASE:ADDRESS:NAME...: one listener each, NAME's certificate.
start_mxs() {
    local port=$1 l sep='' case addr name
    shift
    {
        echo '{"listeners": ['
        for l; do
            IFS=: read -r case addr name <<<"$l"
            printf '%s    {"case": "%s", "address": "%s", "port": %d, "mode": "starttls", "name": "%s",\n' \
                "$sep" "$case" "$addr" "$port" "$name"
            printf '     "chain": "%s", "key": "%s", "mail_dir": "%s"}' \
                "$mx_dir/$name.crt" "$mx_dir/$name.key" "$mx_dir/mail"
            sep=$',\n'
        done
        printf '\n]}\n'
    } >"$mx_dir/listeners.json"
    python3 "$src/tests/testbed/smtp/starttls_server.py" --config "$mx_dir/listeners.json" \
        --pidfile "$work/mx.pid" --log "$work/mx.log" </dev/null >"$work/mx.out" 2>&1 &
    mx_pid=$!
    for l; do
        IFS=: read -r case addr name <<<"$l"
        wait_accepts "starttls_server.py" "$addr" "$port" "$mx_pid" || exit 2
    done
    echo "starttls_server.py (pid $mx_pid) on port $port of ${*#*:}"
}

# --- a private Postfix instance ------------------------------------------------------
postfix_paths() { # DIR: where the instance keeps everything
    pf=$1 pfconf=$1/conf pfqueue=$1/queue pfdata=$1/data maillog=$1/maillog
}
# Its own config, queue and data directories, so its master.pid and locks are
# its own and a system Postfix is never touched. Postfix daemons run as the
# mail owner, which must reach everything below WORK.
postfix_dirs() {
    mkdir -p "$pfconf" "$pfqueue" "$pfdata"
    chown postfix: "$pfdata"
    chmod 755 "$work" "$pf" "$pfconf" "$pfqueue"
    local dir=$work
    while [[ $dir != / ]]; do
        [[ $(stat -c %A "$dir") == ?????????[xt] ]] ||
            die "$dir is not searchable by the postfix user; use another WORK_DIR"
        dir=$(dirname "$dir")
    done
}
# postfix_main_cf DOMAIN: main.cf of an instance named mta.DOMAIN that relays
# for the loopback clients only; more lines on stdin.
postfix_main_cf() {
    {
        cat <<EOF
# Written by ${0##*/}: a private instance for one run.
compatibility_level = 3.6
queue_directory = $pfqueue
data_directory = $pfdata
maillog_file = $maillog
maillog_file_prefixes = $pf
myhostname = mta.$1
mydomain = $1
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
EOF
        cat
    } >"$pfconf/main.cf"
}
# postfix_master_cf LINE...: the given services (the smtpd listeners), then
# Postfix's usual ones; chroot (5th column) off everywhere.
postfix_master_cf() {
    {
        echo "# Written by ${0##*/}"
        echo "# service type  private unpriv  chroot  wakeup  maxproc command"
        printf '%s\n' "$@"
        cat <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
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
    } >"$pfconf/master.cf"
}

# Runs postfix with its diagnostics visible: with no syslog, postfix check
# and start say why they fail only on a terminal (TESTBED.md). With
# RESOLV_CONF set, inside a private mount namespace with that file bound
# over /etc/resolv.conf: the master and every daemon it spawns stay in that
# namespace, it disappears with them, and the machine's file stays as it is.
postfix_cmd() { # postfix arguments...
    local cmd
    cmd=$(printf '%q ' postfix -c "$pfconf" "$@")
    if [[ -n ${RESOLV_CONF:-} ]]; then
        # shellcheck disable=SC2016  # expanded by that sh, from its arguments
        unshare -m --propagation private sh -c \
            'mount --bind "$1" /etc/resolv.conf && shift && SHELL=/bin/bash exec script -qec "$*" /dev/null' \
            sh "$RESOLV_CONF" "$cmd" </dev/null >>"$work/postfix-cmd.log" 2>&1
    else
        SHELL=/bin/bash script -qec "$cmd" /dev/null </dev/null >>"$work/postfix-cmd.log" 2>&1
    fi
}
# postfix check, postfix start (RESOLV_CONF as in postfix_cmd); sets master_pid.
postfix_start() {
    RESOLV_CONF='' postfix_cmd check || die "postfix check failed: $(cat "$work/postfix-cmd.log")"
    postfix_cmd start || die "postfix start failed: $(cat "$work/postfix-cmd.log")"
    master_pid=$(pid_from "$pfqueue/pid/master.pid" master)
    [[ -n $master_pid ]] || die "no Postfix master pid"
}
# Postfix's own stop signals the pid in its master.pid; wait for that pid.
stop_postfix() {
    local pid i
    [[ -n ${pfqueue:-} ]] || return 0
    pid=$(pid_from "$pfqueue/pid/master.pid" master)
    [[ -n $pid ]] || return 0
    RESOLV_CONF='' postfix_cmd stop || true
    for ((i = 0; i < STOP_TIMEOUT * 20; i++)); do
        running "$pid" || return 0
        sleep 0.05
    done
    echo "${0##*/}: Postfix master (pid $pid) did not stop; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}
maillog_for() { # QID: every line of that delivery, for the report
    grep -F " $1: " "$maillog" 2>/dev/null | sed 's/^/      /' || true
}

# --- a private Sendmail (tests/testbed/sendmail) ---------------------------------------
mailq() { "$sm_testbed/mailq.sh" "$sm_dir" 2>&1 || true; }
# sendmail_start LISTEN MILTER RELAY EXTRA_MC: start.sh's arguments (and
# environment); delivery in the background unless DELIVERY_MODE says else.
sendmail_start() {
    DELIVERY_MODE=${DELIVERY_MODE:-background} "$sm_testbed/start.sh" "$sm_dir" "$@" \
        >"$work/sendmail-start.log" 2>&1 ||
        die "tests/testbed/sendmail/start.sh failed: $(cat "$work/sendmail-start.log")"
    echo "Sendmail (pid $(cat "$sm_dir/sendmail.pid")) on $1"
}

# --- checks ----------------------------------------------------------------------------
expect() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
contains() { [[ $1 == *"$2"* ]]; }
equals() { [[ $1 == "$2" ]]; }
matches() { [[ $1 =~ $2 ]]; }
starts_ends() { [[ $1 == "$2"*"$3" ]]; }  # VALUE PREFIX SUFFIX
lacks() { ! grep -q "$@"; }  # grep ARGS...: no line matches

# The MTA under test resolves through the unbound test bed's resolv.conf (a
# private mount namespace), and the rest of the machine does not.
check_private_resolver() { # WHAT PID
    expect "$1 resolves through $testbed/unbound/resolv.conf" \
        equals "$(cat "/proc/$2/root/etc/resolv.conf")" "$(cat "$testbed/unbound/resolv.conf")"
    expect "the machine's /etc/resolv.conf is untouched" \
        lacks -F "$(head -n 1 "$testbed/unbound/resolv.conf")" /etc/resolv.conf
}

# smtp_server (ADDR:PORT) is the MTA under test.
swaks_session() { # TRANSCRIPT swaks-arguments...
    local out=$1
    shift
    swaks --server "$smtp_server" --helo "$smtp_helo" --timeout "$smtp_timeout" \
        "$@" >"$out" 2>&1 </dev/null || true
}
# The same, with the commands and replies shown.
run_swaks() { # TRANSCRIPT swaks-arguments...
    swaks_session "$@"
    local out=$1
    shift
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
# The queue id in the MTA's reply to the end of DATA; fails without one.
queue_id() { # REPLY
    if [[ $mta == postfix ]]; then
        [[ $1 =~ ^250\ .*queued\ as\ ([0-9A-Za-z]+) ]]
    else
        [[ $1 =~ ^250\ 2\.0\.0\ ([0-9A-Za-z]+)\ Message\ accepted\ for\ delivery ]]
    fi && echo "${BASH_REMATCH[1]}"
}
# Submits one message from $smtp_from; prints its queue id (none if refused).
submit() { # RCPT SUBJECT
    local out=$work/swaks-${1#*@}-$RANDOM.txt
    swaks_session "$out" --from "$smtp_from" --to "$1" --header "Subject: $2"
    queue_id "$(data_reply "$out")" || true
}

# The message with SUBJECT in DIR, if any; prints its file.
find_message() { # DIR SUBJECT
    local f
    for f in "$1"/*.eml; do
        [[ -f $f ]] && grep -qxF "Subject: $2"$'\r' "$f" && { echo "$f"; return 0; }
    done
    return 1
}
no_message() { ! find_message "$@" >/dev/null; }
# Polls DIR for the message with SUBJECT; prints its file. With QID, gives
# up early once Postfix logs that it deferred or bounced that queue id.
wait_for_message() { # DIR SUBJECT [QID]
    local i
    for ((i = 0; i < DELIVERY_TIMEOUT * 5; i++)); do
        find_message "$1" "$2" && return 0
        [[ -n ${3-} ]] && grep -qE " $3: .* status=(deferred|bounced)" "$maillog" 2>/dev/null &&
            return 1
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
# the MTA to the sink: exactly one verdict header, for DOMAIN, with every
# FIELD. QID (may be empty): its queue id, for the maillog. FORGED: whether it
# was submitted with a forged header (which must be gone).
check_at_sink() { # TAG SUBJECT QID FORGED DOMAIN FIELD...
    local tag=$1 subject=$2 qid=$3 forged=$4 domain=$5
    shift 5
    local file
    if ! file=$(wait_for_message "$sink_dir" "$subject" "$qid"); then
        bad "$tag: message reached the sink within ${DELIVERY_TIMEOUT} s"
        if [[ -n $qid ]]; then
            echo "    maillog for $qid:"
            maillog_for "$qid"
        fi
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
# it at the sink (check_at_sink). FORGED=yes adds FORGED_HEADER, a verdict
# header of the client's own.
check_delivered() { # TAG FORGED DOMAIN FIELD...
    local tag=$1 forged=$2 domain=$3 subject="e2e $1 $$" transcript=$work/swaks-$1.txt
    shift 3
    local -a extra=()
    [[ $forged == yes ]] && extra=(--add-header "$HEADER: ${FORGED_HEADER//DOMAIN/$domain}")
    run_swaks "$transcript" --from sender@example.test --to "user@$domain" \
        --header "Subject: $subject" "${extra[@]}"
    local reply qid=''
    reply=$(rcpt_reply "$transcript")
    expect "$tag: RCPT user@$domain accepted (got: $reply)" matches "$reply" '^250 '
    reply=$(data_reply "$transcript")
    if [[ $mta == postfix ]]; then
        expect "$tag: message queued (got: $reply)" matches "$reply" '^250 .*queued as [0-9A-Za-z]+'
        if ! qid=$(queue_id "$reply"); then
            bad "$tag: message reached the sink (it was not queued)"
            return 0
        fi
    else
        expect "$tag: message accepted for delivery (got: $reply)" \
            matches "$reply" '^250 2\.0\.0 [0-9A-Za-z]+ Message accepted for delivery'
    fi
    check_at_sink "$tag" "$subject" "$qid" "$forged" "$domain" "$@"
}

# Sends to DOMAIN and checks the RCPT reply: it matches REGEX (WHAT says how
# in words) and names each WORD. Leaves the reply in $reply.
check_refused() { # TAG DOMAIN WHAT REGEX WORD...
    local tag=$1 domain=$2 what=$3 want=$4 transcript=$work/swaks-$1.txt word
    shift 4
    run_swaks "$transcript" --from sender@example.test --to "user@$domain" \
        --header "Subject: e2e $tag $$"
    reply=$(rcpt_reply "$transcript")
    expect "$tag: RCPT user@$domain $what (got: $reply)" matches "$reply" "$want"
    for word in "$@"; do
        expect "$tag: the reply names $word" contains "$reply" "$word"
    done
}

# SPEC §4: every decision is one log line: one for the refused
# <user@notlsa.test>, one a message for <user@dane-ok.test> (two sent).
decisions() { grep -F "rcpt=<$1> " "$milter_log" 2>/dev/null || true; }
check_decision_lines() {
    local lines field
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
}

# --- the policy map (SPEC §7) -----------------------------------------------------------
# map_answer NAME DOMAIN: the map's reply to "NAME DOMAIN" on $map_port,
# asked as Postfix's own socketmap client (postmap) asks it with
# MAP_CLIENT=postmap, else as Sendmail's socket map does (one netstring);
# without the netstring framing.
map_answer() {
    if [[ ${MAP_CLIENT:-} == postmap ]]; then
        # postmap reads a main.cf; a private, minimal one keeps the machine's out.
        [[ -f $work/postmap/main.cf ]] ||
            { mkdir -p "$work/postmap" && printf 'compatibility_level = 3.6\n' >"$work/postmap/main.cf"; }
        postmap -c "$work/postmap" -q "$2" "socketmap:inet:127.0.0.1:$map_port:$1" 2>&1 || true
        return 0
    fi
    python3 - "$map_port" "$1" "$2" 2>&1 <<'EOF' || true
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
}
# A cold cache may answer before the lookup ends (SPEC §7: never waits longer
# than lookup_timeout_ms): asks until the answer is WANT (with --prefix:
# begins with WANT), POLICY_TIMEOUT seconds at most; prints the last answer,
# which the caller checks.
poll_answer() { # [--prefix] WANT NAME DOMAIN
    local prefix=no i got=''
    [[ $1 == --prefix ]] && { prefix=yes; shift; }
    for ((i = 0; i < POLICY_TIMEOUT * 4; i++)); do
        got=$(map_answer "$2" "$3")
        [[ $got == "$1" || ($prefix == yes && $got == "$1"*) ]] && break
        sleep 0.25
    done
    echo "$got"
}
policy_is() { # NAME DOMAIN WANT
    local got
    got=$(poll_answer "$3" "$1" "$2")
    expect "policy map, name $1: $2 -> '$3' (got: '$got')" equals "$got" "$3"
}
