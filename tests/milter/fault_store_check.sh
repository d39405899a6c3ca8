#!/bin/bash
# SPEC §6 "a store that fails (file unwritable, Redis down) never stops mail:
# log, count in metrics, carry on in memory, reconnect", with real parts: a
# real SQLite file on a real (tmpfs) file system, a real redis-server, RCPTs
# over the milter protocol, DNS from the test bed. Faults:
#   1. disk full under the SQLite store (a 256 KiB tmpfs, filled up);
#   2. the SQLite file deleted, then written over with garbage, while the
#      milter runs (it must notice and write to a usable file at the path
#      again, or every verdict since would be gone at the next start);
#   3. Redis killed (SIGKILL) in the middle of a burst of writes, and
#      restarted;
#   4. Redis answering slowly (CLIENT PAUSE on the real server).
# Throughout, every RCPT is answered as SPEC §4 says (DANE opportunistic
# dane-ok.test accepted; mandatory connector: notlsa.test and a domain of
# the non-existent zone mand.test `450 4.7.4 ... (dane-required)`; bogus.test
# `450 4.7.5 ... (dnssec-invalid)`), within lookup_timeout_ms, the fault is
# logged key=value (store=... store_state=failed ...) and, when it goes away,
# the store works again (store_state=recovered, new verdicts land in it).
# No mock: every fault is produced on the real file system or server.
# shellcheck disable=SC2154 # NAME_pid, NAME_mport, NAME_port: set with printf -v
set -uo pipefail
bin=$1 testbed=$2 work=$3 srcdir=$4
# A tmpfs of our own size needs root (ctest skips the test otherwise: 77).
[[ $(id -u) == 0 ]] || { echo "SKIP: mounting a tmpfs needs root"; exit 77; }
[[ -d $work/full ]] && umount "$work/full" 2>/dev/null
rm -rf "$work" && mkdir -p "$work/full" "$work/db"
# shellcheck source=../support/check_lib.sh
. "$srcdir/tests/support/check_lib.sh"

mounted=no redis_port=$(free_port)
cleanup() {
    stop_started
    stop_redis "$work/redis"
    [[ $mounted == yes ]] && umount "$work/full"
}
trap cleanup EXIT
# A signal (ctest's timeout, ^C) ends the script through the EXIT trap too.
trap 'exit 1' INT TERM

# start NAME STORE [DNS-ADDRESS]: ${TB_NET}.10.54 has no server (DNS down).
start() {
    run_milter "$1" resolver.stub_zones="test.=${3:-${TB_NET}.10.53}" resolver.timeout_ms=1000 \
        cache.store="$2" rcpt.lookup_timeout_ms=2500 \
        connector.partners.recipient_domains="notlsa.test, *.mand.test" connector.partners.mode=mandatory ||
        bad "$1 did not start: $(cat "$work/$1.stderr")"
}
# rcpt NAME DOMAIN... -> "DOMAIN CODE [TEXT]" per recipient
rcpt() {
    local v="${1}_mport"
    shift
    rcpt_to "${!v}" "$@"
}
# expect_answers NAME WHAT TAG: fresh and cached domains answered as SPEC §4
# says, every one within lookup_timeout_ms (2500) plus slack. TAG makes the
# mandatory domain a fresh one (a cache miss: a lookup, store read included).
expect_answers() {
    local name=$1 what=$2 fresh="m$3.mand.test" t0 took got want
    t0=$(now_ms)
    got=$(rcpt "$name" dane-ok.test notlsa.test bogus.test "$fresh")
    took=$(($(now_ms) - t0))
    want="dane-ok.test c
notlsa.test 450 450 4.7.4 notlsa.test: * (dane-required)
bogus.test 450 450 4.7.5 bogus.test: * (dnssec-invalid)
$fresh 450 450 4.7.4 $fresh: * (dane-required)"
    # shellcheck disable=SC2053
    if [[ $got == $want ]] && ((took < 4000)); then
        ok "$what: RCPTs answered as SPEC §4 says in $took ms (accept; 4.7.4 dane-required x2; 4.7.5 dnssec-invalid)"
    else
        bad "$what: RCPTs in $took ms: $(tr '\n' '|' <<<"$got")"
    fi
}
in_sqlite() { # FILE DOMAIN: the verdict of DOMAIN is in FILE
    [[ -f $1 ]] && [[ $(sqlite3 "file:$1?mode=ro" "SELECT count(*) FROM verdicts WHERE domain = '$2'" 2>/dev/null) == 1 ]]
}
logged() { grep -q -- "$2" "$work/$1.log"; }

