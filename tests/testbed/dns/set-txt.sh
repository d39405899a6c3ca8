#!/usr/bin/env bash
# Replace the TXT RRset of NAME in the running DNS test bed of DIR (started by
# start.sh DIR).  Usage: set-txt.sh DIR NAME [TEXT...]
#
#   set-txt.sh DIR _mta-sts.sts-idchange.test "v=STSv1; id=2;"
#
# Each TEXT becomes one TXT record (split into 255-octet character-strings if
# longer; printable ASCII only); with no TEXT the RRset is deleted.  TTL of
# the new records: $TTL, default 1 s (so a resolver sees the next change soon).
# Done through knotd's control socket as one transaction (zone-begin, unset,
# set, commit); knot re-signs signed zones itself, so the answer stays secure.
# Returns once knotd serves the zone's new serial.  The change lives in knotd's
# memory only: the next start.sh serves the zone files again.
set -euo pipefail
export LC_ALL=C  # lengths in octets

die() { echo "set-txt.sh: $*" >&2; exit 1; }
[[ $# -ge 2 && -n $1 && -n $2 ]] || die "usage: $0 DIR NAME [TEXT...]"
dir=$1
name=${2,,}
name=${name%.}.
shift 2
ttl=${TTL:-1}
[[ $ttl =~ ^[0-9]+$ ]] || die "TTL must be a number of seconds, not '$ttl'"

conf=$dir/knot.conf
[[ -f $conf && -S $dir/knot.sock ]] ||
    die "no knot.conf or control socket in $dir: is the DNS test bed running there?"

# The zone holding NAME: the longest zone of knot.conf that NAME is in, with
# how it is signed ("signed" by knot, "presigned" by ldns-signzone, "unsigned").
zone='' kind=''
while read -r z k; do
    if [[ $name == "$z" || $name == *."$z" ]] && ((${#z} > ${#zone})); then
        zone=$z kind=$k
    fi
done < <(awk '
    /^zone:/ { inzone = 1; next }
    inzone && $1 == "-" && $2 == "domain:" { if (d != "") print d, k; d = $3; k = "unsigned"; next }
    inzone && $1 == "template:" && $2 == "signed" { k = "signed" }
    inzone && $1 == "file:" { k = "presigned" }
    END { if (d != "") print d, k }' "$conf")
[[ -n $zone ]] || die "$name is in no zone of $conf"
[[ $kind != presigned ]] ||
    die "$zone is pre-signed (ldns-signzone) and knot would not re-sign it"

listen=$(awk '$1 == "listen:" { print $2; exit }' "$conf")
addr=${listen%@*} port=${listen##*@}

# The control socket is named relative to DIR (see start.sh).
k() { (cd "$dir" && knotc -s knot.sock "$@"); }

serial() {
    kdig +tcp +retry=0 +timeout=1 +short @"$addr" -p "$port" SOA "$zone" | awk '{ print $3; exit }'
}
old_serial=$(serial)
[[ $old_serial =~ ^[0-9]+$ ]] || die "knotd at $listen does not answer SOA $zone"

# One TEXT in zone-file syntax: quoted character-strings of <= 255 octets.
rdata() {
    local t=$1 out='' chunk
    while :; do
        chunk=${t:0:255}
        t=${t:255}
        chunk=${chunk//\\/\\\\}
        chunk=${chunk//\"/\\\"}
        out+="${out:+ }\"$chunk\""
        [[ -n $t ]] || break
    done
    printf '%s' "$out"
}
for t in "$@"; do
    [[ $t =~ ^[[:print:]]*$ ]] || die "TEXT must be printable ASCII: '$t'"
done

k zone-begin "$zone" >/dev/null
committed=
trap '[[ -n $committed ]] || k zone-abort "$zone" >/dev/null 2>&1 || true' EXIT
# zone-unset fails when there is nothing to remove.
if k zone-get "$zone" "$name" TXT >/dev/null 2>&1; then
    k zone-unset "$zone" "$name" TXT >/dev/null
fi
for t in "$@"; do
    k zone-set "$zone" "$name" "$ttl" TXT "$(rdata "$t")" >/dev/null
done
k zone-commit "$zone" >/dev/null
committed=1

# knot bumps the serial (and signs) on commit; wait until that is served.
deadline=$((SECONDS + 5))
until new_serial=$(serial) && [[ $new_serial =~ ^[0-9]+$ && $new_serial != "$old_serial" ]]; do
    ((SECONDS < deadline)) || die "$zone still serves serial $old_serial after the commit"
    sleep 0.05
done
echo "$name TXT replaced in $zone ($kind, serial $old_serial -> $new_serial): $# record(s)"
