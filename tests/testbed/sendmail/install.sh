#!/usr/bin/env bash
# Makes a Sendmail 8.17 daemon available to the test bed without installing
# the sendmail-bin package, which conflicts with postfix (TESTBED.md "Sendmail
# 8.17 without the sendmail package"):
#   - installs sendmail-cf (the m4 macros) and m4 with apt, if missing;
#   - downloads sendmail-bin of the same version (apt-get download) and
#     extracts it (dpkg-deb -x) into CACHE/sendmail-bin/<version>, outside the
#     repository (CACHE: $DSM_TESTBED_CACHE, default /var/cache/dsm-testbed);
#   - installs the shared libraries that binary links against, if missing.
# Idempotent (and safe to run concurrently: it holds a lock); runs
# `apt-get update` only when apt has no package lists to download from.
# Prints the absolute path of the daemon binary
# (.../usr/libexec/sendmail/sendmail) on stdout and nothing else there;
# apt's output goes to stderr.  Needs root.  Exit status 0, or 2 when
# Sendmail cannot be made available.
set -euo pipefail

die() { echo "sendmail/install.sh: $*" >&2; exit 2; }
[[ $# -eq 0 ]] || die "usage: $0 (no arguments)"
cache=${DSM_TESTBED_CACHE:-/var/cache/dsm-testbed}
((EUID == 0)) || die "must run as root (apt-get, dpkg-deb into $cache)"

export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

updated=no
apt_update() {
    [[ $updated == yes ]] && return 0
    apt-get update >&2 || die "apt-get update failed"
    updated=yes
}

# apt-get install, retried once after `apt-get update` (a fresh machine may
# have no lists yet, or stale ones).
apt_install() {
    local missing=() p
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
        apt_update
        apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
            die "apt-get install ${missing[*]} failed"
    fi
}

mkdir -p -- "$cache"
exec 9>"$cache/.sendmail-install.lock"
flock 9

apt_install sendmail-cf m4
# sendmail-bin depends on exactly this version of sendmail-cf.
version=$(dpkg-query -W -f='${Version}' sendmail-cf)
[[ -n $version ]] || die "cannot tell the version of sendmail-cf"
dest=$cache/sendmail-bin/$version
daemon=$dest/usr/libexec/sendmail/sendmail

if [[ ! -x $daemon ]]; then
    tmp=$(mktemp -d "$cache/.sendmail-bin.XXXXXX")
    trap 'rm -rf -- "$tmp"' EXIT
    # apt-get download writes into the current directory; as root, apt drops
    # to _apt for the download, which must be able to write there.
    chmod 755 "$tmp"
    if id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
    if ! (cd "$tmp" && apt-get download "sendmail-bin=$version" >&2); then
        apt_update
        (cd "$tmp" && apt-get download "sendmail-bin=$version" >&2) ||
            die "apt-get download sendmail-bin=$version failed"
    fi
    debs=("$tmp"/sendmail-bin_*.deb)
    [[ -f ${debs[0]} ]] || die "apt-get download left no sendmail-bin_*.deb"
    mkdir -p "$tmp/root"
    dpkg-deb -x "${debs[0]}" "$tmp/root" || die "dpkg-deb -x ${debs[0]} failed"
    dpkg-deb -f "${debs[0]}" Depends >"$tmp/root/.depends"
    [[ -x $tmp/root/usr/libexec/sendmail/sendmail ]] ||
        die "${debs[0]} has no usr/libexec/sendmail/sendmail"
    mkdir -p -- "$(dirname "$dest")"
    rm -rf -- "$dest"
    mv -- "$tmp/root" "$dest"
fi

# The libraries sendmail-bin depends on (its Depends, minus the sendmail-*
# packages themselves, which would conflict with postfix): usually present.
if ldd "$daemon" | grep -q 'not found'; then
    deps=()
    IFS=',' read -ra fields <"$dest/.depends"
    for f in "${fields[@]}"; do
        f=${f%%|*}            # first of alternatives
        f=${f%%(*}            # no version constraint
        f=${f//[[:space:]]/}
        [[ -n $f && $f != sendmail-* ]] && deps+=("$f")
    done
    apt_install "${deps[@]}"
    if ldd "$daemon" | grep -q 'not found'; then
        die "$daemon still misses libraries: $(ldd "$daemon" | grep 'not found' | tr -s ' \t\n' ' ')"
    fi
fi

echo "$daemon"
