#!/bin/bash
# Process life cycle of the built binary (SPEC §2 [milter] user/umask, §1 and
# §8): privileges dropped for good to [milter] user and its groups after the
# sockets are bound, a user that cannot be used refuses to start, umask on a
# unix socket, one start-up warning per connector in mode none, SIGINT stops
# as cleanly as SIGTERM. Needs root (to create the test user and to drop
# privileges); CI runs as root.
set -uo pipefail
bin=$1 testbed=$2 work=$3
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: needs root (creates a system user and drops privileges to it)"
    exit 77
fi
rm -rf "$work" && mkdir -p "$work" && chmod 755 "$work"
# shellcheck source=../support/check_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/check_lib.sh"

user=dsm-test extra=dsm-test-extra
# Another checkout's suite may run this at the same moment: one at a time.
(
    flock 9
    getent group "$extra" >/dev/null || groupadd --system "$extra"
    getent passwd "$user" >/dev/null ||
        useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "$user"
    id -nG "$user" | grep -qw "$extra" || usermod -a -G "$extra" "$user"
) 9>>"${TMPDIR:-/tmp}/dane-sts-milter-test-accounts.lock"

trap stop_started EXIT

# conf NAME [SECTION.KEY=VALUE...]: a milter on unix:$work/NAME.sock, debug
# log in $work/NAME.log; nothing is looked up (no [sts]).
conf() {
    local name=$1
    shift
    milter_conf "$work/$name.conf" milter.socket="unix:$work/$name.sock" milter.log_level=debug \
        milter.log_target="file:$work/$name.log" sts.ca_file= sts.https_port= "$@"
}
# start NAME: runs the milter, sets $pid; true once it logged "starting"
# (after the privilege drop).
start() {
    start_milter "$work/$1.conf"
    local started=$?
    pid=$milter_pid
    ((started == 0)) && wait_log "$work/$1.log" "starting version=" 15
}
# stop SIGNAL: the exit status of $pid
stop() {
    kill "-$1" "$pid"
    wait "$pid"
}
field() { awk -v k="$1:" '$1 == k { $1 = ""; print substr($0, 2) }' "$2"; }

# --- [milter] user: every id is the user's, no capability is left -----------
# Privileged ports on ${TB_NET}.41.1 (nothing else uses that address) can only be
# bound as root: they prove every socket is bound before the switch.
uid=$(id -u "$user") gid=$(id -g "$user")
conf user milter.user="$user" policy_map.listen="inet:${TB_NET}.41.1:998" \
    metrics.listen="${TB_NET}.41.1:999"
