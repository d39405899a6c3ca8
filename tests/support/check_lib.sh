# shellcheck shell=bash disable=SC2154  # bin, testbed, work: set by the caller
# Shared helpers of the shell checks (tests/milter/*.sh): source it, then use
# ok/bad for results and `finish` as the last command.
#   ok TEXT / bad TEXT   count and print one result line
#   finish               prints the totals; exit status 0 only if nothing failed
#   free_port            a TCP port on 127.0.0.1 that nothing listens on now
#   milter_conf / start_milter / stop_milter / run_milter   a milter for the
#                        test beds (below); stop_started ends all of them
#   milter_rcpt, rcpt_to, rcpt_timed   RCPTs over the milter protocol (below)
#   map_query PORT KEY   Postfix's postmap against a policy map on 127.0.0.1
#   wait_until SECONDS CMD... / wait_log FILE PATTERN [SECONDS] / now_ms
#   wait_listening PID SECONDS WHERE...   until sockets take connections
#   tail_logs FILE...    the last lines of each, for a failed run
#   start_redis DIR PORT / stop_redis DIR   a private redis-server (test bed)
#   start_mock_dns NAME ADDR MODE...       tests/support/mock_dns.py (below)
#   knot_queries DNSDIR ZONE
#                        how many queries for ZONE the DNS test bed's knotd
#                        has answered since it started (mod-stats)
#   TB_NET               this run's test-bed network, 127.N (tests/testbed/
#                        net.sh), set here when the caller has set $testbed
# The caller sets bin (the milter binary), testbed and work (its own
# directory) before using the milter helpers.
passed=0 failed=0
# The tools of Debian's packages (bootstrap installs them: python3 with
# python3-prometheus-client, postmap, knotc...) come first, ahead of what a
# user's PATH puts before them: a pyenv shim costs ~0.5 s per python3 start,
# and these checks start python3 hundreds of times.
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
# shellcheck source=../testbed/net.sh
. "$(dirname "${BASH_SOURCE[0]}")/../testbed/net.sh"
check_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
started_pids=()
if [ -n "${testbed:-}" ]; then
    TB_NET=$(tb_net_of "$testbed") || exit 1
