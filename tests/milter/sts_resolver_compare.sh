#!/usr/bin/env bash
# SPEC §7: the policy map's `secure match=... servername=hostname` answer is
# the one postfix-mta-sts-resolver gives.  Asks both daemons, through
# Postfix's own socketmap client (postmap), about every MTA-STS-only domain of
# the test bed (zones.txt: an `sts=` expectation and DomainDane `none`) and
# compares the answers (the match= list order-insensitively).
#
# They must agree, except where the spec makes the milter stricter than the
# resolver; for those the exact answer of each is asserted (KNOWN below), so
# a change on either side fails this test too.
#
# postfix-mta-sts-resolver (Debian's `mta-sts-daemon`) resolves through
# /etc/resolv.conf (c-ares, getaddrinfo) and trusts the system CA store: it
# runs in a private mount namespace whose /etc/resolv.conf is the unbound test
# bed's, with SSL_CERT_FILE = the HTTPS test bed's CA.  It always fetches
# https://mta-sts.DOMAIN/ on port 443 (no port setting); the HTTPS test bed
# listens on ${TB_NET}.30.1:8443, so a small TCP relay (started and stopped here
# by pid) listens on ${TB_NET}.30.1:443 for the duration of the test.
#
# Usage: sts_resolver_compare.sh MILTER_BINARY TESTBED_DIR WORK_DIR
# Needs the dns, https and unbound test beds.  Exit status: 0 when every
# check passed, 1 when some failed, 2 when the test could not run.
set -euo pipefail

