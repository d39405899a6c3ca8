#!/usr/bin/env bash
# Build the MTA-STS HTTPS test bed from scratch in DIR and start one nginx
# serving every policy on ${TB_NET}.30.1:8443.  Usage: start.sh DIR DNSDIR
#
# DNSDIR is the DNS test bed's directory (tests/testbed/dns/start.sh DNSDIR):
# its zones.txt must list exactly the MTA-STS domains served here.
#
# Leaves behind, under DIR:
#   ca.crt          the test CA ([sts] ca_file); ca.key
#   untrusted-ca.crt/.key   a second CA, deliberately not in ca.crt
#   certs/NAME.{key,crt}    the leaf certificate of each server
#   www/HOST/.well-known/mta-sts.txt   the policies, read from disk per request
#   policies.txt    each domain and the fetch outcome it should get
#   nginx.pid, nginx.conf, error.log, access.log, tmp/
# The cases are described in README.md next to this script.
# shellcheck disable=SC2154 # here, dir, dnsdir, TB_NET: set by testbed_dirs (../lib.sh)
set -euo pipefail

die() { echo "start.sh: $*" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# Sets here, dir, dnsdir and TB_NET.
testbed_dirs "zones.txt" "$@"

readonly ADDR=${TB_NET}.30.1
readonly PORT=8443

# An nginx left over from an earlier run in DIR still holds the address.
"$here/stop.sh" "$dir"

# Anything else on the address: say so plainly, before wiping DIR.  A connect
# to a closed loopback port fails at once.
if (exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null; then
    die "something else already listens on $ADDR:$PORT (another test bed?)"
fi
find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +

certs=$dir/certs
www=$dir/www
mkdir -p "$certs" "$www" "$dir/tmp"

# --- the cases ---------------------------------------------------------------
# Every domain the DNS test bed gives a `sts=` expectation, with the fetch
# outcome (core/sts/policy_fetcher.hpp FetchOutcome names) and, when the body
# arrives, what strict parsing makes of it.  Written to DIR/policies.txt.
policies_txt() {
    cat <<EOF
# domain            fetch                      policy   why (URL: https://mta-sts.<domain>:$PORT/.well-known/mta-sts.txt on $ADDR)
sts-enforce.test    ok                         enforce  mode enforce, mx mx.sts-enforce.test, max_age 86400
sts-wild.test       ok                         enforce  mode enforce, mx *.sts-wild.test, max_age 86400; CRLF line ends
sts-nomatch.test    ok                         enforce  mode enforce, mx other.example.test
sts-testing.test    ok                         testing  mode testing, mx other.example.test
sts-none.test       ok                         none     mode none, no mx line
sts-idchange.test   ok                         enforce  mode enforce, mx mx.sts-idchange.test; tests rewrite www/mta-sts.sts-idchange.test/.well-known/mta-sts.txt
sts-redirect.test   http_status                -        301 to https://mta-sts.sts-redirect.test:$PORT/redirected/mta-sts.txt (which serves a valid enforce policy)
sts-wrongcert.test  certificate_host_mismatch  -        certificate for mta-sts.other.test (from the test CA)
sts-unknownca.test  certificate_not_trusted    -        certificate for the right name from untrusted-ca.crt
sts-404.test        http_status                -        404
sts-html.test       content_type               -        valid enforce policy as text/html
sts-big.test        too_large                  -        71680 bytes: valid enforce policy, then x-padding lines
sts-drip.test       timeout                    -        valid enforce policy + x-padding, 397 bytes: header and first ~50 at once, then 1 byte/s (~6 min)
sts-noversion.test  ok                         invalid  no version line
sts-badmaxage.test  ok                         invalid  max_age: 99999999999
sts-ipmx.test       ok                         invalid  mx: 192.0.2.1
sts-midwild.test    ok                         invalid  mx: mail.*.sts-midwild.test
sts-dane.test       ok                         enforce  mode enforce, mx mx.sts-dane.test (a DANE MX too)
sts-twotxt.test     ok                         enforce  served, but two STSv1 TXT records: never fetched
sts-notxt.test      ok                         enforce  served, but no TXT record: never fetched
sts-nohost.test     dns_error                  -        mta-sts.sts-nohost.test does not exist (NXDOMAIN)
sts-insecure.test   ok                         enforce  mode enforce, mx mx.sts-insecure.test (unsigned zone)
sts-expired.test    certificate_not_trusted    -        certificate for the right name from the test CA, expired in 2020
sts-httpcache.test  ok                         enforce  mode enforce, mx mx.sts-httpcache.test, sent with Cache-Control/Expires/ETag/Last-Modified; tests rewrite it
sts-probe-ok.test         ok                   enforce  mode enforce, mx mx.sts-probe-ok.test (MX on the SMTP test bed)
sts-probe-wrongname.test  ok                   enforce  mode enforce, mx mx.sts-probe-wrongname.test (MX on the SMTP test bed)
sts-probe-expired.test    ok                   enforce  mode enforce, mx mx.sts-probe-expired.test (MX on the SMTP test bed)
sts-probe-untrusted.test  ok                   enforce  mode enforce, mx mx.sts-probe-untrusted.test (MX on the SMTP test bed)
sts-probe-nostarttls.test ok                   enforce  mode enforce, mx mx.sts-probe-nostarttls.test (MX on the SMTP test bed)
sts-probe-refused.test    ok                   enforce  mode enforce, mx mx.sts-probe-refused.test (MX on the SMTP test bed)
sts-probe-testing.test    ok                   testing  mode testing, mx mx.sts-probe-testing.test (MX on the SMTP test bed)
sts-probe-nosan.test      ok                   enforce  mode enforce, mx mx.sts-probe-nosan.test (MX on the SMTP test bed)
sts-probe-wildcard.test   ok                   enforce  mode enforce, mx mx.sts-probe-wildcard.test (MX on the SMTP test bed)
sts-probe-partwild.test   ok                   enforce  mode enforce, mx mx.sts-probe-partwild.test (MX on the SMTP test bed)
EOF
}

# The DNS test bed must describe the same domains.
diff <(awk '$3 ~ /^sts=/ { print $1 }' "$dnsdir/zones.txt" | sort) \
     <(policies_txt | awk '!/^#/ { print $1 }' | sort) >/dev/null ||
    die "the MTA-STS domains of $dnsdir/zones.txt and of this script differ"

# Served by nginx: all but sts-nohost.test, which has no address.
mapfile -t served < <(policies_txt | awk '!/^#/ && $1 != "sts-nohost.test" { print $1 }')

# Policy bodies.  Lines end in LF except where said.
policy() { # MODE MX... (no MX: none); max_age 86400
    local mode=$1 mx; shift
    printf 'version: STSv1\nmode: %s\n' "$mode"
    for mx; do printf 'mx: %s\n' "$mx"; done
    printf 'max_age: 86400\n'
}
put() { # HOST [PATH]; stdin: body
    local f=$www/$1/${2:-.well-known/mta-sts.txt}
    mkdir -p "$(dirname "$f")"
    cat >"$f"
}
policy enforce mx.sts-enforce.test | put mta-sts.sts-enforce.test
policy enforce '*.sts-wild.test' | sed 's/$/\r/' | put mta-sts.sts-wild.test
policy enforce other.example.test | put mta-sts.sts-nomatch.test
policy testing other.example.test | put mta-sts.sts-testing.test
policy none | put mta-sts.sts-none.test
policy enforce mx.sts-idchange.test | put mta-sts.sts-idchange.test
policy enforce mx.sts-redirect.test | put mta-sts.sts-redirect.test redirected/mta-sts.txt
policy enforce mx.sts-wrongcert.test | put mta-sts.sts-wrongcert.test
policy enforce mx.sts-unknownca.test | put mta-sts.sts-unknownca.test
mkdir -p "$www/mta-sts.sts-404.test"  # and no file
policy enforce mx.sts-html.test | put mta-sts.sts-html.test
# A valid policy, then lines with an unknown key (a parser ignores them) up to
# exactly 70 KiB, every line complete.
big_policy() {
    local size=71680 head pad n rest i
    head=$(policy enforce mx.sts-big.test)$'\n'
    printf -v pad '%*s' 100 ''
    pad=${pad// /a}
    # n lines of 112 bytes, then one line taking up the rest (100..211 bytes).
    n=$(((size - ${#head}) / 112 - 1))
    rest=$((size - ${#head} - n * 112 - 12))
    printf '%s' "$head"
    for ((i = 0; i < n; i++)); do printf 'x-padding: %s\n' "$pad"; done
    printf -v pad '%*s' "$rest" ''
    printf 'x-padding: %s\n' "${pad// /b}"
}
big_policy | put mta-sts.sts-big.test
{
    policy enforce mx.sts-drip.test
    printf 'x-padding: %s\n' "$(printf '%0320d' 0 | tr 0 a)"
} | put mta-sts.sts-drip.test
printf 'mode: enforce\nmx: mx.sts-noversion.test\nmax_age: 86400\n' | put mta-sts.sts-noversion.test
printf 'version: STSv1\nmode: enforce\nmx: mx.sts-badmaxage.test\nmax_age: 99999999999\n' |
    put mta-sts.sts-badmaxage.test
policy enforce 192.0.2.1 | put mta-sts.sts-ipmx.test
policy enforce 'mail.*.sts-midwild.test' | put mta-sts.sts-midwild.test
policy enforce mx.sts-dane.test | put mta-sts.sts-dane.test
policy enforce mx.sts-twotxt.test | put mta-sts.sts-twotxt.test
policy enforce mx.sts-notxt.test | put mta-sts.sts-notxt.test
policy enforce mx.sts-insecure.test | put mta-sts.sts-insecure.test
policy enforce mx.sts-expired.test | put mta-sts.sts-expired.test
policy enforce mx.sts-httpcache.test | put mta-sts.sts-httpcache.test
# The STARTTLS probe cases (SPEC §5): the MXs are SMTP test bed listeners.
for d in ok wrongname expired untrusted nostarttls refused nosan wildcard partwild; do
    policy enforce "mx.sts-probe-$d.test" | put "mta-sts.sts-probe-$d.test"
done
policy testing mx.sts-probe-testing.test | put mta-sts.sts-probe-testing.test
[[ $(stat -c %s "$www/mta-sts.sts-big.test/.well-known/mta-sts.txt") -eq 71680 ]] ||
    die "sts-big.test policy is not 71680 bytes"

policies_txt >"$dir/policies.txt"

# --- certificates ---------------------------------------------------------------
# EC P-256 throughout; our own openssl config, not the system's defaults.
cat >"$dir/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:${ENV::LEAF_NAME}
EOF

# LEAF_NAME: the config names it, so every openssl reading it needs it set.
make_ca() { # STEM CN
    LEAF_NAME=unused openssl req -x509 -config "$dir/openssl.cnf" -extensions ca_ext \
        -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/$1.key" -out "$dir/$1.crt" -days 3650 -subj "/CN=$2" 2>/dev/null
}
# One openssl per certificate (start-up time is mostly openssl processes).
# Serials need only be unique per CA, and the CAs are new on every start.
make_leaf() { # NAME CA-STEM SERIAL
    local name=$1 ca=$2 serial=$3
    LEAF_NAME=$name openssl req -x509 -config "$dir/openssl.cnf" -extensions leaf_ext \
        -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" -set_serial "$serial" \
        -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$certs/$name.key" -out "$certs/$name.crt" -days 3650 \
        -subj "/CN=$name" 2>/dev/null
}

# NAME CA-STEM SERIAL: like make_leaf, but valid only in January 2020
# (RFC 8461 §3.3: an expired certificate).  `openssl req -x509` cannot
# backdate in OpenSSL 3.0; `openssl x509 -req` with a preset validity can't
# either, so this one goes through `openssl ca`, which takes -startdate and
# -enddate.
make_expired_leaf() {
    local name=$1 ca=$2 serial=$3 db=$dir/tmp/ca-$1
    mkdir -p "$db"
    : >"$db/index.txt"
    echo "$serial" >"$db/serial"
    cat >"$db/ca.cnf" <<EOF
[ ca ]
default_ca = dflt
[ dflt ]
database = $db/index.txt
new_certs_dir = $db
serial = $db/serial
default_md = sha256
policy = any
[ any ]
commonName = supplied
[ leaf_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:$name
EOF
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$certs/$name.key" -out "$db/$name.csr" -subj "/CN=$name" 2>/dev/null &&
        openssl ca -batch -config "$db/ca.cnf" -extensions leaf_ext -notext \
            -cert "$dir/$ca.crt" -keyfile "$dir/$ca.key" -in "$db/$name.csr" \
            -out "$certs/$name.crt" -startdate 20200101000000Z -enddate 20200201000000Z \
            2>/dev/null
}

make_ca ca "dane-sts-milter test CA" & ca1=$!
make_ca untrusted-ca "dane-sts-milter untrusted CA" & ca2=$!
wait "$ca1" || die "making the test CA failed"
wait "$ca2" || die "making the untrusted CA failed"

# The certificate each server presents, by domain (default: mta-sts.<domain>
# from the test CA).
declare -A cert_of
for d in "${served[@]}"; do cert_of[$d]=mta-sts.$d; done
cert_of[sts-wrongcert.test]=mta-sts.other.test

jobs_=()
serial=1000
for d in "${served[@]}"; do
    [[ $d == sts-wrongcert.test ]] && continue
    serial=$((serial + 1))
    if [[ $d == sts-unknownca.test ]]; then
        make_leaf "mta-sts.$d" untrusted-ca "$serial" &
    elif [[ $d == sts-expired.test ]]; then
        make_expired_leaf "mta-sts.$d" ca "$serial" &
    else
        make_leaf "mta-sts.$d" ca "$serial" &
    fi
    jobs_+=($!)
done
make_leaf mta-sts.other.test ca 1000 &
jobs_+=($!)
for j in "${jobs_[@]}"; do
    wait "$j" || die "making a certificate failed"
done

# --- nginx ------------------------------------------------------------------------
# Workers run as whoever runs this (root: root), so that they can read DIR
# wherever it is; `user` is only allowed (and needed) when root.
user_line=
if [[ $(id -u) -eq 0 ]]; then
    user_line="user $(id -un) $(id -gn);"
fi

server_extra() { # DOMAIN: what this server does beyond serving the file
    case $1 in
    sts-redirect.test) cat <<EOF
        location = /.well-known/mta-sts.txt {
            return 301 https://mta-sts.sts-redirect.test:$PORT/redirected/mta-sts.txt;
        }
EOF
        ;;
    sts-html.test) cat <<EOF
        location = /.well-known/mta-sts.txt {
            default_type text/html;
        }
EOF
        ;;
    # RFC 8461 §3.3: HTTP caching (RFC 7234) MUST NOT be used.  By default
    # the policy says "fresh for a year" (Cache-Control max-age, Expires),
    # with a validator (ETag, Last-Modified: nginx's own); while a file
    # named no-cache exists next to .well-known/, it says "Cache-Control:
    # no-cache" and "Expires" in 1970 instead.  Either way only the TXT id and max_age may decide.
    sts-httpcache.test) cat <<EOF
        location = /.well-known/mta-sts.txt {
            etag on;
            if (-f \$document_root/no-cache) {
                expires epoch;
            }
            expires 1y;
        }
EOF
        ;;
    # 1 byte per second.  nginx counts the response header against the rate
    # too (limit_rate alone drips the header as well), so the first 256 bytes
    # go at once: the header (about 205 bytes without the ETag) and the start
    # of the body; the other ~345 body bytes then take almost six
    # minutes.  sendfile off, so that the file is written in pieces we control.
    sts-drip.test) cat <<EOF
        location = /.well-known/mta-sts.txt {
            sendfile off;
            etag off;
            limit_rate_after 256;
            limit_rate 1;
        }
EOF
        ;;
    esac
}

{
    cat <<EOF
# Generated by tests/testbed/https/start.sh; rebuilt on every start.
$user_line
daemon on;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
lock_file $dir/nginx.lock;
error_log $dir/error.log notice;

events {
    worker_connections 256;
}

http {
    # Everything is text/plain unless a location says otherwise; no charset.
    types { }
    default_type text/plain;
    server_tokens off;
    sendfile on;
    keepalive_timeout 5s;
    # No cache: policy files are read from disk on every request.
    open_file_cache off;

    # The last fields: the conditional request headers a client sent (an HTTP
    # cache would send them) and the caching headers sent back.
    log_format sts '\$time_iso8601 \$remote_addr sni=\$ssl_server_name \$ssl_protocol '
                   '"\$request" \$status \$body_bytes_sent \$request_time '
                   'if-none-match="\$http_if_none_match" '
                   'if-modified-since="\$http_if_modified_since" '
                   'cache-control="\$sent_http_cache_control" expires="\$sent_http_expires" '
                   'etag=\$sent_http_etag';
    access_log $dir/access.log sts;

    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;

    # A name we do not serve gets no certificate at all.
    server {
        listen $ADDR:$PORT ssl default_server;
        ssl_reject_handshake on;
    }
EOF
    for d in "${served[@]}"; do
        cat <<EOF

    server {
        listen $ADDR:$PORT ssl;
        server_name mta-sts.$d;
        ssl_certificate $certs/${cert_of[$d]}.crt;
        ssl_certificate_key $certs/${cert_of[$d]}.key;
        root $www/mta-sts.$d;
EOF
        server_extra "$d"
        echo "    }"
    done
    echo "}"
} >"$dir/nginx.conf"

# Daemonised; its stdio must not be ctest's pipes, or ctest waits for it.
nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
    </dev/null >>"$dir/nginx.out" 2>&1 || {
    tail -n 20 "$dir/nginx.out" "$dir/error.log" >&2 2>/dev/null || true
    die "nginx failed to start (see $dir/error.log)"
}

# Ready once a policy comes back over a verified TLS connection.
fetch_status() { # HOST: the HTTP status line of the policy URL
    printf 'GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" |
        timeout 2 openssl s_client -quiet -connect "$ADDR:$PORT" -servername "$1" \
            -CAfile "$dir/ca.crt" -verify_hostname "$1" -verify_return_error 2>/dev/null |
        head -n 1 | tr -d '\r'
}
ready=
pid=
deadline=$((SECONDS + 10))
while ((SECONDS < deadline)); do
    if [[ -s $dir/nginx.pid ]]; then
        pid=$(<"$dir/nginx.pid")
        [[ $(fetch_status mta-sts.sts-enforce.test || true) == "HTTP/1.1 200 OK" ]] && { ready=1; break; }
    fi
    sleep 0.05  # poll interval
done
if [[ -z $ready || ! $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
    tail -n 20 "$dir/error.log" >&2 || true
    "$here/stop.sh" "$dir" || true
    die "nginx did not come up on $ADDR:$PORT (see $dir/error.log)"
fi
echo "nginx (pid $pid) serving the MTA-STS test bed on $ADDR:$PORT from $dir"
