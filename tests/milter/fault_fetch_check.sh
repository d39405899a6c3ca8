#!/bin/bash
# Faults of an MTA-STS policy host (RFC 8461 §3.3: the fetch is bounded by a
# body limit of 64 KiB and by timeouts; SPEC §4: a policy that cannot be had,
# with nothing cached, is sts=error, and row 12 accepts it, require=none),
# with real parts over the milter protocol: our own nginx (the HTTPS test
# bed's certificates and test CA) on ${TB_NET}.30.1, a free port ([sts]
# https_port), where the DNS test bed points every mta-sts.<domain>:
#   - sts-enforce.test: the whole response, status line and headers included,
#     trickles at 1 byte/s (nginx limit_rate; ~4 minutes in all);
#   - sts-drip.test: headers at once, then the body at 1 byte/s (~6 minutes);
#   - sts-big.test: a body without end: 1 GiB (sparse), sent chunked with no
#     Content-Length (nginx SSI drops it), so only counting the octets read
#     stops it;
#   - sts-idchange.test: trickles while a marker file exists; then the marker
#     goes and the TXT id changes (§3.3: a new id is fetched again): the
#     policy is fetched and enforced - the milter recovers.
# Each octet arrives well within any per-read timeout, so only a deadline
# for the whole fetch (fetch_timeout_ms = 2000) ends the trickles in time;
# the milter must say sts=error within that (plus slack), keep answering
# every RCPT meanwhile (other domains at once; the faulty ones within
# lookup_timeout_ms, accepted per row 12), and log each failure key=value.
# No mock: nginx produces every fault here.
set -uo pipefail
bin=$1 testbed=$2 work=$3 srcdir=$4
rm -rf "$work" && mkdir -p "$work"
# shellcheck source=../support/check_lib.sh
. "$srcdir/tests/support/check_lib.sh"

addr=${TB_NET}.30.1
https=$testbed/https
nginx_started=no
cleanup() {
    stop_milter
    [[ $nginx_started == yes ]] && "$srcdir/tests/testbed/https/stop.sh" "$work/nginx" >/dev/null 2>&1
    # Other tests expect sts-idchange.test's TXT record as the test bed serves it.
    "$srcdir/tests/testbed/dns/set-txt.sh" "$testbed/dns" _mta-sts.sts-idchange.test \
        "v=STSv1; id=1;" >/dev/null 2>&1
}
trap cleanup EXIT
# A signal (ctest's timeout, ^C) ends the script through the EXIT trap too.
trap 'exit 1' INT TERM

# --- our nginx --------------------------------------------------------------
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('$addr',0)); print(s.getsockname()[1])")
mkdir -p "$work/nginx/tmp" "$work/www"
for d in sts-enforce sts-drip sts-idchange; do
    mkdir -p "$work/www/$d/.well-known"
    cp "$https/www/mta-sts.$d.test/.well-known/mta-sts.txt" "$work/www/$d/.well-known/"
done
mkdir -p "$work/www/sts-big/.well-known"
truncate -s 1G "$work/www/sts-big/.well-known/mta-sts.txt"
touch "$work/www/sts-idchange/slow"
user_line=
[[ $(id -u) -eq 0 ]] && user_line="user $(id -un) $(id -gn);"
server() { # DOMAIN EXTRA
    cat <<EOF
    server {
        listen $addr:$port ssl;
        server_name mta-sts.$1.test;
        ssl_certificate $https/certs/mta-sts.$1.test.crt;
        ssl_certificate_key $https/certs/mta-sts.$1.test.key;
        root $work/www/$1;
        location = /.well-known/mta-sts.txt {
            sendfile off;
            etag off;
            $2
        }
    }
EOF
}
cat >"$work/nginx/nginx.conf" <<EOF
$user_line
daemon on;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log notice;
events { worker_connections 64; }
http {
    types { }
    default_type text/plain;
    open_file_cache off;
    log_format f '\$ssl_server_name "\$request" "\$http_user_agent" \$status \$body_bytes_sent \$request_time';
    access_log $work/nginx/access.log f;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
$(server sts-enforce 'limit_rate 1;')
$(server sts-drip 'limit_rate_after 256; limit_rate 1;')
$(server sts-big 'ssi on; ssi_types text/plain;')
$(server sts-idchange 'if (-f $document_root/slow) { limit_rate 1; }')
}
EOF
nginx -p "$work/nginx/" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" \
    </dev/null >"$work/nginx/nginx.out" 2>&1 && nginx_started=yes ||
    { bad "nginx did not start: $(cat "$work/nginx/nginx.out" "$work/nginx/error.log")"; finish; exit 1; }
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null && break; sleep 0.1; done
# The endless body really has no length: chunked, and more than 64 KiB.
got=$(curl -sk --max-time 3 --resolve "mta-sts.sts-big.test:$port:$addr" -D "$work/big.head" \
    "https://mta-sts.sts-big.test:$port/.well-known/mta-sts.txt" 2>/dev/null | head -c 200000 | wc -c)
head=$(tr -d '\r' <"$work/big.head")
[[ $head == *"Transfer-Encoding: chunked"* && $head != *Content-Length* ]] && ((got == 200000)) &&
    ok "nginx: sts-big.test sends a chunked body without Content-Length, more than 64 KiB" ||
    bad "nginx: sts-big.test headers: $head; $got octets"

