#!/usr/bin/env bash
# The peer of the cold-verdict benchmark: Debian's `unbound-host` (the same
# libunbound, validating from the same trust anchor) looking up the TLSA
# RRset of every MX host of bench_zone.sh's domains, 64 processes at a time.
# Usage: unbound_host_peer.sh DIR [JOBS]    (DIR as given to bench_zone.sh)
#
# Prints one line: names=N secure=S seconds=T names_per_s=R
# where `secure` counts TLSA answers that validated (must equal N).
#
# Each name is one process with a cold context: it validates one TLSA lookup
# (plus the zone's DNSKEY) where a verdict of ours is four lookups sharing
# one warm DNSKEY. The two figures are names per second either way; what
# each name costs differs, which is the point of comparing them.
set -euo pipefail

die() { echo "unbound_host_peer.sh: $*" >&2; exit 1; }
[[ $# -ge 1 && -n $1 ]] || die "usage: $0 DIR [JOBS]"
dir=$(cd -- "$1" && pwd)
jobs=${2:-64}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "JOBS must be a positive number"
[[ -s $dir/domains.txt && -s $dir/bench.ds ]] || die "$dir holds no bench zone (bench_zone.sh)"

# What the milter's resolver does (TESTBED.md): query loopback, reach the
# stub zone under `test.` past Unbound's built-in local zone for it.
cat >"$dir/unbound-host.conf" <<EOF
server:
    do-not-query-localhost: no
    trust-anchor-file: "$dir/bench.ds"
    local-zone: "test." nodefault
stub-zone:
    name: "bench.test."
    stub-addr: 127.0.11.53@53
EOF

names=$(wc -l <"$dir/domains.txt")
out=$dir/unbound-host.out
start=$(date +%s.%N)
# -v prints "(secure)" for answers that validated.
sed 's/^/_25._tcp.mx./' "$dir/domains.txt" |
    xargs -P "$jobs" -n 1 unbound-host -v -C "$dir/unbound-host.conf" -t TLSA >"$out" 2>&1 ||
    true  # a failed lookup shows up as a missing "(secure)" below
end=$(date +%s.%N)

secure=$(grep -c 'has TLSA record .*(secure)$' "$out" || true)
awk -v n="$names" -v s="$secure" -v a="$start" -v b="$end" 'BEGIN {
    t = b - a
    printf "names=%d secure=%d seconds=%.3f names_per_s=%.0f\n", n, s, t, n / t
}'