die() { echo "sts_resolver_compare.sh: $*" >&2; exit 2; }
[[ $# -eq 3 && -n $1 && -n $2 && -n $3 ]] ||
    die "usage: $0 MILTER_BINARY TESTBED_DIR WORK_DIR"
[[ $(id -u) -eq 0 ]] || die "needs root (unshare -m, mount --bind, port 443)"

bin=$(realpath -- "$1")
testbed=$(realpath -- "$2")
[[ -x $bin && -f $bin ]] || die "no milter binary at $1"
# ok, bad, finish, milter_conf, start_milter, tail_logs,
# wait_listening; TB_NET, this run's test-bed network (for $testbed).
# shellcheck source=../support/check_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/check_lib.sh"
readonly HTTPS_ADDR=${TB_NET}.30.1 HTTPS_PORT=8443
readonly START_TIMEOUT=20 STOP_TIMEOUT=20
for f in dns/test.ds dns/zones.txt https/ca.crt unbound/resolv.conf; do
    [[ -s $testbed/$f ]] || die "no $testbed/$f: are the dns, https and unbound test beds up?"
done
for tool in mta-sts-daemon postmap python3 unshare mount; do
    command -v "$tool" >/dev/null ||
        die "$tool is not installed (apt-get install postfix-mta-sts-resolver postfix util-linux)"
done
mkdir -p -- "$3"
work=$(cd -- "$3" && pwd)
[[ $work != / ]] || die "refusing to use / as WORK_DIR"
started_at=$SECONDS

# --- processes: started by us, stopped by pid ---------------------------------------
# running, cmdline_has, stop_pid, pid_from: shared with the test beds.
. "$(dirname "${BASH_SOURCE[0]}")/../testbed/lib.sh"

milter_pid=
resolver_pid=
relay_pid=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_pid mta-sts-daemon "$resolver_pid" relay "$relay_pid" dane-sts-milter "$milter_pid"
    ((rc == 0)) || tail_logs "$work/milter.stderr" "$work/milter.log" "$work/resolver.out" \
        "$work/resolver.log" "$work/relay.out"
    echo "run time: $((SECONDS - started_at)) s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of an earlier run in WORK (killed before its trap could run).
stop_pid mta-sts-daemon "$(pid_from "$work/resolver.pid" "$work")"
stop_pid relay "$(pid_from "$work/relay.pid" "$work")"
stop_pid dane-sts-milter "$(pid_from "$work/milter.pid" "$work")"
find "$work" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +

accepts() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
! accepts "$HTTPS_ADDR" 443 || die "$HTTPS_ADDR:443 is already in use"
# Three free ports in one python3 (all bound at once, so they differ).
read -r milter_port map_port resolver_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
[[ $milter_port != "$map_port" && $map_port != "$resolver_port" &&
   $milter_port != "$resolver_port" ]] || die "free ports collided; run again"
wait_accepts() { # WHAT ADDR PORT PID
    wait_listening "$4" "$START_TIMEOUT" "tcp:$2:$3" && return 0
    echo "sts_resolver_compare.sh: $1 not listening on $2:$3 (exited, or not within ${START_TIMEOUT} s)" >&2
    return 1
}

# --- 1. ${TB_NET}.30.1:443 -> the HTTPS test bed on :8443 -----------------------------------
# A plain TCP relay: TLS stays end to end between the resolver and nginx.
cat >"$work/relay.py" <<'EOF'
"""TCP relay LISTEN_ADDR LISTEN_PORT TARGET_ADDR TARGET_PORT PIDFILE (test only)."""
import asyncio, os, signal, sys

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()

async def main():
    laddr, lport, taddr, tport, pidfile = sys.argv[1:6]
    async def handle(cr, cw):
        try:
            ur, uw = await asyncio.open_connection(taddr, int(tport))
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, uw), pipe(ur, cw))
    server = await asyncio.start_server(handle, laddr, int(lport), reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    async with server:
        await stop.wait()

asyncio.run(main())
EOF
python3 "$work/relay.py" "$HTTPS_ADDR" 443 "$HTTPS_ADDR" "$HTTPS_PORT" "$work/relay.pid" \
    </dev/null >"$work/relay.out" 2>&1 &
relay_pid=$!

# --- 2. postfix-mta-sts-resolver in its own mount namespace -------------------------------
cat >"$work/mta-sts-daemon.yml" <<EOF
# Written by tests/milter/sts_resolver_compare.sh
host: 127.0.0.1
port: $resolver_port
# reuse_port: false fails in 1.1.2 (responder.py never sets its socket
# options then); the port is a fresh free one anyway.
reuse_port: true
shutdown_timeout: 2
cache:
  type: internal
  options:
    cache_size: 1000
default_zone:
  strict_testing: false
  timeout: 4
  require_sni: true
EOF
# unshare and sh exec in place: the pid stays mta-sts-daemon's.
SSL_CERT_FILE=$testbed/https/ca.crt unshare -m --propagation private sh -c \
    'mount --bind "$1" /etc/resolv.conf && exec mta-sts-daemon -c "$2" -l "$3" -v debug' \
    sh "$testbed/unbound/resolv.conf" "$work/mta-sts-daemon.yml" "$work/resolver.log" \
    </dev/null >"$work/resolver.out" 2>&1 &
resolver_pid=$!
echo "$resolver_pid" >"$work/resolver.pid"

# --- 3. the milter's policy map, while the two above start --------------------------
mapfile -t domains < <(awk '!/^#/ && $3 ~ /^sts=/ && $2 == "none" { print $1 }' \
    "$testbed/dns/zones.txt")
((${#domains[@]} >= 15)) || die "only ${#domains[@]} MTA-STS-only domains in zones.txt"
printf 'compatibility_level = 3.6\nmyhostname = compare.test\n' >"$work/main.cf"
mkdir -p "$work/answers"
# Every question is Postfix's socketmap client's: postmap -q DOMAIN, one
# process each, its output and messages in answers/DOMAIN.WHO.out (WHO:
# milter or resolver); answers/DOMAIN.WHO is then rc|answer as postmap sees
# it: rc 0 found, 1 not found (NOTFOUND) or a TEMP/PERM failure (postmap says
# why on stderr).
# ask PORT DOMAIN WHO: one question from here, in the background.
declare -A asked=()  # pid -> answers/DOMAIN.WHO
ask() {
    postmap -c "$work" -q "$2" "socketmap:inet:127.0.0.1:$1:postfix" \
        </dev/null >"$work/answers/$2.$3.out" 2>&1 &
    asked[$!]=$work/answers/$2.$3
}
answers() {
    local p rc
    for p in "${!asked[@]}"; do
        rc=0
        wait "$p" || rc=$?
        printf '%s|%s\n' "$rc" "$(<"${asked[$p]}.out")" >"${asked[$p]}"
    done
}
# ask_all PORT DOMAIN WHO [PORT DOMAIN WHO]...: the same for many questions
# at once, all started (in this order) before any is waited for; from one
# python3, which starts processes faster than this shell on a busy machine.
ask_all() {
    python3 - "$work" "$@" <<'PY'
import subprocess, sys
work, args = sys.argv[1], sys.argv[2:]
jobs = []
for port, domain, who in zip(args[0::3], args[1::3], args[2::3]):
    path = f"{work}/answers/{domain}.{who}"
    with open(path + ".out", "w") as out:
        cmd = ["postmap", "-c", work, "-q", domain, f"socketmap:inet:127.0.0.1:{port}:postfix"]
        jobs.append((path, subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT)))
for path, proc in jobs:
    rc = proc.wait()
    with open(path + ".out", errors="surrogateescape") as f:
        text = f.read().rstrip("\n")  # as the shell's $(...)
    with open(path, "w", errors="surrogateescape") as f:
        f.write(f"{rc}|{text}\n")
PY
}
# lookup_timeout_ms longer than any lookup here, so that the first answer is
# the final verdict and never `pending` (SPEC §7); fetch timeout 4 s like the
# resolver's default.
milter_conf "$work/milter.conf" milter.log_level=debug resolver.timeout_ms=3000 \
    sts.https_port="$HTTPS_PORT" sts.fetch_timeout_ms=4000 rcpt.lookup_timeout_ms=20000 \
    policy_map.listen="inet:127.0.0.1:$map_port"
start_milter "$work/milter.conf" </dev/null || exit 2
echo "$milter_pid" >"$work/milter.pid"
echo "dane-sts-milter (pid $milter_pid), policy map on 127.0.0.1:$map_port"
# The slow case (sts-drip.test: the fetch times out after 4 s) to the milter
# now, while the other two start: its wait then overlaps theirs.
for d in "${domains[@]}"; do [[ $d != sts-drip.test ]] || ask "$map_port" "$d" milter; done

wait_accepts "relay" "$HTTPS_ADDR" 443 "$relay_pid" || exit 2
echo "relay (pid $relay_pid) $HTTPS_ADDR:443 -> $HTTPS_ADDR:$HTTPS_PORT"
wait_accepts "mta-sts-daemon" 127.0.0.1 "$resolver_port" "$resolver_pid" || exit 2
echo "mta-sts-daemon (pid $resolver_pid) on 127.0.0.1:$resolver_port"

# --- 4. compare -------------------------------------------------------------------------------
# The match= list sorted, so that only its content counts: every FILE
# (rc|answer) to FILE.norm, in one python3 (not one per answer).
normalize() { # FILE...
    python3 - "$@" <<'PY'
import sys
for path in sys.argv[1:]:
    rc, _, text = open(path).read().rstrip("\n").partition("|")
    words = []
    for w in text.split():
        if w.startswith("match="):
            w = "match=" + ":".join(sorted(w[len("match="):].split(":")))
        words.append(w)
    with open(path + ".norm", "w") as f:
        f.write(rc + "|" + " ".join(words) + "\n")
PY
}

# Where the spec makes the milter differ, and why; both answers exact.
declare -A KNOWN_MILTER KNOWN_RESOLVER WHY
# SPEC §4 row 11 (RFC 8461 §4.1): no MX matches the enforce policy, so the
# milter defers (TEMP); the resolver hands Postfix the patterns, and
# Postfix's own match then fails at delivery.
# (postmap's warning cuts the reply text short, before the result type.)
KNOWN_MILTER[sts-nomatch.test]='^1\|.*temporary error: 4\.7\.5 sts-nomatch\.test: .*no MX host of sts-nomatch\.test matches'
KNOWN_RESOLVER[sts-nomatch.test]='0|secure match=other.example.test servername=hostname'
WHY[sts-nomatch.test]="enforce policy, no eligible MX: the milter defers (SPEC §4 row 11)"
# SPEC §4 strict parsing (RFC 8461 §3.2): an IP literal and a wildcard that
# is not the leftmost label are invalid mx patterns: no policy (sts=error).
KNOWN_MILTER[sts-ipmx.test]='^1\|$'
KNOWN_RESOLVER[sts-ipmx.test]='0|secure match=192.0.2.1 servername=hostname'
WHY[sts-ipmx.test]="mx: 192.0.2.1 is invalid for the milter's strict parser (RFC 8461 §3.2)"
KNOWN_MILTER[sts-midwild.test]='^1\|$'
KNOWN_RESOLVER[sts-midwild.test]='0|secure match=mail.*.sts-midwild.test servername=hostname'
WHY[sts-midwild.test]="mx: mail.*.sts-midwild.test is invalid for the milter's strict parser"

echo "comparing ${#domains[@]} MTA-STS-only domains (rc|answer; rc 1 = NOTFOUND or TEMP):"
agreed=0
enforce_agreed=0
# Every domain of both daemons at once, as an MTA's parallel deliveries
# would ask: the slow cases (sts-drip.test: the fetch times out) then cost
# their time once, not one after the other. Each daemon answers each domain
# by itself; the answers are compared afterwards.
# sts-drip.test is asked first (the milter was asked already): its wait
# then overlaps the start of the other queries.
questions=()
for d in "${domains[@]}"; do [[ $d != sts-drip.test ]] || questions+=("$resolver_port" "$d" resolver); done
for d in "${domains[@]}"; do
    [[ $d != sts-drip.test ]] || continue
    questions+=("$resolver_port" "$d" resolver "$map_port" "$d" milter)
done
ask_all "${questions[@]}"
answers
normalize "$work/answers/"*.milter "$work/answers/"*.resolver
for d in "${domains[@]}"; do
    m=$(<"$work/answers/$d.milter.norm")
    r=$(<"$work/answers/$d.resolver.norm")
    printf '  %-20s milter:   %s\n  %-20s resolver: %s\n' "$d" "$m" "" "$r"
    if [[ -n ${KNOWN_MILTER[$d]-} ]]; then
        if [[ $m =~ ${KNOWN_MILTER[$d]} && $r == "${KNOWN_RESOLVER[$d]}" ]]; then
            ok "$d: differs as the spec says (${WHY[$d]})"
        else
            bad "$d: expected milter ~ /${KNOWN_MILTER[$d]}/ and resolver '${KNOWN_RESOLVER[$d]}'"
        fi
    elif [[ $m == "$r" ]]; then
        ok "$d: same answer"
        agreed=$((agreed + 1))
        [[ $m != 0\|secure* ]] || enforce_agreed=$((enforce_agreed + 1))
    else
        bad "$d: answers differ"
    fi
done
# The comparison means something only if the enforce answers were among
# those that agreed (a pair of daemons that found nothing would agree too).
if ((enforce_agreed >= 3)); then
    ok "$enforce_agreed 'secure match=' answers among the $agreed that agreed"
else
    bad "only $enforce_agreed 'secure match=' answers agreed (expected sts-enforce, sts-wild, sts-idchange, sts-insecure)"
fi
running "$resolver_pid" && ok "mta-sts-daemon still running" || bad "mta-sts-daemon died"
running "$milter_pid" && ok "dane-sts-milter still running" || bad "dane-sts-milter died"

finish
