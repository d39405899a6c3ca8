#!/bin/bash
# contrib/postfix/main.cf.snippet (SPEC §7, §8), read by Postfix's own
# postconf: every parameter is one this Postfix knows (postconf warns
# "unused parameter" otherwise), the values are the ones the milter and its
# policy map need, and the addresses agree with conf/milter.conf and the unit.
# usage: postfix_snippet_check.sh SOURCE_DIR
set -euo pipefail
src=$1
snippet=$src/contrib/postfix/main.cf.snippet
conf=$src/conf/milter.conf
unit=$src/contrib/systemd/dane-sts-milter.service
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
command -v postconf >/dev/null || fail "postconf not found (Debian: apt-get install postfix)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A main.cf as an administrator would have it: a few settings of their own,
# then the snippet appended.
{
    echo "compatibility_level = 3.6"
    echo "myhostname = relay.dsm.test"
    echo "inet_interfaces = loopback-only"
    cat "$snippet"
} >"$tmp/main.cf"
: >"$tmp/master.cf"

if ! warnings=$(postconf -c "$tmp" -n 2>&1 >/dev/null); then
    printf '%s\n' "$warnings" >&2
    fail "postconf -n failed"
fi
[ -z "$warnings" ] || {
    printf '%s\n' "$warnings" >&2
    fail "postconf warns about the snippet"
}
echo "ok: postconf -n reads the snippet without warnings"

expect() {
    local got
    got=$(postconf -c "$tmp" -x -h "$1")
    [ "$got" = "$2" ] || fail "$1 = '$got', expected '$2'"
}
expect milter_default_action tempfail
expect milter_protocol 6
expect smtp_dns_support_level dnssec
expect smtpd_milters unix:dane-sts-milter/milter.sock
expect non_smtpd_milters unix:dane-sts-milter/milter.sock
# A hung milter is bounded; the milter answers RCPT within [rcpt]
# lookup_timeout_ms (3 s by default), well inside these.
expect milter_command_timeout 30s
expect milter_connect_timeout 10s
expect milter_content_timeout 60s

# The policy map: Postfix's socketmap:inet:HOST:PORT:postfix is the milter's
# [policy_map] listen = inet:HOST:PORT (commented out in the shipped file).
listen=$(sed -n 's/^[;#]*[ \t]*listen[ \t]*=[ \t]*\(inet:.*\)$/\1/p' "$conf" | awk 'NR == 1')
[ -n "$listen" ] || fail "conf/milter.conf shows no [policy_map] listen = inet:..."
expect smtp_tls_policy_maps "socketmap:$listen:postfix"

# The socket: the snippet's smtpd_milters is the shipped [milter] socket.
# A relative unix: path is relative to Postfix's queue directory (its chroot,
# where Debian's smtpd runs), so unix:PATH is QUEUE_DIRECTORY/PATH for the
# milter outside; inet:HOST:PORT is the milter's inet:PORT@HOST.
socket=$(sed -n 's/^socket[ \t]*=[ \t]*//p' "$conf")
queue=$(postconf -c "$tmp" -x -h queue_directory)
milters=$(postconf -c "$tmp" -x -h smtpd_milters)
case $milters in
    unix:/*) fail "smtpd_milters = $milters: an absolute path means another file to a chrooted smtpd" ;;
    unix:*) want="unix:$queue/${milters#unix:}" ;;
    inet:*:*) port=${milters##*:}; host=${milters#inet:}; host=${host%:*}; want="inet:$port@$host" ;;
    *) fail "smtpd_milters = $milters: not a unix: or inet: milter" ;;
esac
[ "$socket" = "$want" ] ||
    fail "the snippet's smtpd_milters = $milters is $want for the milter, but conf/milter.conf has socket = $socket"
# The shipped socket lives below the chroot, where the unit may write.
case $socket in
    unix:"$queue"/dane-sts-milter/*) ;;
    *) fail "conf/milter.conf: socket $socket is not below $queue/dane-sts-milter (Postfix's chroot)" ;;
esac
grep -qxF "ReadWritePaths=-$queue/dane-sts-milter" "$unit" ||
    fail "the unit does not let the milter write $queue/dane-sts-milter"
echo "ok: values agree with conf/milter.conf ($socket) and the unit"
