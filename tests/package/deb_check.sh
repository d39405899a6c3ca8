#!/bin/bash
# The Debian package, for real (SPEC §8; README "Running it in production"):
# build it with cpack from an existing build directory, check its control
# data, install it with dpkg, check what the administrator gets (the account,
# the files, `-n` on the installed configuration, the unit, the daemon
# starting and stopping as its user), reinstall over a changed conffile,
# purge it and check that it is gone.
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
for tool in cpack dpkg-deb dpkg-shlibdeps file systemd-analyze man; do
    command -v "$tool" >/dev/null ||
        fail "$tool not found (Debian: dpkg-dev, file, systemd, man-db; contrib/scripts/bootstrap test installs them)"
done
status() { dpkg-query -W -f='${Status}' "$name" 2>/dev/null || true; }
if [[ "$(status)" == *"ok installed"* ]]; then
    fail "$name is already installed here; this check would remove it"
fi

work=$(mktemp -d)
installed=no
daemon=
cleanup() {
    [ -z "$daemon" ] || kill "$daemon" 2>/dev/null || true
    [ "$installed" = no ] || dpkg --purge "$name" >/dev/null 2>&1 || true
    rm -rf "$work"
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
for f in /usr/sbin/$name /etc/$name/milter.conf /lib/systemd/system/$name.service; do
    [ -f "$f" ] || fail "$f missing"
done
{ man -w 8 "$name" && man -w 5 milter.conf; } >/dev/null || fail "man pages not found by man"
/usr/sbin/$name --version
echo "ok: user, group, state directory, files"

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

step "reinstall: the administrator's configuration stays"
echo "# changed by deb_check" >>/etc/$name/milter.conf
dpkg -i "$deb" >/dev/null
[ "$(tail -n1 /etc/$name/milter.conf)" = '# changed by deb_check' ] ||
    fail "reinstalling replaced the changed conffile"
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
    /usr/share/man/man8/$name.8; do
    [ ! -e "$f" ] || fail "$f is left after purge"
done
# Kept on purpose (contrib/debian/postrm): its uid must not pass to another
# account while files it owned may remain elsewhere.
echo "ok: purged (the system account $name stays, as Debian recommends)"
echo "PASS"