# The three parts run at once (each its own milters and store); their
# results are printed in order.
# --- 1. disk full under SQLite -------------------------------------------------
mount -t tmpfs -o size=256k tmpfs "$work/full" && mounted=yes ||
    { bad "cannot mount a tmpfs (root needed)"; finish; exit 1; }
part_full() {
    db=$work/full/cache.db
    start a "sqlite:$db"
    expect_answers a "sqlite, disk not full" 1
    wait_until 5 in_sqlite "$db" m1.mand.test && ok "sqlite: verdicts written while there is room" ||
        bad "sqlite: m1.mand.test never reached $db"
    dd if=/dev/zero of="$work/full/filler" bs=4k 2>/dev/null
    df_left=$(df --output=avail -B1 "$work/full" | tail -1 | tr -d ' ')
    ((df_left == 0)) && ok "the file system of $db is full" || bad "$df_left bytes still free"
    # A burst of fresh verdicts: the write-behind's writes hit ENOSPC.
    for i in 2 3; do expect_answers a "sqlite, disk full (round $i)" "$i"; done
    wait_until 8 logged a "store=sqlite:$db store_state=failed .*error=\"[^\"]*full" &&
        ok "disk full: logged: $(grep -o 'store=sqlite.*store_state=failed.*' "$work/a.log" | head -1)" ||
        bad "disk full: no store_state=failed line: $(tail -3 "$work/a.log")"
    kill -0 "$a_pid" 2>/dev/null && ok "disk full: the milter keeps running" || bad "disk full: the milter died"
    rm "$work/full/filler"
    recovered=no
    for i in $(seq 10 40); do
        rcpt a "m$i.mand.test" >/dev/null
        if wait_until 1 in_sqlite "$db" "m$i.mand.test"; then recovered=yes; break; fi
    done
    [[ $recovered == yes ]] && logged a "store=sqlite:$db store_state=recovered" &&
        ok "room again: the store recovered by itself, m$i.mand.test written" ||
        bad "room again: no recovery ($(tail -2 "$work/a.log"))"
    stop_milter a
    [[ $(sqlite3 "$db" 'PRAGMA integrity_check') == ok ]] && ok "after the disk was full: $db passes integrity_check" ||
        bad "after the disk was full: $db: $(sqlite3 "$db" 'PRAGMA integrity_check' 2>&1 | head -2)"
}

# --- 2. the SQLite file deleted, then written over -----------------------------
part_file() {
    db=$work/db/cache.db
    start c "sqlite:$db"
    expect_answers c "sqlite" 50
    wait_until 5 in_sqlite "$db" m50.mand.test || bad "m50.mand.test never reached $db"
    rm -f "$db" "$db-wal" "$db-shm"
    expect_answers c "sqlite, file deleted" 51
    wait_until 5 in_sqlite "$db" m51.mand.test &&
        ok "deleted: a new $db holds the verdicts decided since" ||
        bad "deleted: m51.mand.test not in a file at $db (ls: $(ls "$work/db"))"
    logged c "store=sqlite:$db store_state=reopening reason=\"the file was removed\"" &&
        ok "deleted: logged store_state=reopening reason=\"the file was removed\"" ||
        bad "deleted: not logged: $(tail -2 "$work/c.log")"
    head -c 65536 /dev/urandom >"$db"  # same inode, garbage
    expect_answers c "sqlite, file written over" 52
    wait_until 5 in_sqlite "$db" m52.mand.test &&
        [[ $(sqlite3 "file:$db?mode=ro" 'PRAGMA integrity_check') == ok ]] &&
        ok "garbage: $db is a sound database again, holding the verdicts decided since" ||
        bad "garbage: m52.mand.test not in a sound $db: $(sqlite3 "file:$db?mode=ro" 'PRAGMA integrity_check' 2>&1 | head -1)"
    logged c "store=sqlite:$db store_state=reopening reason=\"the file was written over" &&
        ok "garbage: logged $(grep -o 'store_state=reopening reason="the file was written.*' "$work/c.log" | head -1)" ||
        bad "garbage: not logged: $(tail -3 "$work/c.log")"
    stop_milter c
    # A restart with DNS down answers m52.mand.test from the file: it survived.
    start d "sqlite:$db" ${TB_NET}.10.54
    got=$(rcpt d m52.mand.test)
    [[ $got == "m52.mand.test 450 450 4.7.4 m52.mand.test: "*"(dane-required)" ]] &&
        ok "after a restart with DNS down, m52.mand.test is answered from the store" ||
        bad "after a restart with DNS down: '$got'"
    stop_milter d
}

