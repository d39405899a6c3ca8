#!/usr/bin/env bash
# Starts a private Sendmail 8.17 daemon for the tests (TESTBED.md "Sendmail
# 8.17 without the sendmail package"), built from the extracted sendmail-bin
# of install.sh and Debian's sendmail-cf m4 macros.
#
# Usage: start.sh DIR LISTEN_ADDR:PORT MILTER RELAY_ADDR:PORT [EXTRA_MC_FILE]
#   DIR            its files: sendmail.mc, sendmail.cf, queue/, msp-queue/,
#                  sendmail.pid (the daemon's pid, alone on one line),
#                  sendmail.out (its stdout/stderr: debug output only, as
#                  Sendmail logs to syslog and the test bed has none)
#   LISTEN         the address and port its MTA daemon accepts SMTP on
#   MILTER         a Sendmail socket spec (unix:/path or inet:PORT@HOST),
#                  attached with INPUT_MAIL_FILTER(`dsm', `S=MILTER, F=T,
#                  T=C:10s;S:10s;R:10s;E:30s'); or `none'
#   RELAY          every message goes there (SMART_HOST, plain SMTP on PORT);
#                  `none': no smart host, Sendmail delivers to the recipient
#                  domain's MX hosts itself (DNS; TCP port 25)
#   EXTRA_MC_FILE  lines inserted into the .mc before the MAILER lines
#                  (FEATURE(`sts'), confCACERT, ...)
# Environment:
#   DELIVERY_MODE         confDELIVERY_MODE (default background)
#   SENDMAIL_RESOLV_CONF  if set, Sendmail runs in a private mount namespace
#                         (unshare -m --propagation private) with that file
#                         bound over /etc/resolv.conf
#   SENDMAIL_DEBUG        if set, extra -d flags (e.g. 64.5 for milter), the
#                         output goes to DIR/sendmail.out
#   SENDMAIL_DONT_BLAME   if set, confDONT_BLAME_SENDMAIL (default: none, as
#                         on a real server: Sendmail's file and socket safety
#                         checks stay on)
# Sendmail runs as root, in its own UTS namespace (unshare --uts) named
# sm.example.test: without a dotted host name it sleeps 60 s at start
# ("unable to qualify my own domain name").  Returns once LISTEN accepts
# connections (polled, at most 20 s).  Exit status 0, or 2 with a message
# when it cannot start.  stop.sh DIR stops it.
set -euo pipefail

