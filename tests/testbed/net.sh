# shellcheck shell=bash
# The test beds' network: every server of one build's test beds listens on
# 127.N.x.y (N in 1..250), N chosen per test-bed directory, so two checkouts
# (or a normal and a sanitizer build) run their suites at once on one machine
# without meeting (issue 15). The address plan below N is the same in every
# run: the DNS test bed on NET.10.53, MXs on NET.20.x and NET.21.x, the HTTPS
# test bed on NET.30.1, the probe's listeners on NET.40.x, the Postfix and
# Sendmail instances on NET.0.3x/NET.0.4x, Redis on NET.50.1:16379.
# 127.0.0.1 stays for what a test starts on free ports (milters, policy maps).
#
# tb_net ROOT   prints the prefix ("127.N") of the test beds under ROOT (the
#               directory holding dns/, https/, ...), choosing N the first
#               time. The choice is kept in ROOT/net and claimed machine-wide
#               in $TMPDIR/dane-sts-milter-testnets/N (which names ROOT); a
#               claim whose ROOT has gone or chose another N is free again.
#               Tests only read ROOT/net (tb_net_of), the start scripts claim.
# tb_net_of ROOT  the prefix already chosen for ROOT; fails if none was.

tb_net() {
    local root=$1 claims=${TMPDIR:-/tmp}/dane-sts-milter-testnets
    mkdir -p -- "$root" "$claims" || return 1
    root=$(cd -- "$root" && pwd) || return 1
    (
        flock 9 || exit 1
        local n='' want owner
        if [[ -f $root/net ]]; then
            want=$(<"$root/net")
            n=${want#127.}
            [[ $n =~ ^[0-9]+$ ]] || n=''
        fi
        for n in $n $(seq 1 250); do
            owner=
            [[ -f $claims/$n ]] && owner=$(<"$claims/$n")
            if [[ -n $owner && $owner != "$root" &&
                  $(cat -- "$owner/net" 2>/dev/null) == "127.$n" ]]; then
                continue  # another live test-bed directory holds it
            fi
            echo "$root" >"$claims/$n" && echo "127.$n" >"$root/net" || exit 1
            echo "127.$n"
            exit 0
        done
        echo "tb_net: no free 127.N network left in $claims" >&2
        exit 1
    ) 9>>"$claims/.lock"
}

tb_net_of() {
    local net
    net=$(cat -- "$1/net" 2>/dev/null) && [[ $net =~ ^127\.[0-9]+$ ]] || {
        echo "tb_net_of: no test-bed network chosen under $1 (start the test beds first)" >&2
        return 1
    }
    echo "$net"
}