fi
ok()  { echo "ok: $1"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1"; failed=$((failed + 1)); }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
knot_queries() {
    local out
    out=$(cd "$1" && knotc -s knot.sock zone-stats "$2." mod-stats.server-operation) ||
        { echo "knotc-failed"; return; }
    awk -F' = ' '/\[query\]/ { n = $2 } END { print n + 0 }' <<<"$out"
}

# milter_conf FILE [SECTION.KEY=VALUE...] [-]
#   Writes a milter.conf for the test beds to FILE (the caller sets $testbed):
#   [milter] on inet:$milter_port@127.0.0.1 (a free port chosen here unless
#   milter_port is set), logging at info to milter.log beside FILE; [resolver]
#   on the DNS test bed; [sts] with the HTTPS test bed's CA and port; [cache]
#   store = memory. Each SECTION.KEY=VALUE sets that key (an empty VALUE
#   removes it). With "-", more sections come from stdin (connectors,
#   [policy_map]...); without a connector there (or a connector.default.KEY
#   given), one opportunistic connector, default, covers every domain.
milter_conf() {
    local file=$1
    shift
    milter_port=${milter_port:-$(free_port)}
    local extra='' arg overrides=()
    for arg; do
        if [ "$arg" = - ]; then extra=$(cat); else overrides+=("$arg"); fi
    done
    python3 - "$file" "${testbed:-}" "$milter_port" "$extra" "${TB_NET:-}" "${overrides[@]}" <<'PY'
import sys
path, testbed, port, extra, net = sys.argv[1:6]
overrides = sys.argv[6:]
dirname = path.rsplit("/", 1)[0]
conf = {
    "milter": {"socket": f"inet:{port}@127.0.0.1", "log_level": "info",
               "log_target": f"file:{dirname}/milter.log"},
    "resolver": {"trust_anchor_file": f"{testbed}/dns/test.ds", "stub_zones": f"test.={net}.10.53"},
    "sts": {"ca_file": f"{testbed}/https/ca.crt", "https_port": "8443"},
    "cache": {"store": "memory"},
}
for o in overrides:
    key, _, value = o.partition("=")
    section, _, name = key.rpartition(".")
    if value:
        conf.setdefault(section, {})[name] = value
    else:
        conf.get(section, {}).pop(name, None)
if "[connector." not in extra and "connector.default" not in conf:
    extra += "\n[connector.default]\nrecipient_domains = *\nmode = opportunistic\n"
with open(path, "w") as f:
    for section, keys in conf.items():
        f.write(f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    f.write(extra.strip("\n") + "\n")
PY
}

# run_milter NAME [SECTION.KEY=VALUE...] [-]
#   milter_conf $work/NAME.conf on a fresh milter port, logging to
#   $work/NAME.log (a later milter.log_target wins), then start_milter on it.
#   Sets NAME_mport (its milter port) and, through start_milter, NAME_pid.
#   Returns 1 if it did not start.
run_milter() {
    local name=$1
    shift
    milter_port=$(free_port)
    milter_conf "$work/$name.conf" "milter.log_target=file:$work/$name.log" "$@" || return 1
    printf -v "${name}_mport" %s "$milter_port"
    start_milter "$work/$name.conf"
}

# start_milter CONF [ARGS...]
#   Starts "$bin" -c CONF ARGS in the background (its stdout and stderr
#   appended to NAME.stderr beside CONF, NAME.conf's name without .conf; with
#   stderr_closed=yes, stderr is a pipe whose reader has gone), sets
#   milter_pid and NAME_pid and waits up to 15 s until every socket of CONF
#   takes connections: [milter] socket, [policy_map] listen, [metrics] listen
#   and [control] socket, inet or unix. Returns 1, with stderr shown, if it
#   did not.
start_milter() {
    local conf=$1 name
    shift
    name=$(basename "$conf" .conf)
    if [ "${stderr_closed:-no}" = yes ]; then
        "$bin" -c "$conf" "$@" 2> >(exit 0) >/dev/null &
    else
        "$bin" -c "$conf" "$@" >>"${conf%.conf}.stderr" 2>&1 &
    fi
    milter_pid=$!
    track "$milter_pid"
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && printf -v "${name}_pid" %s "$milter_pid"
    wait_listening "$milter_pid" 15 "conf:$conf" && return 0
    echo "start_milter: $conf did not start:" >&2
    cat "${conf%.conf}.stderr" >&2 2>/dev/null
    return 1
}

# wait_listening PID SECONDS WHERE...: true once every WHERE takes
# connections: tcp:HOST:PORT, unix:PATH, or conf:FILE for every socket of a
# milter.conf; 1 at once when PID has gone, or after SECONDS.
wait_listening() {
    python3 - "$@" <<'PY'
import os, re, socket, sys, time
pid, timeout, targets = int(sys.argv[1]), float(sys.argv[2]), []
def add(value):
    if value.startswith(("unix:", "local:")):
        targets.append((socket.AF_UNIX, value.split(":", 1)[1]))
    elif m := re.fullmatch(r"inet6?:(\d+)(?:@(.*))?", value):  # libmilter's inet:PORT@HOST
        targets.append((socket.AF_INET, (m[2] or "127.0.0.1", int(m[1]))))
    elif m := re.fullmatch(r"(?:inet:|tcp:)?(.*):(\d+)", value):  # HOST:PORT
        targets.append((socket.AF_INET, (m[1], int(m[2]))))
def add_conf(path):
    section, wanted = "", {"milter.socket", "policy_map.listen", "metrics.listen", "control.socket"}
    for line in open(path):
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        if sep and f"{section}.{key.strip()}" in wanted:
            add(value.strip())
for where in sys.argv[3:]:
    add_conf(where[5:]) if where.startswith("conf:") else add(where)
def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
end = time.monotonic() + timeout
while time.monotonic() < end and alive():
    for family, addr in targets:
        try:
            with socket.socket(family) as s:
                s.settimeout(1)
                s.connect(addr)
        except OSError:
            break
    else:
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
PY
}

# stop_milter [NAME]: SIGTERM to NAME_pid (without NAME, $milter_pid) and
# its exit status (0 when none runs).
stop_milter() {
    local var=milter_pid
    [ -z "${1:-}" ] || var=${1}_pid
    local pid=${!var:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    printf -v "$var" %s ""
    [ "$pid" != "${milter_pid:-}" ] || milter_pid=
    return "$rc"
}

# track PID: stop_started ends PID too (a helper process of the test).
track() { started_pids+=("$1"); }

# stop_started: SIGTERM to every milter (and mock) started here that still
# runs, and waits for each; for the EXIT traps.
stop_started() {
    local p
    for p in "${started_pids[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    started_pids=() milter_pid=
}

# milter_rcpt [--every S --for S] PORT RCPT...: one milter session
# (tests/support/milter_rcpt.py): "RCPT CODE TEXT" per recipient.
milter_rcpt() { python3 "$check_lib_dir/milter_rcpt.py" "$@"; }
# rcpt_to PORT DOMAIN...: RCPT TO <user@DOMAIN> for each, in one session;
# per domain "DOMAIN CODE [TEXT]" ('c' accept, or the SMTP code and text).
rcpt_to() {
    local port=$1 d to=()
    shift
    for d; do to+=("user@$d"); done
    milter_rcpt "$port" "${to[@]}" 2>&1 | sed 's/^user@//'
}
# rcpt_timed PORT DOMAIN [EVERY FOR]: "MS DOMAIN CODE [TEXT]", MS how long
# the RCPT alone took (measured by the client); once, or every EVERY s for
# FOR s in one session (a line each).
rcpt_timed() {
    milter_rcpt --every "${3:-1}" --for "${4:-0}" "$1" "user@$2" 2>&1 | sed 's/ user@/ /'
}

# map_query PORT KEY: Postfix's postmap asks the policy map on
# 127.0.0.1:PORT (a private, empty main.cf in $work/postfix keeps the
# machine's out of it); its output and messages.
map_query() {
    [ -f "$work/postfix/main.cf" ] ||
        { mkdir -p "$work/postfix" && printf 'compatibility_level = 3.6\n' >"$work/postfix/main.cf"; }
    postmap -c "$work/postfix" -q "$2" "socketmap:inet:127.0.0.1:$1:postfix" 2>&1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_until SECONDS CMD...: until CMD succeeds (polled every 0.1 s); 1 if it
# never did.
wait_until() {
    local end
    end=$(($(now_ms) + $(awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }')))
    shift
    while (($(now_ms) < end)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
# wait_log FILE PATTERN [SECONDS]: until a line of FILE matches the grep
# PATTERN (10 s unless said).
wait_log() { wait_until "${3:-10}" grep -q -- "$2" "$1" 2>/dev/null; }

# tail_logs FILE...: the last 60 lines of each file that is not empty.
tail_logs() {
    local f
    for f; do
        [ -s "$f" ] || continue
        echo "===== $f (last 60 lines) ====="
        tail -n 60 -- "$f"
    done
}

# start_redis DIR PORT: a private redis-server (tests/testbed/redis) on
# 127.0.0.1:PORT, its files in DIR; stop_redis DIR stops it (by its pid file).
start_redis() { "$check_lib_dir/../testbed/redis/start.sh" "$1" "$2" >/dev/null; }
stop_redis() { "$check_lib_dir/../testbed/redis/stop.sh" "$1" >/dev/null 2>&1; }

# start_mock_dns NAME ADDR MODE...: tests/support/mock_dns.py on ADDR (UDP
# and TCP, a free port) in front of the DNS test bed's knotd; MODE is
# "--relay", "--slow SECONDS" or "--faults RELAY_FILE". Its port goes to
# $work/NAME.port and $mock_dns_port, its pid to $mock_dns_pid, the count of
# answers it made slow or faulty to $work/NAME.count. stop_started ends it.
# Returns 1 if it did not start.
start_mock_dns() {
    local name=$1 addr=$2
    shift 2
    python3 "$check_lib_dir/mock_dns.py" "$@" "$addr" "$TB_NET.10.53" "$work/$name.port" \
        "$work/$name.count" 2>"$work/$name.stderr" &
    mock_dns_pid=$!
    track "$mock_dns_pid"
    wait_until 5 test -s "$work/$name.port"
    mock_dns_port=$(cat "$work/$name.port" 2>/dev/null)
    [[ $mock_dns_port =~ ^[0-9]+$ ]] && return 0
    echo "start_mock_dns: $name did not start: $(cat "$work/$name.stderr")" >&2
    return 1
}

# run_part NAME CMD [ARGS...]: CMD (a function of the test, one part of it
# independent of the others) in a subshell in the background, its output to
# $work/NAME.part; the milters and mocks it starts are its own (stopped when
# it ends or is stopped: stop_started stops the part too). NAME must do as a
# shell variable name. tally_part NAME [SECONDS]: waits for the part (until
# SECONDS after its start, 100 by default: less than the tests' ctest
# TIMEOUT, so that a hung part is stopped and shows what it did, instead of
# ctest killing the test with nothing printed), prints its output and counts
# its ok/FAIL lines here (a part that did not end is a failure).
run_part() {
    local name=$1
    shift
    rm -f "$work/$name.part" "$work/$name.part-done"
    (
        started_pids=() milter_pid='' passed=0 failed=0
        trap stop_started EXIT
        trap 'exit 1' INT TERM
        "$@"
        : >"$work/$name.part-done"
    ) >"$work/$name.part" 2>&1 &
    printf -v "part_${name}_pid" %s "$!"
    printf -v "part_${name}_start" %s "$SECONDS"
    track "$!"
}
tally_part() {
    local name=$1 var="part_${1}_pid" limit=${2:-100} start="part_${1}_start"
    local deadline=$((${!start} + limit))
    while kill -0 "${!var}" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if kill -0 "${!var}" 2>/dev/null; then
        bad "part $name still running ${limit} s after its start: stopped (its output follows)"
        # Its trap (stop_started) runs once its current command ends: end
        # that command (and what the part started) too, by parent pid.
        kill -TERM "${!var}" 2>/dev/null
        pkill -TERM -P "${!var}" 2>/dev/null
    fi
    wait "${!var}" 2>/dev/null
    cat "$work/$name.part"
    passed=$((passed + $(grep -c '^ok:' "$work/$name.part")))
    failed=$((failed + $(grep -c '^FAIL:' "$work/$name.part")))
    [ -e "$work/$name.part-done" ] || bad "part $name did not run to its end"
}
