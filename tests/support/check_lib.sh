# Shared helpers of the shell checks (tests/milter/*.sh): source it, then use
# ok/bad for results and `finish` as the last command.
#   ok TEXT / bad TEXT   count and print one result line
#   finish               prints the totals; exit status 0 only if nothing failed
#   free_port            a TCP port on 127.0.0.1 that nothing listens on now
#   milter_conf / start_milter / stop_milter   a milter for the test beds (below)
#   knot_queries DNSDIR ZONE
#                        how many queries for ZONE the DNS test bed's knotd
#                        has answered since it started (mod-stats)
#   TB_NET               this run's test-bed network, 127.N (tests/testbed/
#                        net.sh), set here when the caller has set $testbed
passed=0 failed=0
# shellcheck source=../testbed/net.sh
. "$(dirname "${BASH_SOURCE[0]}")/../testbed/net.sh"
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

# milter_conf FILE [-] [SECTION.KEY=VALUE...]
#   Writes a milter.conf for the test beds to FILE (the caller sets $testbed):
#   [milter] on inet:$milter_port@127.0.0.1 (a free port chosen here unless
#   milter_port is set), logging at info to milter.log beside FILE; [resolver]
#   on the DNS test bed; [sts] with the HTTPS test bed's CA and port; [cache]
#   store = memory. Each SECTION.KEY=VALUE sets that key (an empty VALUE
#   removes it). With "-", more sections come from stdin (connectors,
#   [policy_map]...); without a connector there, one opportunistic connector
#   covers every domain.
milter_conf() {
    local file=$1
    shift
    milter_port=${milter_port:-$(free_port)}
    local extra=
    if [ "${1:-}" = - ]; then
        extra=$(cat)
        shift
    fi
    python3 - "$file" "$testbed" "$milter_port" "$extra" "$TB_NET" "$@" <<'PY'
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
if "[connector." not in extra:
    extra += "\n[connector.default]\nrecipient_domains = *\nmode = opportunistic\n"
with open(path, "w") as f:
    for section, keys in conf.items():
        f.write(f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
    f.write(extra.strip("\n") + "\n")
PY
}

# start_milter CONF [ARGS...]
#   Starts "$bin" -c CONF ARGS in the background (stderr to stderr beside
#   CONF), sets milter_pid and waits up to 10 s until its [milter] socket
#   (inet) takes connections. Returns 1, with stderr shown, if it did not.
start_milter() {
    local conf=$1
    shift
    "$bin" -c "$conf" "$@" 2>"${conf%/*}/stderr" &
    milter_pid=$!
    local port
    port=$(sed -n 's/^socket = inet:\([0-9]*\)@.*/\1/p' "$conf" | head -1)
    for _ in $(seq 1 100); do
        kill -0 "$milter_pid" 2>/dev/null || break
        if [ -z "$port" ] || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "start_milter: $conf did not start:" >&2
    cat "${conf%/*}/stderr" >&2
    return 1
}

# stop_milter: SIGTERM to $milter_pid and its exit status (0 when none runs).
stop_milter() {
    [ -n "${milter_pid:-}" ] || return 0
    kill -TERM "$milter_pid" 2>/dev/null
    local rc=0
    wait "$milter_pid" 2>/dev/null || rc=$?
    milter_pid=
    return "$rc"
}
