#!/usr/bin/env bash
# Start a throw-away redis-server for the Redis store tests on ADDR:PORT,
# keeping its files in DIR.  Usage: start.sh DIR PORT [ADDR|net]
# ADDR defaults to 127.0.0.1 (tests that start their own, on a free port);
# `net` is this run's test-bed network, NET.50.1 (../net.sh), where the
# ctest fixture's Redis listens.
#
# No persistence (--save '' --appendonly no): every start is empty.  Leaves
# DIR/redis.pid and DIR/redis.log.  Returns once `redis-cli ping` answers
# PONG (at most 10 s), so tests never wait with a fixed sleep.
set -euo pipefail

die() { echo "start.sh: $*" >&2; exit 1; }
[[ ($# -eq 2 || $# -eq 3) && -n $1 && $2 =~ ^[0-9]+$ ]] || die "usage: $0 DIR PORT [ADDR|net]"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p -- "$1"
dir=$(cd -- "$1" && pwd)
port=$2
addr=${3:-127.0.0.1}
if [[ $addr == net ]]; then
    # shellcheck source=../net.sh
    . "$here/../net.sh"
    addr=$(tb_net "$dir/..").50.1 || die "no test-bed network"
fi

# A server left over from an earlier run in DIR still holds the port.
"$here/stop.sh" "$dir"

if redis-cli -h "$addr" -p "$port" ping >/dev/null 2>&1; then
    die "something else already answers on $addr:$port"
fi
rm -f -- "$dir/redis.log"

redis-server --port "$port" --bind "$addr" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log"

for _ in $(seq 1 200); do
    if [[ $(redis-cli -h "$addr" -p "$port" ping 2>/dev/null) == PONG ]]; then
        exit 0
    fi
    sleep 0.05
done
tail -n 20 -- "$dir/redis.log" >&2 2>/dev/null || true
die "redis-server on $addr:$port did not answer within 10 s"