if start user; then
    (exec 3<>/dev/tcp/${TB_NET}.41.1/998 && exec 4<>/dev/tcp/${TB_NET}.41.1/999) 2>/dev/null &&
        ok "user: the policy map and metrics listen on privileged ports" ||
        bad "user: policy map or metrics not listening on ${TB_NET}.41.1:998/999"
    st=/proc/$pid/status
    [[ $(field Uid "$st") == "$uid $uid $uid $uid" ]] && ok "user: real, effective, saved and fs uid are $user's ($uid)" ||
        bad "user: Uid: $(field Uid "$st")"
    [[ $(field Gid "$st") == "$gid $gid $gid $gid" ]] && ok "user: every gid is $user's ($gid)" ||
        bad "user: Gid: $(field Gid "$st")"
    want=$(id -G "$user" | tr ' ' '\n' | sort -n | xargs)
    got=$(field Groups "$st" | tr ' ' '\n' | sort -n | xargs)
    [[ -n $want && $got == "$want" ]] && ok "user: supplementary groups are $user's ($got)" ||
        bad "user: Groups: '$got', want '$want'"
    [[ $(field CapEff "$st") == 0000000000000000 && $(field CapPrm "$st") == 0000000000000000 ]] &&
        ok "user: no capability left (no way back to root)" ||
        bad "user: CapEff $(field CapEff "$st") CapPrm $(field CapPrm "$st")"
    others=0
    for t in /proc/"$pid"/task/*/status; do
        [[ $(field Uid "$t") == "$uid $uid $uid $uid" ]] || others=$((others + 1))
    done
    ((others == 0)) && ok "user: every thread runs as $user" || bad "user: $others thread(s) kept other ids"
    grep -q "running as user=$user uid=$uid gid=$gid" "$work/user.log" && ok "user: logged" ||
        bad "user: no 'running as' line"
    stop TERM
    rc=$?
    ((rc == 0)) && ok "user: SIGTERM exits 0" || bad "user: exit status $rc"
else
    bad "user: did not start: $(cat "$work/user.log" "$work/user.stderr" 2>/dev/null)"
fi

# --- a user that does not exist: no start, the log names it ------------------
conf nouser milter.user=dsm-no-such-user
"$bin" -c "$work/nouser.conf" >"$work/nouser.stderr" 2>&1
rc=$?
((rc != 0)) && ok "no such user: exits $rc" || bad "no such user: exit status 0"
grep -q 'user: no such user "dsm-no-such-user"' "$work/nouser.log" &&
    ok "no such user: the log names the user" || bad "no such user: log: $(cat "$work/nouser.log")"
! grep -q "starting version=" "$work/nouser.log" && ok "no such user: never served" ||
    bad "no such user: it started"

# --- umask on the unix socket -------------------------------------------------
for case in "007 srwxrwx---" "077 srwx------" "002 srwxrwxr-x"; do
    read -r mask mode <<<"$case"
    conf "umask$mask" milter.umask="$mask"
    if start "umask$mask"; then
        got=$(stat -c %A "$work/umask$mask.sock")
        [[ $got == "$mode" ]] && ok "umask $mask: socket is $got" || bad "umask $mask: socket is $got, want $mode"
        stop TERM
    else
        bad "umask $mask: did not start: $(cat "$work/umask$mask.log")"
    fi
done

# --- one warning per connector that validates nothing (SPEC §1) --------------
conf warn connector.open1.recipient_domains=one.test connector.open1.mode=none \
    connector.open2.recipient_domains=two.test connector.open2.dane=none connector.open2.mta_sts=none \
    connector.strict.recipient_domains=three.test connector.strict.mode=mandatory
if start warn; then
    n1=$(grep -c "connector=open1 validates neither DANE nor MTA-STS" "$work/warn.log")
    n2=$(grep -c "connector=open2 validates neither DANE nor MTA-STS" "$work/warn.log")
    all=$(grep -c "validates neither" "$work/warn.log")
    ((n1 == 1 && n2 == 1 && all == 2)) && ok "mode none: one warning each for open1 and open2, none for others" ||
        bad "mode none: open1=$n1 open2=$n2 all=$all"
    grep "validates neither" "$work/warn.log" | grep -qv " warning " &&
        bad "mode none: not logged at warning level" || ok "mode none: logged as warnings"
    # SIGINT stops as cleanly as SIGTERM (libmilter alone would abort sessions).
    stop INT
    rc=$?
    ((rc == 0)) && grep -q "stopped" "$work/warn.log" && ok "SIGINT: exits 0 after 'stopped'" ||
        bad "SIGINT: exit status $rc"
else
    bad "mode none: did not start: $(cat "$work/warn.log")"
fi

# --- log_target = syslog: facility mail, ident dane-sts-milter, also after a
# reload. The milter runs in a private mount namespace whose /dev/log is this
# test's datagram socket (the host's syslog is not touched), started through a
# link with another name so that the ident cannot come from argv[0].
if unshare --mount --propagation private true 2>/dev/null; then
    mkdir -p "$work/dev"
    python3 - "$work/devlog.sock" "$work/syslog.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).replace(b"\n", b" ") + b"\n")
PY
    track $!
    wait_until 5 test -S "$work/devlog.sock"
    ln -sf "$bin" "$work/renamed-milter"
    conf syslog milter.log_target=syslog
    # shellcheck disable=SC2016
    unshare --mount --propagation private bash -c '
        d=$1/dev
        mount -t tmpfs none "$d" || exit 1
        for f in null zero full random urandom; do touch "$d/$f"; mount --bind "/dev/$f" "$d/$f"; done
        touch "$d/log" && mount --bind "$1/devlog.sock" "$d/log" && mount --rbind "$d" /dev || exit 1
        exec "$1/renamed-milter" -c "$1/syslog.conf"' _ "$work" >"$work/syslog.stderr" 2>&1 &
    pid=$!
    track "$pid"
    wait_log "$work/syslog.out" "starting version=" 15
    kill -HUP "$pid"
    wait_log "$work/syslog.out" "reloaded config="
    stop TERM
    wait_log "$work/syslog.out" "stopped" 2
    # <PRI>: LOG_MAIL (2 << 3 = 16) plus the severity (0..7).
    want="^<(1[6-9]|2[0-3])>.* dane-sts-milter\[$pid\]: "
    for line in "starting version=" "reloaded config=" "stopped"; do
        got=$(grep -F "$line" "$work/syslog.out" | head -1)
        [[ $got =~ $want ]] && ok "syslog: '$line' with facility mail and ident dane-sts-milter" ||
            bad "syslog: '$line' logged as '$got'"
    done
    n=$(wc -l <"$work/syslog.out")
    m=$(grep -cE "$want" "$work/syslog.out")
    ((n > 0 && n == m)) && ok "syslog: all $n lines so" || bad "syslog: $m of $n lines so"
else
    echo "SKIP syslog: no private mount namespace here (unshare --mount failed)"
fi

finish
