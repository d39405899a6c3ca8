#!/usr/bin/env bash
# Start a throw-away redis-server for the Redis store tests on 127.0.0.1:PORT,
# keeping its files in DIR.  Usage: start.sh DIR PORT
#
# No persistence (--save '' --appendonly no): every start is empty.  Leaves
# DIR/redis.pid and DIR/redis.log.  Returns once `redis-cli ping` answers
# PONG (at most 10 s), so tests never wait with a fixed sleep.
set -euo pipefail

die() { echo "start.sh: $*" >&2; exit 1; }
[[ $# -eq 2 && -n $1 && $2 =~ ^[0-9]+$ ]] || die "usage: $0 DIR PORT"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p -- "$1"
dir=$(cd -- "$1" && pwd)
port=$2

# A server left over from an earlier run in DIR still holds the port.
"$here/stop.sh" "$dir"

if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
    die "something else already answers on 127.0.0.1:$port"
fi
rm -f -- "$dir/redis.log"

redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log"

for _ in $(seq 1 200); do
    if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then
        exit 0
    fi
    sleep 0.05
done
tail -n 20 -- "$dir/redis.log" >&2 2>/dev/null || true
die "redis-server on 127.0.0.1:$port did not answer within 10 s"