die() { echo "sendmail/start.sh: $*" >&2; exit 2; }
[[ ($# -eq 4 || $# -eq 5) && -n $1 && -n $2 && -n $3 && -n $4 ]] ||
    die "usage: $0 DIR LISTEN_ADDR:PORT MILTER RELAY_ADDR:PORT|none [EXTRA_MC_FILE]"
((EUID == 0)) || die "must run as root (Sendmail's daemon, unshare)"

readonly HOSTNAME_=sm.example.test START_TIMEOUT=20
readonly CF_DIR=/usr/share/sendmail/cf

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
listen=$2 milter=$3 relay=$4 extra=${5-}
delivery_mode=${DELIVERY_MODE:-background}

[[ $listen =~ ^([0-9.]+):([0-9]+)$ ]] || die "LISTEN must be ADDR:PORT, not '$listen'"
listen_addr=${BASH_REMATCH[1]} listen_port=${BASH_REMATCH[2]}
if [[ $relay != none ]]; then
    [[ $relay =~ ^([0-9.]+):([0-9]+)$ ]] || die "RELAY must be ADDR:PORT or none, not '$relay'"
    relay_addr=${BASH_REMATCH[1]} relay_port=${BASH_REMATCH[2]}
fi
case $milter in
    none | unix:/* | inet:[0-9]*@*) ;;
    *) die "MILTER must be unix:/PATH, inet:PORT@HOST or none, not '$milter'" ;;
esac
case $delivery_mode in
    background | b | queueonly | q | interactive | i | deferred | d) ;;
    *) die "DELIVERY_MODE must be background, queueonly, interactive or deferred" ;;
esac
if [[ -n $extra ]]; then
    [[ -r $extra ]] || die "cannot read EXTRA_MC_FILE $extra"
    extra=$(realpath -- "$extra")
fi
if [[ -n ${SENDMAIL_RESOLV_CONF-} ]]; then
    [[ -r $SENDMAIL_RESOLV_CONF ]] || die "cannot read SENDMAIL_RESOLV_CONF $SENDMAIL_RESOLV_CONF"
    SENDMAIL_RESOLV_CONF=$(realpath -- "$SENDMAIL_RESOLV_CONF")
fi
for tool in m4 unshare hostname; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ -f $CF_DIR/m4/cf.m4 ]] || die "no $CF_DIR/m4/cf.m4: run $here/install.sh"

# The daemon binary: install.sh is idempotent and prints its path.
sendmail=$("$here/install.sh") || die "install.sh failed"
[[ -x $sendmail ]] || die "install.sh printed no executable ($sendmail)"

mkdir -p -- "$1"
dir=$(cd -- "$1" && pwd)
[[ $dir != / ]] || die "refusing to use / as DIR"

# A daemon left over from an earlier run in DIR.
"$here/stop.sh" "$dir"

accepts() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
! accepts "$listen_addr" "$listen_port" || die "$listen is already in use"

rm -rf -- "$dir/queue" "$dir/msp-queue" "$dir/sendmail.mc" "$dir/sendmail.cf" \
    "$dir/sendmail.pid" "$dir/sendmail.mta.pid" "$dir/sendmail.out" "$dir/statistics" \
    "$dir/local-host-names"
# Sendmail insists on a safe queue: owned by root, mode 700.
mkdir -m 700 "$dir/queue" "$dir/msp-queue"
: >"$dir/local-host-names"
: >"$dir/statistics"

# --- the configuration ------------------------------------------------------------
{
    echo "divert(-1)dnl"
    echo "# Written by tests/testbed/sendmail/start.sh"
    echo "include(\`$CF_DIR/m4/cf.m4')dnl"
    echo "VERSIONID(\`dane-sts-milter test bed')dnl"
    echo "OSTYPE(\`linux')dnl"
    echo "define(\`QUEUE_DIR', \`$dir/queue')dnl"
    echo "define(\`MSP_QUEUE_DIR', \`$dir/msp-queue')dnl"
    # Sendmail's own pid file has the command line on a second line.
    echo "define(\`confPID_FILE', \`$dir/sendmail.mta.pid')dnl"
    echo "define(\`ALIAS_FILE', \`')dnl"
    echo "define(\`confCW_FILE', \`-o $dir/local-host-names')dnl"
    echo "define(\`confHELP_FILE', \`')dnl"
    echo "define(\`STATUS_FILE', \`$dir/statistics')dnl"
    echo "define(\`confDOMAIN_NAME', \`$HOSTNAME_')dnl"
    [[ -z ${SENDMAIL_DONT_BLAME-} ]] || echo "define(\`confDONT_BLAME_SENDMAIL', \`$SENDMAIL_DONT_BLAME')dnl"
    echo "define(\`confDELIVERY_MODE', \`$delivery_mode')dnl"
    # No host status cache: every delivery attempt talks to the peer again.
    echo "define(\`confHOST_STATUS_DIRECTORY', \`')dnl"
    echo "define(\`confTO_QUEUERETURN', \`5d')dnl"
    if [[ $relay != none ]]; then
        echo "define(\`SMART_HOST', \`esmtp:[$relay_addr]')dnl"
        echo "define(\`ESMTP_MAILER_ARGS', \`TCP \$h $relay_port')dnl"
        echo "define(\`RELAY_MAILER_ARGS', \`TCP \$h $relay_port')dnl"
    fi
    echo "FEATURE(\`no_default_msa')dnl"
    echo "FEATURE(\`promiscuous_relay')dnl"
    echo "FEATURE(\`accept_unresolvable_domains')dnl"
    echo "FEATURE(\`nocanonify')dnl"
    echo "DAEMON_OPTIONS(\`Port=$listen_port, Addr=$listen_addr, Name=MTA')dnl"
    if [[ $milter != none ]]; then
        echo "INPUT_MAIL_FILTER(\`dsm', \`S=$milter, F=T, T=C:10s;S:10s;R:10s;E:30s')dnl"
    fi
    if [[ -n $extra ]]; then
        echo "dnl --- $extra"
        cat -- "$extra"
        echo "dnl --- end of $extra"
    fi
    echo "MAILER(\`smtp')dnl"
} >"$dir/sendmail.mc"
m4 "$dir/sendmail.mc" >"$dir/sendmail.cf" 2>"$dir/m4.err" ||
    die "m4 $dir/sendmail.mc failed: $(cat "$dir/m4.err")"
# The one warning expected (promiscuous_relay: a test bed on loopback only).
if grep -v -e 'promiscuous_relay' -e 'relay\.  Do NOT use it' -e '^[[:space:]]*$' "$dir/m4.err" |
    grep -q .; then
    die "m4 $dir/sendmail.mc complained: $(cat "$dir/m4.err")"
fi
chmod 644 "$dir/sendmail.cf"

# --- the daemon ----------------------------------------------------------------------
args=(-C "$dir/sendmail.cf" -bd -q15m)
if [[ -n ${SENDMAIL_DEBUG-} ]]; then
    for d in $SENDMAIL_DEBUG; do args+=("-d$d"); done
fi
# sh -c script: $1 hostname, $2 resolv.conf or "", then the command.
# shellcheck disable=SC2016
inner='h=$1 rc=$2; shift 2
if [ -n "$rc" ]; then mount --bind "$rc" /etc/resolv.conf || exit 1; fi
hostname "$h" || exit 1
exec "$@"'
if [[ -n ${SENDMAIL_RESOLV_CONF-} ]]; then
    ns=(unshare --uts -m --propagation private)
else
    ns=(unshare --uts)
fi
# -bd: Sendmail forks into the background itself; the parent returns at once.
"${ns[@]}" sh -c "$inner" sh "$HOSTNAME_" "${SENDMAIL_RESOLV_CONF-}" "$sendmail" "${args[@]}" \
    </dev/null >"$dir/sendmail.out" 2>&1 ||
    die "Sendmail did not start: $(tail -n 20 "$dir/sendmail.out")"

pid=
for ((i = 0; i < START_TIMEOUT * 20; i++)); do
    if [[ -z $pid && -s $dir/sendmail.mta.pid ]]; then
        read -r pid <"$dir/sendmail.mta.pid" || true
        [[ $pid =~ ^[0-9]+$ ]] || pid=
        [[ -n $pid ]] && echo "$pid" >"$dir/sendmail.pid"
    fi
    if [[ -n $pid ]]; then
        accepts "$listen_addr" "$listen_port" && break
        [[ -d /proc/$pid ]] || die "Sendmail (pid $pid) exited: $(tail -n 20 "$dir/sendmail.out")"
    fi
    sleep 0.05
done
[[ -n $pid ]] || die "Sendmail wrote no pid file in ${START_TIMEOUT} s: $(tail -n 20 "$dir/sendmail.out")"
accepts "$listen_addr" "$listen_port" ||
    die "Sendmail (pid $pid) not listening on $listen after ${START_TIMEOUT} s"
echo "Sendmail (pid $pid) on $listen, milter $milter, relay $relay" >&2
