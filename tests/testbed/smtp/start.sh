#!/usr/bin/env bash
# Build the STARTTLS test bed from scratch in DIR and start one Python asyncio
# process (starttls_server.py) listening on ${TB_NET}.20.1 and 127.0.40.x, all on
# port 2525.  Usage: start.sh DIR DNSDIR
#
# DNSDIR is the DNS test bed's directory (tests/testbed/dns/start.sh DNSDIR),
# whose certs/mx.dane-ok.test.{crt,key} is the key behind that zone's
# `3 1 1` record: ${TB_NET}.20.1 (mx.dane-ok.test's address) presents it.
# Everything else (test CAs, leaves, the TLSA data of each case) is made
# here; the probe tests take TLSA records as parameters, so no zone changes.
#
# Leaves behind, under DIR:
#   cases.txt        each case: address, MX name to probe, TLSA rdata (or -)
#   webpki-ca.crt    the CA for the WebPKI cases (the prober's ca_file)
#   certs/           keys, certificates and chains of every listener
#   listeners.json   the server's configuration
#   server.pid, server.log (one line per connection and command), server.out
#
# The cases (cases.txt says the same, with each case's TLSA data and the
# ProbeOutcome the probe should get):
#   ${TB_NET}.20.1   mx.dane-ok.test, the DNS test bed's key (3 1 1, 3 0 1 match;
#                another key's 3 1 1 does not); a three-line 220 greeting
#   ${TB_NET}.40.1   leaf for mx.dane-ta.test from the DANE-TA CA (2 0 1 / 2 1 1)
#   ${TB_NET}.40.2   leaf for wrong.dane-ta.test from the same CA: wrong name
#   ${TB_NET}.40.3   self-signed mx.expired-ee.test, expired in 2020 (3 1 1 passes)
#   ${TB_NET}.40.4   EHLO without STARTTLS
#   ${TB_NET}.40.5   WebPKI leaf for mx.other-webpki.test (probed as mx.webpki.test)
#   ${TB_NET}.40.6   WebPKI leaf for mx.webpki.test
#   ${TB_NET}.40.7   accepts, never sends a banner
#   ${TB_NET}.40.8   WebPKI leaf for mx.webpki.test, expired in 2020
#   ${TB_NET}.40.9   leaf for mx.webpki.test from a CA not in webpki-ca.crt
#   ${TB_NET}.40.10  220 to STARTTLS, then silence (no TLS handshake)
#   ${TB_NET}.40.11  454 to STARTTLS
#   ${TB_NET}.40.12  220 to STARTTLS plus a second reply in the same packet
#   ${TB_NET}.40.13  DANE-TA CA leaf with the SAN *.dane-ta.test (RFC 7672 §3.2.3:
#                matches mx.dane-ta.test, not mx.sub.dane-ta.test)
#   ${TB_NET}.40.14  DANE-TA CA leaf with the partial wildcard SAN m*.dane-ta.test
#   ${TB_NET}.40.15  DANE-TA CA leaf with CN=mx.dane-ta.test and no SAN at all
#                (RFC 7672 §3.2.3 lets DANE-TA fall back to the CN-ID)
#   ${TB_NET}.40.20  nothing listens: connections are refused
# and the MXs of the DNS test bed's sts-probe-*.test domains (the milter's
# MTA-STS probe cases, SPEC §5; WebPKI leaves from webpki-ca.crt, which the
# milter tests add to the HTTPS test bed's ca.crt for [sts] ca_file):
#   ${TB_NET}.40.21  WebPKI leaf for mx.sts-probe-ok.test
#   ${TB_NET}.40.22  WebPKI leaf for mx.sts-probe-expired.test, expired in 2020
#   ${TB_NET}.40.23  leaf for mx.sts-probe-untrusted.test from the untrusted CA
#   ${TB_NET}.40.24  WebPKI leaf with CN=mx.sts-probe-nosan.test and no SAN
#                (RFC 8461 §4.2: only DNS-IDs count, never the CN)
#   ${TB_NET}.40.25  WebPKI leaf with the SAN *.sts-probe-wildcard.test
#   ${TB_NET}.40.26  WebPKI leaf with the partial wildcard SAN m*.sts-probe-partwild.test
#   (sts-probe-wrongname.test and sts-probe-testing.test point at ${TB_NET}.40.5,
#   sts-probe-nostarttls.test at ${TB_NET}.40.4, sts-probe-refused.test at
#   ${TB_NET}.40.20)
# shellcheck disable=SC2154 # here, dir, dnsdir, TB_NET: set by testbed_dirs (../lib.sh)
set -euo pipefail

