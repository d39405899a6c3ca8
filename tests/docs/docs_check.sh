#!/bin/bash
# The documentation covers the product (SPEC §2, §8):
#  - every configuration key of SPEC §2 (and those beyond it) is documented in milter.conf(5), in
#    its section, and shown (set or commented out) in the shipped
#    conf/milter.conf; milter.conf(5) documents no key that does not exist;
#  - every command-line flag of SPEC §8 is documented in dane-sts-milter(8)
#    (OPTIONS) and listed by `dane-sts-milter --help`.
# usage: docs_check.sh SOURCE_DIR BUILT_BINARY
set -uo pipefail
src=$1
bin=$2
man5=$src/contrib/man/milter.conf.5
man8=$src/contrib/man/dane-sts-milter.8
conf=$src/conf/milter.conf
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# SPEC §2, section.key; "connector" stands for every [connector.NAME].
# tests/unit/config_loader_test.cpp (kSpecKeys) holds the same list.
keys="
milter.socket milter.header milter.user milter.umask milter.log_level milter.log_target
resolver.trust_anchor_file resolver.forwarders resolver.stub_zones resolver.unbound_config
resolver.timeout_ms
sts.ca_file sts.https_port sts.fetch_timeout_ms
probe.enabled probe.port probe.timeout_ms
cache.store cache.max_entries cache.min_ttl cache.max_ttl cache.error_ttl cache.stale_ttl
prefetch.concurrency prefetch.refresh_ahead prefetch.active_window prefetch.warm_list
rcpt.lookup_timeout_ms
report.days
policy_map.listen policy_map.max_connections
metrics.listen control.socket
connector.recipient_domains connector.sender_domains connector.mode connector.dane
connector.mta_sts connector.on_failure connector.test_mode connector.tags
"
# Keys the product has beyond SPEC §2, checked the same way.
beyond_spec="probe.bind_address probe.bind_address6"
keys=$(printf '%s %s' "$keys" "$beyond_spec" | tr -s ' \n' '  ')
set -f # tags and keys are words, never globs
# SPEC §8.
flags="-c -n --version --check --json --control --report --connector --days -h --help"

# The part of milter.conf(5) that documents SECTION: from ".SS [SECTION]" (for
# connectors ".SH CONNECTORS") to the next heading, roff's \- made plain.
man_section() {
    local start
    if [ "$1" = connector ]; then start='.SH CONNECTORS'; else start=".SS [$1]"; fi
    awk -v start="$start" '
        $0 == start { on = 1; next }
        on && /^\.S[HS]/ { exit }
        on { gsub(/\\-/, "-"); print }' "$man5"
}
# The keys a man page section documents: the tags of its top-level .TP/.TQ
# items (not those of a list nested in .RS/.RE, such as the patterns).
man_tags() {
    awk '/^\.RS/ { depth++ } /^\.RE/ { depth-- }
         tag { if ($1 ~ /^\.BR?$/) print $2; tag = 0 }
         depth == 0 && /^\.T[PQ]$/ { tag = 1 }'
}
# Whether conf/milter.conf shows KEY in SECTION, set or commented out.
conf_has() {
    awk -v want="$1" -v key="$2" '
        /^[;#]?[ \t]*\[[^]]*\][ \t]*$/ {
            s = $0; sub(/^[;#]?[ \t]*\[/, "", s); sub(/\].*/, "", s)
            if (want == "connector") in_section = (s ~ /^connector\.[^.]+$/)
            else in_section = (s == want)
            next
        }
        in_section && $0 ~ "^[;#]?[ \t]*" key "[ \t]*=" { found = 1 }
        END { exit !found }' "$conf"
}

sections=""
for sk in $keys; do
    section=${sk%%.*}
    key=${sk#*.}
    case " $sections " in *" $section "*) ;; *) sections="$sections $section" ;; esac
    tags=$(man_section "$section" | man_tags)
    if ! grep -qxF "$key" <<<"$tags"; then
        fail "milter.conf.5 does not document [$section] $key"
    fi
    if ! conf_has "$section" "$key"; then
        fail "conf/milter.conf does not show [$section] $key"
    fi
done
for section in $sections; do
    [ -n "$(man_section "$section")" ] || fail "milter.conf.5 has no section for [$section]"
    for tag in $(man_section "$section" | man_tags | sort -u); do
        case " $keys " in
            *" $section.$tag "*) ;;
            *) fail "milter.conf.5 documents [$section] $tag, which neither SPEC §2 nor \$beyond_spec has" ;;
        esac
    done
done
# shellcheck disable=SC2086 # one word a line
echo "checked $(printf '%s\n' $keys | wc -l) keys in milter.conf.5 and conf/milter.conf"

options=$(awk '$0 == ".SH OPTIONS" { on = 1; next } on && /^\.SH/ { exit }
               on { gsub(/\\-/, "-"); print }' "$man8" | awk '
               tag { print; tag = 0 } /^\.T[PQ]$/ { tag = 1 }')
[ -n "$options" ] || fail "dane-sts-milter.8 has no OPTIONS items"
if ! help=$("$bin" --help 2>&1); then
    fail "dane-sts-milter --help exits non-zero"
fi
for flag in $flags; do
    grep -Eq -- "(^|[ \"])$flag([ \",]|\$)" <<<"$options" ||
        fail "dane-sts-milter.8 OPTIONS does not document $flag"
    grep -Eq -- "(^|[^-a-z])$flag([^-a-z]|\$)" <<<"$help" ||
        fail "dane-sts-milter --help does not list $flag"
done
echo "checked flags: $flags"

[ "$failures" -eq 0 ] || {
    echo "$failures failure(s)"
    exit 1
}
echo "ok"
