#!/bin/bash
# The Debian package, for real (SPEC §8; README "Running it in production"):
# build it with cpack from an existing build directory, check its control
# data, install it with dpkg, check what the administrator gets (the account,
# the files, the socket directory in Postfix's chroot, `-n` on the installed
# configuration, the unit, the daemon starting and stopping as its user),
# attach Debian's own Postfix (smtpd chrooted, as Debian ships master.cf) with
# the shipped snippet over the shipped unix socket and send mail through it,
# reinstall over a changed conffile, purge it and check that it is gone.
#
# Installing a package into the machine is not a unit test: .ci/run runs
# this after `contrib/scripts/bootstrap test`, as root, on a machine where
# dane-sts-milter is not installed otherwise.
# usage: tests/package/deb_check.sh [BUILD_DIR]   (default: build)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
name=dane-sts-milter
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
step() { echo "== $*"; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (dpkg -i)"
[ -f "$build/CPackConfig.cmake" ] || fail "$build is not a configured build directory"
for tool in cpack dpkg-deb dpkg-shlibdeps file systemd-analyze man postconf postfix postcat \
    postsuper swaks; do
    command -v "$tool" >/dev/null ||
        fail "$tool not found (Debian: dpkg-dev, file, systemd, man-db, postfix, swaks; contrib/scripts/bootstrap test installs them)"
done
getent passwd postfix >/dev/null || fail "no user postfix (Debian: apt-get install postfix)"
status() { dpkg-query -W -f='${Status}' "$name" 2>/dev/null || true; }
if [[ "$(status)" == *"ok installed"* ]]; then
    fail "$name is already installed here; this check would remove it"
fi
# The Postfix part starts the machine's own Postfix and edits its main.cf
# (restored at the end): not while it serves mail.
if postfix status >/dev/null 2>&1; then
    fail "the system's Postfix is running; this check starts and stops it"
fi
spool=/var/spool/postfix/$name

work=$(mktemp -d)
installed=no
daemon=
# The Postfix part: master's pid, the saved /etc/postfix/main.cf (or "absent")
# and the queue files it made.
master=
maincf_saved=
queued=()
postfix_restore() {
    if [ -n "$master" ]; then
        postfix stop >/dev/null 2>&1 || true
        for _ in $(seq 50); do
            kill -0 "$master" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$master" 2>/dev/null; then
            kill -KILL "$master" 2>/dev/null || true
        fi
        master=
    fi
    for id in "${queued[@]}"; do
        postsuper -d "$id" >/dev/null 2>&1 || true
    done
    queued=()
    case $maincf_saved in
        "") ;;
        absent) rm -f /etc/postfix/main.cf ;;
        *) cp -p "$maincf_saved" /etc/postfix/main.cf ;;
    esac
    maincf_saved=
}
override=no
varwork=
cleanup() {
    postfix_restore
    [ -z "$daemon" ] || kill "$daemon" 2>/dev/null || true
    [ "$override" = no ] || dpkg-statoverride --remove "$spool" >/dev/null 2>&1 || true
    [ "$installed" = no ] || dpkg --purge "$name" >/dev/null 2>&1 || true
    rm -rf "$work"
    [ -z "$varwork" ] || rm -rf "$varwork"
}
trap cleanup EXIT

step "build the package from $build"
cmake --build "$build" -j2 >/dev/null
(cd "$work" && cpack --config "$build/CPackConfig.cmake" -B "$work" >"$work/cpack.log" 2>&1) || {
    cat "$work/cpack.log" >&2
    fail "cpack failed"
}
deb=$(ls "$work"/${name}_*.deb)
echo "$deb"