# --- 3. Redis killed mid-write, restarted ----------------------------------------
part_redis() {
    start_redis "$work/redis" "$redis_port" ||
        { bad "redis did not start"; return; }
    rkeys() { redis-cli -p "$redis_port" --raw KEYS "*$1*" 2>/dev/null | grep -q .; }
    start r "redis://127.0.0.1:$redis_port/0"
    expect_answers r "redis" 100
    wait_until 5 rkeys m100.mand.test && ok "redis: verdicts written" || bad "redis: m100.mand.test not in Redis"
    # A burst of 40 fresh domains in one session; SIGKILL to Redis in the middle.
    burst=()
    for i in $(seq 101 140); do burst+=("user@m$i.mand.test"); done
    milter_rcpt "$r_mport" "${burst[@]}" >"$work/burst.out" 2>&1 &
    burst_pid=$!
    for _ in $(seq 1 100); do rkeys m105.mand.test && break; sleep 0.05; done
    kill -9 "$(cat "$work/redis/redis.pid")"
    wait "$burst_pid"
    n=$(grep -c ' 450 4.7.4 .*(dane-required)$' "$work/burst.out")
    ((n == 40)) && ok "redis killed mid-burst: all 40 RCPTs answered 450 4.7.4 (dane-required)" ||
        bad "redis killed mid-burst: $n of 40 answered right: $(grep -v 'dane-required' "$work/burst.out" | head -2)"
    expect_answers r "redis down" 150
    wait_until 5 logged r "store=redis://127.0.0.1:$redis_port/0 store_state=failed" &&
        ok "redis down: logged: $(grep -o 'store=redis.*store_state=failed.*' "$work/r.log" | head -1)" ||
        bad "redis down: no store_state=failed line"
    start_redis "$work/redis" "$redis_port"
    recovered=no
    for i in $(seq 151 190); do
        rcpt r "m$i.mand.test" >/dev/null
        if wait_until 1 rkeys "m$i.mand.test"; then recovered=yes; break; fi
    done
    [[ $recovered == yes ]] && wait_until 2 logged r "store=redis.*store_state=recovered" &&
        ok "redis back: writes resumed (m$i.mand.test), store_state=recovered logged" ||
        bad "redis back: no writes ($(tail -2 "$work/r.log"))"

    # --- 4. Redis answering slowly ---------------------------------------------------
    # CLIENT PAUSE ALL holds every command of every client for 2 s (the store's
    # budget is 300 ms a read): RCPTs on a miss read the store first; they must
    # not wait for it beyond its budget.
    before=$(grep -c 'store_state=failed' "$work/r.log")
    redis-cli -p "$redis_port" CLIENT PAUSE 2000 ALL >/dev/null
    expect_answers r "redis paused" 200
    expect_answers r "redis paused" 201
    wait_until 3 test "$(grep -c 'store_state=failed' "$work/r.log")" -gt "$before" &&
        ok "redis slow: logged: $(grep -o 'store=redis.*store_state=failed.*' "$work/r.log" | tail -1)" ||
        bad "redis slow: no new store_state=failed line"
    # Until the pause ends: a PING of our own is held as long as the pause lasts.
    timeout 5 redis-cli -p "$redis_port" PING >/dev/null
    recovered=no
    for i in $(seq 202 240); do
        rcpt r "m$i.mand.test" >/dev/null
        if wait_until 1 rkeys "m$i.mand.test"; then recovered=yes; break; fi
    done
    [[ $recovered == yes ]] && ok "redis quick again: writes resumed (m$i.mand.test)" ||
        bad "redis quick again: no writes ($(tail -2 "$work/r.log"))"
    kill -0 "$r_pid" 2>/dev/null && ok "redis faults: the milter keeps running" || bad "the milter died"
}

run_part full part_full
run_part file part_file
run_part redis part_redis
tally_part full
tally_part file
tally_part redis
finish