die() { echo "start.sh: $*" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# Sets here, dir, dnsdir and TB_NET.
testbed_dirs "certs/mx.dane-ok.test.crt certs/mx.dane-ok.test.key" "$@"

readonly PORT=2525
# Every address something listens on; ${TB_NET}.40.20 is the refusing MX.
readonly LISTEN=(${TB_NET}.20.1 ${TB_NET}.40.1 ${TB_NET}.40.2 ${TB_NET}.40.3 ${TB_NET}.40.4 ${TB_NET}.40.5
                 ${TB_NET}.40.6 ${TB_NET}.40.7 ${TB_NET}.40.8 ${TB_NET}.40.9 ${TB_NET}.40.10 ${TB_NET}.40.11
                 ${TB_NET}.40.12 ${TB_NET}.20.12 ${TB_NET}.40.21 ${TB_NET}.40.22 ${TB_NET}.40.23
                 ${TB_NET}.40.13 ${TB_NET}.40.14 ${TB_NET}.40.15 ${TB_NET}.40.24 ${TB_NET}.40.25
                 ${TB_NET}.40.26)
readonly REFUSING=${TB_NET}.40.20

# A server left over from an earlier run in DIR still holds the addresses.
"$here/stop.sh" "$dir"

# Anything else on them: say so plainly, before wiping DIR.  A connect to a
# closed loopback port fails at once.
for a in "${LISTEN[@]}" "$REFUSING"; do
    if (exec 3<>"/dev/tcp/$a/$PORT") 2>/dev/null; then
        die "something else already listens on $a:$PORT (another test bed?)"
    fi
done
find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +

certs=$dir/certs
mkdir -p "$certs" "$dir/ca-db"

# --- certificates ------------------------------------------------------------
# EC P-256 throughout.  Digests for TLSA data, as RFC 6698 §2.1 defines them:
spki_sha256() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
                    sha256sum | cut -d' ' -f1; }
spki_sha512() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
                    sha512sum | cut -d' ' -f1; }
cert_sha256() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }

new_ca() { # NAME CN
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$certs/$1.key" -out "$certs/$1.crt" -days 3650 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

new_csr() { # NAME CN
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$certs/$1.key" -out "$certs/$1.csr" -subj "/CN=$2" 2>/dev/null
}

# `openssl ca` can set dates in the past (x509 -req cannot in OpenSSL 3.0).
cat >"$dir/ca.cnf" <<EOF
[ ca ]
default_ca = dflt
[ dflt ]
database = $dir/ca-db/index.txt
new_certs_dir = $dir/ca-db
serial = $dir/ca-db/serial
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:\${ENV::LEAF_SAN}
[ leaf_nosan ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
EOF
: >"$dir/ca-db/index.txt"
echo 01 >"$dir/ca-db/serial"

# NAME DNSNAME ISSUER|self [START END]: a leaf, and NAME.chain (leaf, then
# the issuing CA, as RFC 7672 §3.2.1 wants for DANE-TA).  DNSNAME is the CN
# and the one DNS SAN; LEAF_EXT=leaf_nosan in the environment leaves the SAN
# out (the name is then only in the CN).
new_leaf() {
    local name=$1 dns=$2 issuer=$3 start=${4:-} end=${5:-}
    new_csr "$name" "$dns"
    local -a args=(-batch -config "$dir/ca.cnf" -extensions "${LEAF_EXT:-leaf}" -notext
                   -in "$certs/$name.csr" -out "$certs/$name.crt")
    if [[ -n $start ]]; then
        args+=(-startdate "$start" -enddate "$end")
    else
        args+=(-days 3650)
    fi
    if [[ $issuer == self ]]; then
        args+=(-selfsign -keyfile "$certs/$name.key")
    else
        args+=(-cert "$certs/$issuer.crt" -keyfile "$certs/$issuer.key")
    fi
    LEAF_SAN=$dns openssl ca "${args[@]}" 2>/dev/null ||
        die "openssl ca failed for $name"
    cat "$certs/$name.crt" >"$certs/$name.chain"
    [[ $issuer == self ]] || cat "$certs/$issuer.crt" >>"$certs/$name.chain"
}

# DANE-EE: the DNS test bed's key for mx.dane-ok.test (its zone's 3 1 1).
cp "$dnsdir/certs/mx.dane-ok.test.crt" "$dnsdir/certs/mx.dane-ok.test.key" "$certs/"
cp "$certs/mx.dane-ok.test.crt" "$certs/mx.dane-ok.test.chain"
# DANE-TA: a CA published as 2 0 1 / 2 1 1, a leaf for the MX name and one
# for another name.
new_ca dane-ta-ca "DANE-TA test CA"
new_leaf dane-ta-right mx.dane-ta.test dane-ta-ca
new_leaf dane-ta-wrong wrong.dane-ta.test dane-ta-ca
# RFC 7672 §3.2.3 (RFC 6125 §6.4.3) name checks of DANE-TA: a wildcard as the
# whole left-most label, a partial one, and no SAN (the CN-ID counts then).
new_leaf dane-ta-wildcard '*.dane-ta.test' dane-ta-ca
new_leaf dane-ta-partwild 'm*.dane-ta.test' dane-ta-ca
LEAF_EXT=leaf_nosan new_leaf dane-ta-nosan mx.dane-ta.test dane-ta-ca
# DANE-EE with a self-signed certificate that expired in 2020 (RFC 7672
# §3.1.1: DANE-EE ignores validity dates).
new_leaf expired-ee mx.expired-ee.test self 20200101000000Z 20200201000000Z
# WebPKI (RFC 8461 §4.2): our own CA (webpki-ca.crt is the prober's
# ca_file), leaves for the right name, a wrong name, expired, and one from a
# CA not in webpki-ca.crt.
new_ca webpki-ca "WebPKI test CA"
new_ca untrusted-ca "Untrusted test CA"
new_leaf webpki-right mx.webpki.test webpki-ca
new_leaf webpki-wrong mx.other-webpki.test webpki-ca
new_leaf webpki-expired mx.webpki.test webpki-ca 20200101000000Z 20200201000000Z
new_leaf webpki-unknownca mx.webpki.test untrusted-ca
# The sts-probe-*.test MXs (RFC 8461 §4.2 cases as the milter meets them).
new_leaf sts-probe-ok mx.sts-probe-ok.test webpki-ca
new_leaf sts-probe-expired mx.sts-probe-expired.test webpki-ca 20200101000000Z 20200201000000Z
new_leaf sts-probe-untrusted mx.sts-probe-untrusted.test untrusted-ca
# RFC 8461 §4.2: the right name only in the CN (no SAN); a wildcard SAN; a
# partial wildcard SAN.
LEAF_EXT=leaf_nosan new_leaf sts-probe-nosan mx.sts-probe-nosan.test webpki-ca
new_leaf sts-probe-wildcard '*.sts-probe-wildcard.test' webpki-ca
new_leaf sts-probe-partwild 'm*.sts-probe-partwild.test' webpki-ca
cp "$certs/webpki-ca.crt" "$dir/webpki-ca.crt"
# For the listeners that never get as far as TLS.
new_leaf plain mx.plain.test self

# --- cases.txt and the server configuration ------------------------------------
dane_ok=$(spki_sha256 "$certs/mx.dane-ok.test.crt")
dane_ok512=$(spki_sha512 "$certs/mx.dane-ok.test.crt")
# A SHA2-512 digest of no key (RFC 7671 §9 case: a wrong stronger digest).
wrong512=$(printf 'not-a-key' | sha512sum | cut -d' ' -f1)
dane_ok_cert=$(cert_sha256 "$certs/mx.dane-ok.test.crt")
ta_cert=$(cert_sha256 "$certs/dane-ta-ca.crt")
ta_spki=$(spki_sha256 "$certs/dane-ta-ca.crt")
expired=$(spki_sha256 "$certs/expired-ee.crt")
other=$(spki_sha256 "$certs/plain.crt")  # a real key no listener uses for TLS

{
    cat <<EOF
# Generated by tests/testbed/smtp/start.sh.  Every listener is on port $PORT.
# WebPKI cases verify against $dir/webpki-ca.crt.
# case               address      mx_host               tlsa (usage selector mtype hex) or -    expected
dane-ee              ${TB_NET}.20.1   mx.dane-ok.test       3 1 1 $dane_ok    verified
dane-ee-cert         ${TB_NET}.20.1   mx.dane-ok.test       3 0 1 $dane_ok_cert    verified
dane-ee-nomatch      ${TB_NET}.20.1   mx.dane-ok.test       3 1 1 $other    validation-failure
dane-ee-sha512       ${TB_NET}.20.1   mx.dane-ok.test       3 1 2 $dane_ok512    verified
dane-ee-sha512-wrong ${TB_NET}.20.1   mx.dane-ok.test       3 1 2 $wrong512    validation-failure
dane-ta              ${TB_NET}.40.1   mx.dane-ta.test       2 0 1 $ta_cert    verified
dane-ta-spki         ${TB_NET}.40.1   mx.dane-ta.test       2 1 1 $ta_spki    verified
dane-ta-wrongname    ${TB_NET}.40.2   mx.dane-ta.test       2 0 1 $ta_cert    certificate-host-mismatch
dane-ta-wildcard     ${TB_NET}.40.13  mx.dane-ta.test       2 0 1 $ta_cert    verified
dane-ta-wildcard-2labels ${TB_NET}.40.13  mx.sub.dane-ta.test   2 0 1 $ta_cert    certificate-host-mismatch
dane-ta-partwild     ${TB_NET}.40.14  mx.dane-ta.test       2 0 1 $ta_cert    certificate-host-mismatch
dane-ta-nosan        ${TB_NET}.40.15  mx.dane-ta.test       2 0 1 $ta_cert    verified
dane-ee-expired      ${TB_NET}.40.3   mx.expired-ee.test    3 1 1 $expired    verified
no-starttls          ${TB_NET}.40.4   mx.no-starttls.test   3 1 1 $dane_ok    starttls-not-supported
webpki-wrongname     ${TB_NET}.40.5   mx.webpki.test        -    certificate-host-mismatch
webpki               ${TB_NET}.40.6   mx.webpki.test        -    verified
silent               ${TB_NET}.40.7   mx.silent.test        3 1 1 $dane_ok    not-answering
webpki-expired       ${TB_NET}.40.8   mx.webpki.test        -    certificate-expired
webpki-unknownca     ${TB_NET}.40.9   mx.webpki.test        -    certificate-not-trusted
tls-hang             ${TB_NET}.40.10  mx.tls-hang.test      3 1 1 $dane_ok    not-answering
starttls-454         ${TB_NET}.40.11  mx.starttls-454.test  3 1 1 $dane_ok    starttls-not-supported
starttls-inject      ${TB_NET}.40.12  mx.inject.test        3 1 1 $dane_ok    protocol-error
refused              $REFUSING  mx.refused.test       3 1 1 $dane_ok    not-answering
sts-probe-ok         ${TB_NET}.40.21  mx.sts-probe-ok.test         -    verified
sts-probe-expired    ${TB_NET}.40.22  mx.sts-probe-expired.test    -    certificate-expired
sts-probe-untrusted  ${TB_NET}.40.23  mx.sts-probe-untrusted.test  -    certificate-not-trusted
sts-probe-nosan      ${TB_NET}.40.24  mx.sts-probe-nosan.test      -    certificate-host-mismatch
sts-probe-wildcard   ${TB_NET}.40.25  mx.sts-probe-wildcard.test   -    verified
sts-probe-partwild   ${TB_NET}.40.26  mx.sts-probe-partwild.test   -    certificate-host-mismatch
sts-probe-wrongname  ${TB_NET}.40.5   mx.sts-probe-wrongname.test  -    certificate-host-mismatch
sts-probe-nostarttls ${TB_NET}.40.4   mx.sts-probe-nostarttls.test -    starttls-not-supported
sts-probe-refused    $REFUSING  mx.sts-probe-refused.test    -    not-answering
EOF
} >"$dir/cases.txt"

listener() { # CASE ADDRESS MODE NAME CERTNAME [BANNER_LINES]
    printf '    {"case": "%s", "address": "%s", "port": %d, "mode": "%s", "name": "%s",\n' \
        "$1" "$2" "$PORT" "$3" "$4"
    printf '     "chain": "%s", "key": "%s", "banner_lines": %d}' \
        "$certs/$5.chain" "$certs/$5.key" "${6:-1}"
}
{
    echo '{"listeners": ['
    # A multi-line greeting on the main DANE-EE case (RFC 5321 §4.2.1).
    listener dane-ee ${TB_NET}.20.1 starttls mx.dane-ok.test mx.dane-ok.test 3; echo ,
    listener dane-ta ${TB_NET}.40.1 starttls mx.dane-ta.test dane-ta-right; echo ,
    listener dane-ta-wrongname ${TB_NET}.40.2 starttls wrong.dane-ta.test dane-ta-wrong; echo ,
    listener dane-ee-expired ${TB_NET}.40.3 starttls mx.expired-ee.test expired-ee; echo ,
    listener no-starttls ${TB_NET}.40.4 no-starttls mx.no-starttls.test plain; echo ,
    listener webpki-wrongname ${TB_NET}.40.5 starttls mx.other-webpki.test webpki-wrong; echo ,
    listener webpki ${TB_NET}.40.6 starttls mx.webpki.test webpki-right; echo ,
    listener silent ${TB_NET}.40.7 silent mx.silent.test plain; echo ,
    listener webpki-expired ${TB_NET}.40.8 starttls mx.webpki.test webpki-expired; echo ,
    listener webpki-unknownca ${TB_NET}.40.9 starttls mx.webpki.test webpki-unknownca; echo ,
    listener tls-hang ${TB_NET}.40.10 hang-after-220 mx.tls-hang.test plain; echo ,
    listener starttls-454 ${TB_NET}.40.11 starttls-454 mx.starttls-454.test plain; echo ,
    listener starttls-inject ${TB_NET}.40.12 inject mx.inject.test plain; echo ,
    listener dane-ta-wildcard ${TB_NET}.40.13 starttls mx.dane-ta.test dane-ta-wildcard; echo ,
    listener dane-ta-partwild ${TB_NET}.40.14 starttls mx.dane-ta.test dane-ta-partwild; echo ,
    listener dane-ta-nosan ${TB_NET}.40.15 starttls mx.dane-ta.test dane-ta-nosan; echo ,
    # mx.partner.test publishes a 3 1 1 record for its own key in the DNS test
    # bed; presenting another key makes partner.test a DANE domain whose MX
    # fails the probe (the milter's end-to-end probe case, SPEC §5).
    listener dane-mismatch ${TB_NET}.20.12 starttls mx.partner.test plain; echo ,
    # The MXs of the sts-probe-*.test domains (DNS test bed).
    listener sts-probe-ok ${TB_NET}.40.21 starttls mx.sts-probe-ok.test sts-probe-ok; echo ,
    listener sts-probe-expired ${TB_NET}.40.22 starttls mx.sts-probe-expired.test sts-probe-expired; echo ,
    listener sts-probe-untrusted ${TB_NET}.40.23 starttls mx.sts-probe-untrusted.test sts-probe-untrusted; echo ,
    listener sts-probe-nosan ${TB_NET}.40.24 starttls mx.sts-probe-nosan.test sts-probe-nosan; echo ,
    listener sts-probe-wildcard ${TB_NET}.40.25 starttls mx.sts-probe-wildcard.test sts-probe-wildcard; echo ,
    listener sts-probe-partwild ${TB_NET}.40.26 starttls mx.sts-probe-partwild.test sts-probe-partwild; echo
    echo ']}'
} >"$dir/listeners.json"

# --- start and wait -------------------------------------------------------------
# setsid and every descriptor redirected: ctest must not wait for the
# server's stdio, and the server must not get the caller's signals.
setsid python3 "$here/starttls_server.py" --config "$dir/listeners.json" \
    --pidfile "$dir/server.pid" --log "$dir/server.log" \
    </dev/null >"$dir/server.out" 2>&1 &
launched=$!

# The pid file appears once every address listens; give it 10 s.
for _ in $(seq 1 200); do
    [[ -s $dir/server.pid ]] && break
    if ! kill -0 "$launched" 2>/dev/null; then
        cat "$dir/server.out" >&2
        die "starttls_server.py exited before listening"
    fi
    sleep 0.05
done
[[ -s $dir/server.pid ]] || { cat "$dir/server.out" >&2; die "no pid file after 10 s"; }
for a in "${LISTEN[@]}"; do
    (exec 3<>"/dev/tcp/$a/$PORT") 2>/dev/null || die "nothing listens on $a:$PORT"
done