step "control data"
dpkg-deb -f "$deb" Package Version Architecture Depends
depends=$(dpkg-deb -f "$deb" Depends)
# One package name a line (alternatives too); grep reads a here-string, so
# that its early exit cannot fail a pipeline under pipefail.
dep_names=$(printf '%s\n' "$depends" | sed 's/[,|]/\n/g' | sed 's/^ *//; s/[ (].*//')
has_dep() { grep -qxF "$1" <<<"$dep_names"; }
# Computed, not guessed: the package of every library the binary links must
# be a dependency (dpkg-shlibdeps), besides what the configuration and the
# maintainer scripts need.
bin="$build/milter/$name"
for lib in $(objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }'); do
    # (awk reads to the end: an early exit would SIGPIPE ldconfig under pipefail)
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && $NF ~ /^\// && !n++ { print $NF }')
    [ -n "$path" ] || fail "cannot find $lib"
    # merged /usr: dpkg knows the file under one of its two names
    pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | awk -F: 'NR == 1 { print $1 }') ||
        pkg=$(dpkg -S "$path" | awk -F: 'NR == 1 { print $1 }')
    # The shlibs file may name a virtual package the library's package
    # provides (libspdlog1.10 provides libspdlog1.10-fmt9).
    ok=no
    for p in $pkg $(dpkg-query -W -f='${Provides}' "$pkg" | tr ',' '\n' | sed 's/([^)]*)//; s/ //g'); do
        if has_dep "$p"; then ok=yes; fi
    done
    [ "$ok" = yes ] || fail "$lib is in $pkg, which (nor what it provides) is not in Depends: $depends"
done
for pkg in adduser dns-root-data ca-certificates; do
    has_dep "$pkg" || fail "Depends lacks $pkg: $depends"
done
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = "/etc/$name/milter.conf" ] ||
    fail "conffiles is not /etc/$name/milter.conf"
contents=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
for f in ./usr/sbin/$name ./etc/$name/milter.conf ./lib/systemd/system/$name.service \
    ./usr/share/man/man8/$name.8 ./usr/share/man/man5/milter.conf.5 \
    ./usr/share/doc/$name/examples/main.cf.snippet ./usr/share/doc/$name/examples/$name.mc \
    ./usr/share/doc/$name/examples/grafana-dashboard.json; do
    grep -qxF "$f" <<<"$contents" || fail "the package lacks $f"
done
echo "ok: Depends computed, conffile, files"

step "install"
installed=yes
if ! dpkg -i "$deb"; then
    DEBIAN_FRONTEND=noninteractive apt-get install -f -y --no-install-recommends
fi
[ "$(status)" = "install ok installed" ] || fail "not installed: $(status)"
getent passwd "$name" >/dev/null || fail "no user $name"
getent group "$name" >/dev/null || fail "no group $name"
[ "$(id -gn "$name")" = "$name" ] || fail "the primary group of $name is $(id -gn "$name")"
[ "$(getent passwd "$name" | cut -d: -f7)" = /usr/sbin/nologin ] || fail "$name can log in"
[ "$(id -u "$name")" -lt 1000 ] || fail "$name is not a system user"
[ "$(stat -c '%U:%G %a' /var/lib/$name)" = "$name:$name 750" ] ||
    fail "/var/lib/$name is $(stat -c '%U:%G %a' /var/lib/$name)"
# The shipped socket's directory, in the chroot of Debian's Postfix smtpd,
# and Postfix's user in the group the socket (0660) belongs to.
[ "$(stat -c '%U:%G %a' "$spool")" = "$name:$name 750" ] ||
    fail "$spool is $(stat -c '%U:%G %a' "$spool")"
grep -qxF "$name" <<<"$(id -nG postfix | tr ' ' '\n')" ||
    fail "user postfix is not in group $name: $(id postfix)"
for f in /usr/sbin/$name /etc/$name/milter.conf /lib/systemd/system/$name.service; do
    [ -f "$f" ] || fail "$f missing"
done
{ man -w 8 "$name" && man -w 5 milter.conf; } >/dev/null || fail "man pages not found by man"
/usr/sbin/$name --version
echo "ok: user, group, state and socket directories, postfix in group $name, files"

step "the installed configuration passes -n, as root and as $name"
/usr/sbin/$name -c /etc/$name/milter.conf -n || fail "-n fails on the installed configuration"
runuser -u "$name" -- /usr/sbin/$name -c /etc/$name/milter.conf -n ||
    fail "-n fails as $name"

