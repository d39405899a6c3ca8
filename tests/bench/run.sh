#!/usr/bin/env bash
# Every SPEC §9 benchmark of this directory, each against its peer in the same
# run, in one command:
#
#     tests/bench/run.sh [COUNT]        (COUNT: domains in the cold zone, 5000)
#
# Builds RelWithDebInfo in build-bench/ (beside the source tree), starts the
# benchmark zone (knotd on 127.0.11.53, files in build-bench/bench-zone), runs
# cache_bench, memory_bench and cold_bench (whose peer is unbound-host; once
# per signing algorithm, ECDSA P-256 and RSA-2048), stops knotd, then runs
# mta_bench.sh (Postfix and Sendmail fed by smtp-source: alone, with a
# do-nothing milter, with dane-sts-milter), and prints the figures as a
# markdown table for the README.  Needs root and what the test bed needs
# (knot, unbound-host, postfix, Sendmail: TESTBED.md), about 10 minutes (the
# peer, RSA signing and the MTAs are most of it), and a quiet machine: the
# figures are only as good as the CPU they got, so the load average is printed
# with them.  Benchmarks never run under ctest.
set -euo pipefail

die() { echo "run.sh: $*" >&2; exit 1; }
count=${1:-5000}
[[ $# -le 1 && $count =~ ^[1-9][0-9]*$ ]] || die "usage: $0 [COUNT]"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build-bench
bin=$build/tests/bench
zone=$build/bench-zone

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target cache_bench memory_bench cold_bench \
    dane-sts-milter null_milter >/dev/null ||
    die "build failed: cmake --build $build --target cache_bench memory_bench cold_bench dane-sts-milter null_milter"

rows=$(mktemp)
# Whatever happens, knotd is stopped (by its pid file) and the rows go.
# shellcheck disable=SC2317  # called by the EXIT trap, not unreachable
cleanup() {
    "$root/tests/testbed/dns/stop.sh" "$zone" || true
    rm -f -- "$rows"
}
trap cleanup EXIT

load_before=$(cut -d' ' -f1 /proc/loadavg)
echo "== cache_bench"
"$bin/cache_bench" --rows "$rows"
echo
echo "== memory_bench"
"$bin/memory_bench" --rows "$rows"
echo
# Both signing algorithms: validation (signature checks) is most of a cold
# verdict's CPU, and ECDSA P-256 costs several times RSA-2048 to verify with
# Debian's libunbound (nettle). Each zone: the milter's resolver (default
# contexts) with the peer, then the same resolver with one libunbound context
# (one validating thread) to show what the extra contexts bring.
cold_status=0
for algorithm in ecdsap256sha256 rsasha256; do
    echo "== cold_bench ($count domains, $algorithm)"
    "$here/bench_zone.sh" "$zone" "$count" "$algorithm"
    "$bin/cold_bench" "$zone" --rows "$rows" || cold_status=$?
    echo
    "$bin/cold_bench" "$zone" --rows "$rows" --contexts 1 --no-peer || cold_status=$?
    "$root/tests/testbed/dns/stop.sh" "$zone"
    echo
done
# Behind real MTAs (SPEC §9): its own zone, milters, Postfix and Sendmail,
# all stopped before it returns; its rows join the table below.
echo "== mta_bench (Postfix and Sendmail, smtp-source)"
mta_status=0
"$here/mta_bench.sh" --no-build --rows "$rows" || mta_status=$?
echo
load_after=$(cut -d' ' -f1 /proc/loadavg)

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
libunbound=$(dpkg-query -W -f '${Version}' libunbound8 2>/dev/null || echo '?')
knot=$(dpkg-query -W -f '${Version}' knot 2>/dev/null || echo '?')
echo
echo "Benchmarks (\`tests/bench/run.sh\`), $(date -u +%Y-%m-%d), $(nproc) cores ($cpu),"
echo "load average ${load_before} before and ${load_after} after; libunbound ${libunbound},"
echo "knot ${knot}. Each figure is printed beside its peer's from the same run."
echo
echo "| Benchmark | dane-sts-milter | Peer (same run) | Ours ÷ peer | SPEC §9 target |"
echo "|---|---|---|---|---|"
cat "$rows"
if awk -v l="$load_before" 'BEGIN { exit !(l > 1.0) }'; then
    echo
    echo "run.sh: the machine was busy (load ${load_before}) before the run; the figures" \
        "understate what it can do" >&2
fi
# A cold run with verdicts other than `pass` measured something else, as does
# an MTA run whose messages did not all go through.
((cold_status == 0)) || exit "$cold_status"
exit "$mta_status"
