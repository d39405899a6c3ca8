#!/bin/bash
# contrib/sendmail/dane-sts-milter.mc (SPEC §8), expanded by Sendmail's own
# m4 macros (package sendmail-cf) inside a minimal sendmail.mc: the generated
# sendmail.cf must declare the filter with the shipped socket, F=T (tempfail
# when the milter is down) and every timeout, and enable it.
# usage: sendmail_snippet_check.sh SOURCE_DIR
set -euo pipefail
src=$1
snippet=$src/contrib/sendmail/dane-sts-milter.mc
conf=$src/conf/milter.conf
cfdir=/usr/share/sendmail/cf
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
command -v m4 >/dev/null || fail "m4 not found (Debian: apt-get install m4)"
[ -f "$cfdir/m4/cf.m4" ] || fail "$cfdir/m4/cf.m4 not found (Debian: apt-get install sendmail-cf)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/test.mc" <<MC
divert(-1)
include(\`$cfdir/m4/cf.m4')
divert(0)dnl
OSTYPE(\`linux')dnl
DOMAIN(\`generic')dnl
include(\`$snippet')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
MC
if ! m4 "$tmp/test.mc" >"$tmp/sendmail.cf" 2>"$tmp/m4.err" || [ -s "$tmp/m4.err" ]; then
    cat "$tmp/m4.err" >&2
    fail "m4 failed on a sendmail.mc including the snippet"
fi

socket=$(sed -n 's/^socket[ \t]*=[ \t]*//p' "$conf")
[ -n "$socket" ] || fail "conf/milter.conf has no [milter] socket"
want="Xdane-sts-milter, S=$socket, F=T, T=C:10s;S:30s;R:60s;E:2m"
got=$(grep '^Xdane-sts-milter' "$tmp/sendmail.cf" || true)
[ "$got" = "$want" ] || fail "sendmail.cf has '$got', expected '$want'"
grep -qx 'O InputMailFilters=dane-sts-milter' "$tmp/sendmail.cf" ||
    fail "sendmail.cf does not enable the filter (O InputMailFilters=dane-sts-milter)"
echo "ok: $got"