step "the installed unit"
out=$(systemd-analyze verify /lib/systemd/system/$name.service 2>&1) || {
    printf '%s\n' "$out" >&2
    fail "systemd-analyze verify"
}
[ -z "$out" ] || {
    printf '%s\n' "$out" >&2
    fail "systemd-analyze verify complained"
}
echo "ok: systemd-analyze verify (man pages and binary installed)"
# No systemd here: run the unit's first ExecStartPre (as root, "+") the way
# it would, on a missing and on an existing socket directory.
mkdir_line=$(sed -n 's/^ExecStartPre=+//p' /lib/systemd/system/$name.service)
[ -n "$mkdir_line" ] || fail "the unit has no ExecStartPre=+ making $spool"
rmdir "$spool"
eval "$mkdir_line" || fail "the unit's ExecStartPre=+ failed: $mkdir_line"
[ "$(stat -c '%U:%G %a' "$spool")" = "$name:$name 750" ] ||
    fail "the unit's ExecStartPre=+ made $spool $(stat -c '%U:%G %a' "$spool")"
chmod 0770 "$spool"
eval "$mkdir_line" || fail "the unit's ExecStartPre=+ failed on an existing $spool"
[ "$(stat -c '%a' "$spool")" = 770 ] || fail "the unit's ExecStartPre=+ changed an existing $spool"
chmod 0750 "$spool"
echo "ok: the unit makes a missing $spool, leaves an existing one"

step "the daemon starts and stops as $name, as under the unit"
# The installed file with its own port (the shipped one may be taken) and a
# forwarder on loopback, so that nothing could ever reach the internet.
sed -e 's/^socket = .*/socket = inet:18891@127.0.0.1/' \
    -e 's/^forwarders =.*/forwarders = 127.0.0.1@9/' /etc/$name/milter.conf >"$work/milter.conf"
chmod 0644 "$work/milter.conf"
chmod 0755 "$work"
# setpriv execs the daemon itself (no PAM session process in between), with
# the ids and groups systemd's User=/Group= would give it.
setpriv --reuid="$name" --regid="$name" --init-groups -- \
    /usr/sbin/$name -c "$work/milter.conf" >"$work/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 50); do
    grep -q 'starting version=' "$work/daemon.log" && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.2
done
grep -q 'starting version=' "$work/daemon.log" || {
    cat "$work/daemon.log" >&2
    fail "the daemon did not start as $name"
}
[ "$(ps -o uid= -p "$daemon" | tr -d ' ')" = "$(id -u "$name")" ] ||
    fail "the daemon does not run as $name"
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
daemon=
[ "$rc" -eq 0 ] || {
    cat "$work/daemon.log" >&2
    fail "the daemon exited $rc after SIGTERM"
}
grep -q 'stopped' "$work/daemon.log" || fail "no 'stopped' in the log"
echo "ok: started, stopped cleanly on SIGTERM"

step "Debian's Postfix (smtpd chrooted) and the milter on the shipped socket"
# What the issue promises: a fresh install with the shipped snippets puts
# Postfix and the milter on a unix socket that works with Debian's chrooted
# smtpd. Debian's own Postfix configuration, the installed snippet appended,
# the shipped milter.conf changed only where this test bed needs it (no
# internet), and mail sent to Postfix on port 25.
t0=$SECONDS
# /etc/postfix before: every entry's owner, group and mode, every file's size,
# mtime and contents (directories' mtimes aside: main.cf may come and go).
etc_manifest() {
    (cd /etc/postfix && find . -printf '%p %y %u:%g %m\n' && find . -type f -printf '%p %s %T@\n' &&
        find . -type f -exec md5sum {} +) | sort
}
etc_before=$(etc_manifest)
if [ -f /etc/postfix/main.cf ]; then
    cp -p /etc/postfix/main.cf "$work/main.cf.orig"
    maincf_saved=$work/main.cf.orig
    echo "main.cf: this machine's"
else
    # debconf "No configuration" (as contrib/scripts/bootstrap installs it):
    # Debian's postinst then says "Start with cp /usr/share/postfix/main.cf.debian
    # /etc/postfix/main.cf", which is what its other choices begin with.
    maincf_saved=absent
    cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
    echo "main.cf: Debian's /usr/share/postfix/main.cf.debian (Postfix was installed with No configuration)"
fi
# master.cf as Debian ships it: smtpd on port 25 runs chrooted (5th column).
smtpd_service=$(postconf -M smtp/inet)
read -r _ _ _ _ chroot _ <<<"$smtpd_service"
[ "$chroot" = y ] || fail "smtpd is not chrooted in /etc/postfix/master.cf: $smtpd_service"
cmp -s /etc/postfix/master.cf /usr/share/postfix/master.cf.dist ||
    echo "note: /etc/postfix/master.cf differs from Debian's master.cf.dist"