# --- the milter -------------------------------------------------------------
milter_conf "$work/milter.conf" resolver.timeout_ms=1000 sts.https_port="$port" \
    sts.fetch_timeout_ms=2000 cache.error_ttl=1 cache.min_ttl=1 rcpt.lookup_timeout_ms=1000
mport=$milter_port
start_milter "$work/milter.conf" || bad "the milter starts"

decision() { grep "domain=\"\?$1\"\? " "$work/milter.log" | tail -1; }

# rcpt_ms DOMAIN -> "MS CODE": the answer to RCPT TO <user@DOMAIN> and how
# long it took, measured by the client around the RCPT alone.
rcpt_ms() { rcpt_timed "$mport" "$1" | awk '{ print $1, $3 }'; }

# fault DOMAIN OUTCOME MIN_MS MAX_MS: the first RCPT is answered within
# lookup_timeout_ms (1000 ms; the fetch goes on in the background), accepted;
# the fetch gives up after MIN_MS..MAX_MS by its own clock (took_ms of the
# key=value line, with OUTCOME), and the verdict is then sts=error,
# accepted, require=none (row 12). Without a deadline for the whole fetch
# the trickles would take minutes.
fault() {
    local d=$1 outcome=$2 min=$3 max=$4 ms code line fetch_line took
    read -r ms code <<<"$(rcpt_ms "$d")"
    [[ $code == c ]] && awk -v m="$ms" 'BEGIN { exit !(m < 1600) }' &&
        ok "$d: the first RCPT answered in $ms ms, accepted (row 12)" ||
        bad "$d: the first RCPT: '$code' in $ms ms"
    for _ in $(seq 1 40); do
        fetch_line=$(grep "sts_fetch=failed domain=$d " "$work/milter.log" | tail -1)
        [[ -n $fetch_line ]] && break
        sleep 0.2
    done
    took=$(grep -o 'took_ms=[0-9]*' <<<"$fetch_line" | cut -d= -f2)
    [[ $fetch_line == *"outcome=$outcome "* && $took =~ ^[0-9]+$ ]] && ((took >= min && took <= max)) &&
        ok "$d: the fetch gave up after $took ms ($min..$max), logged: ${fetch_line#*: }" ||
        bad "$d: no 'sts_fetch=failed ... outcome=$outcome' after $min..$max ms: '$fetch_line'"
    rcpt_to "$mport" "$d" >/dev/null
    line=$(decision "$d")
    [[ $line == *"sts=error require=none action=accept"* ]] &&
        ok "$d: then sts=error, accepted, require=none" || bad "$d: then: $line"
}

# tally FILE...: print the ok/FAIL lines a check wrote (in a subshell) and
# count them.
tally() {
    local f
    for f; do
        cat "$f"
        passed=$((passed + $(grep -c '^ok:' "$f")))
        failed=$((failed + $(grep -c '^FAIL:' "$f")))
    done
}

# The four faults at once (each its own domain; printed in order after);
# while the trickles run, every other RCPT is answered at once.
fault sts-enforce.test timeout 1900 2600 >"$work/enforce.out" &
f1=$!
fault sts-drip.test timeout 1900 2600 >"$work/drip.out" &
f2=$!
fault sts-big.test too-large 0 1000 >"$work/big.out" &
f3=$!
fault sts-idchange.test timeout 1900 2600 >"$work/idchange.out" &
f4=$!
sleep 0.5
read -r ms code <<<"$(rcpt_ms dane-ok.test)"
[[ $code == c ]] && awk -v m="$ms" 'BEGIN { exit !(m < 1000) }' &&
    ok "during the trickles, dane-ok.test answered in $ms ms: accepted" ||
    bad "during the trickles, dane-ok.test: '$code' in $ms ms"
wait "$f1" "$f2" "$f3" "$f4"
tally "$work/enforce.out" "$work/drip.out" "$work/big.out"
# The endless body was cut short: nginx sent only some hundreds of KiB of it
# (its line is logged once the milter has closed the connection).
big_sent() { awk '$1 == "mta-sts.sts-big.test" && /dane-sts-milter/ { print $(NF - 1) }' "$work/nginx/access.log" | sort -n | tail -1; }
big_logged() { [[ -n $(big_sent) ]]; }
wait_until 3 big_logged
sent=$(big_sent)
[[ $sent =~ ^[0-9]+$ ]] && ((sent < 16 * 1024 * 1024)) &&
    ok "sts-big.test: the milter stopped reading after $sent of 1073741824 octets" ||
    bad "sts-big.test: nginx sent '$sent' octets"

# --- recovery ---------------------------------------------------------------
tally "$work/idchange.out"
rm "$work/www/sts-idchange/slow"
"$srcdir/tests/testbed/dns/set-txt.sh" "$testbed/dns" _mta-sts.sts-idchange.test "v=STSv1; id=2;" >/dev/null
recovered=no
for _ in $(seq 1 40); do
    rcpt_to "$mport" sts-idchange.test >/dev/null
    [[ $(decision sts-idchange.test) == *"sts=enforce"*"require=sts action=accept"* ]] && { recovered=yes; break; }
    sleep 0.25
done
[[ $recovered == yes ]] && ok "recovered: the host answers normally again, sts-idchange.test is enforced (require=sts)" ||
    bad "no recovery: $(decision sts-idchange.test)"
kill -0 "$milter_pid" 2>/dev/null && ok "the milter is still running" || bad "the milter died"
finish
