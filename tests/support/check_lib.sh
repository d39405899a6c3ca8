# Shared helpers of the shell checks (tests/milter/*.sh): source it, then use
# ok/bad for results and `finish` as the last command.
#   ok TEXT / bad TEXT   count and print one result line
#   finish               prints the totals; exit status 0 only if nothing failed
#   free_port            a TCP port on 127.0.0.1 that nothing listens on now
#   knot_queries DNSDIR ZONE
#                        how many queries for ZONE the DNS test bed's knotd
#                        has answered since it started (mod-stats)
passed=0 failed=0
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