queue_dir=$(postconf -h queue_directory)
[ "$queue_dir" = /var/spool/postfix ] || fail "queue_directory is $queue_dir"
echo "ok: $smtpd_service"
cat "/usr/share/doc/$name/examples/main.cf.snippet" >>/etc/postfix/main.cf
# Test-bed needs only: no syslog here (maillog_file must lie below /var), a
# name, loopback only, and no delivery attempt (no internet).
varwork=$(mktemp -d /var/tmp/deb_check.XXXXXX)
chmod 0755 "$varwork"
maillog=$varwork/maillog
postconf -e "maillog_file=$maillog" myhostname=deb-check.dsm.test inet_interfaces=loopback-only \
    inet_protocols=ipv4 defer_transports=smtp
[ "$(postconf -h smtpd_milters)" = "unix:dane-sts-milter/milter.sock" ] ||
    fail "smtpd_milters is $(postconf -h smtpd_milters) after appending the snippet"
[ "$(postconf -h milter_default_action)" = tempfail ] || fail "milter_default_action is not tempfail"

# The installed milter.conf, its socket untouched; a forwarder on loopback
# (nothing reaches the internet) and two connectors: one validating nothing,
# one requiring DANE (which fails here, so only the milter can defer it).
sed -e 's/^forwarders =.*/forwarders = 127.0.0.1@9/' /etc/$name/milter.conf >"$work/milter-postfix.conf"
printf '%s\n' '' '[connector.deb_check_none]' 'recipient_domains = none.dsm.test' 'mode = none' \
    '' '[connector.deb_check_dane]' 'recipient_domains = dane.dsm.test' 'mode = mandatory' \
    >>"$work/milter-postfix.conf"
chmod 0644 "$work/milter-postfix.conf"
sock=$spool/milter.sock
grep -qxF "socket = unix:$sock" "$work/milter-postfix.conf" ||
    fail "the installed milter.conf does not listen on unix:$sock"
setpriv --reuid="$name" --regid="$name" --init-groups -- \
    /usr/sbin/$name -c "$work/milter-postfix.conf" >"$work/daemon-postfix.log" 2>&1 &
daemon=$!
for _ in $(seq 50); do
    [ -S "$sock" ] && grep -q 'starting version=' "$work/daemon-postfix.log" && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.2
done
[ -S "$sock" ] || {
    cat "$work/daemon-postfix.log" >&2
    fail "the milter (as $name) did not make $sock"
}
[ "$(stat -c '%U:%G %a' "$sock")" = "$name:$name 660" ] ||
    fail "$sock is $(stat -c '%U:%G %a' "$sock"), expected $name:$name 660 ([milter] umask = 117)"
echo "ok: the milter listens on $sock ($name:$name 660)"

postfix start >"$work/postfix-start.log" 2>&1 || {
    cat "$work/postfix-start.log" >&2
    fail "postfix start"
}
master=$(tr -d ' ' </var/spool/postfix/pid/master.pid)
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null && break
    sleep 0.2
done
send() {
    swaks --server 127.0.0.1:25 --helo deb-check.dsm.test --from deb-check@dsm.test \
        --timeout 30 "$@" 2>&1 || true
}

# 1. A recipient the milter defers (mandatory DANE, no DNS here): only the
# milter gives this reply, through smtpd's chroot and the socket.
out=$(send --to user@dane.dsm.test --quit-after RCPT)
grep -qE '^<\*\* +4[0-9][0-9] 4\.[0-9.]+ dane\.dsm\.test: connector "deb_check_dane"' <<<"$out" || {
    printf '%s\n' "$out" >&2
    cat "$work/daemon-postfix.log" >&2
    fail "RCPT to user@dane.dsm.test did not get the milter's deferral"
}
grep -qF 'rcpt=<user@dane.dsm.test> domain=dane.dsm.test connector=deb_check_dane' "$work/daemon-postfix.log" ||
    fail "the milter did not log its decision for user@dane.dsm.test"
grep -q 'milter-reject: RCPT from .*<user@dane.dsm.test>' "$maillog" || {
    cat "$maillog" >&2
    fail "Postfix did not log the milter's deferral"
}
echo "ok: $(grep -E '^<\*\* +4' <<<"$out" | head -n1)"

# 2. A recipient the milter accepts: the message is queued with the verdict
# header the milter added.
out=$(send --to user@none.dsm.test --header 'Subject: deb_check')
id=$(sed -n 's/^<- *250 .*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$out")
[ -n "$id" ] || {
    printf '%s\n' "$out" >&2
    cat "$work/daemon-postfix.log" >&2
    fail "the message to user@none.dsm.test was not queued"
}
queued+=("$id")
grep -qF 'rcpt=<user@none.dsm.test> domain=none.dsm.test connector=deb_check_none' "$work/daemon-postfix.log" ||
    fail "the milter did not log its decision for user@none.dsm.test"
header=$(postcat -h -q "$id" | grep '^X-DANE-STS-Verdict:' || true)
[ -n "$header" ] || {
    postcat -h -q "$id" >&2
    fail "queued message $id has no X-DANE-STS-Verdict header"
}
echo "ok: queued as $id with $header"

# 3. The control: a socket smtpd may not open (0600) gives Postfix's
# milter_default_action (tempfail), not the milter's answer.
chmod 0600 "$sock"
out=$(send --to user@none.dsm.test --quit-after RCPT)
grep -qE '^<\*\* +451 4\.7\.1 ' <<<"$out" || {
    printf '%s\n' "$out" >&2
    fail "with the socket 0600, Postfix did not tempfail"
}
grep -qF 'connect to Milter service unix:dane-sts-milter/milter.sock: Permission denied' "$maillog" || {
    cat "$maillog" >&2
    fail "with the socket 0600, Postfix did not log the failed milter connection"
}
chmod 0660 "$sock"
echo "ok: with the socket 0600 Postfix tempfails: $(grep -E '^<\*\* +451' <<<"$out" | head -n1)"

postfix_restore
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
daemon=
[ "$rc" -eq 0 ] || fail "the milter exited $rc after SIGTERM"
etc_after=$(etc_manifest)
[ "$etc_after" = "$etc_before" ] || {
    diff <(printf '%s\n' "$etc_before") <(printf '%s\n' "$etc_after") >&2 || true
    fail "/etc/postfix is not as it was"
}
rm -rf "$varwork"
varwork=
echo "ok: Postfix stopped, its queue and /etc/postfix as they were, the milter stopped ($((SECONDS - t0)) s)"

step "reinstall: the administrator's configuration and dpkg-statoverride stay"
echo "# changed by deb_check" >>/etc/$name/milter.conf
override=yes
dpkg-statoverride --update --add root "$name" 0770 "$spool"
dpkg -i "$deb" >/dev/null
[ "$(tail -n1 /etc/$name/milter.conf)" = '# changed by deb_check' ] ||
    fail "reinstalling replaced the changed conffile"
[ "$(stat -c '%U:%G %a' "$spool")" = "root:$name 770" ] ||
    fail "reinstalling overrode dpkg-statoverride on $spool: $(stat -c '%U:%G %a' "$spool")"
dpkg-statoverride --remove "$spool"
override=no
chown "$name:$name" "$spool"
chmod 0750 "$spool"
echo "ok"

step "remove: the program goes, the configuration stays"
dpkg --remove "$name" >/dev/null
[ "$(status)" = "deinstall ok config-files" ] || fail "after remove: $(status)"
[ ! -e /usr/sbin/$name ] || fail "/usr/sbin/$name is left after remove"
[ -f /etc/$name/milter.conf ] || fail "remove deleted the configuration"
echo "ok"

step "purge"
dpkg --purge "$name"
installed=no
case $(status) in
    *installed* | *config-files*) fail "still there after purge: $(status)" ;;
esac
for f in /usr/sbin/$name /etc/$name /lib/systemd/system/$name.service /var/lib/$name \
    /usr/share/man/man8/$name.8 "$spool"; do
    [ ! -e "$f" ] || fail "$f is left after purge"
done
# Kept on purpose (contrib/debian/postrm): its uid must not pass to another
# account while files it owned may remain elsewhere.
echo "ok: purged (the system account $name stays, as Debian recommends)"
echo "PASS"
