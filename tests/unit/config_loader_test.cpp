// SPEC §2: milter.conf loading and validation.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/config/config.hpp"
#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace dsm::config;

namespace {

// A unique directory per test case, removed afterwards; the config files
// written to it are numbered.
struct ConfigDir {
    dsm::test::TempDir tmp{"dsm-config-test"};
    const fs::path& dir = tmp.path;
    int counter = 0;

    std::string write(const std::string& text) {
        return tmp.write("milter-" + std::to_string(++counter) + ".conf", text);
    }
};

const char* const kSpecExample = R"(
[milter]
; or unix:/run/dane-sts-milter/milter.sock
socket = inet:8891@127.0.0.1
; name of the verdict header
header = X-DANE-STS-Verdict
; optional: drop privileges after binding
user = dane-sts-milter
; file mode mask for a unix socket (the MTA's group must reach it)
umask = 007
; trace debug info warn error
log_level = info
; stderr | syslog | file:/path
log_target = stderr

[resolver]
; DNSSEC trust anchor(s), unbound format
trust_anchor_file = /usr/share/dns/root.key
; optional, comma-separated address[@port], e.g. 127.0.0.1@5353, ::1
forwarders =
; optional, comma-separated zone=address[@port] (a zone may repeat, one per server),
; e.g. test.=127.0.0.1@5353, slow.test.=127.0.0.1@5354
stub_zones =
; optional unbound.conf for anything else
unbound_config =
timeout_ms = 5000

[sts]
ca_file = /etc/ssl/certs/ca-certificates.crt
; only tests change it
https_port = 443
fetch_timeout_ms = 10000

; §5
[probe]
enabled = no
; only tests change it
port = 25
timeout_ms = 10000

; §6
[cache]
; memory | sqlite:PATH | redis://HOST:PORT[/DB]
store = sqlite:/var/lib/dane-sts-milter/cache.db
max_entries = 1000000
min_ttl = 300
max_ttl = 86400
error_ttl = 60
stale_ttl = 3600

[prefetch]
; domains resolved at once
concurrency = 64
; refresh when this share of the TTL has passed
refresh_ahead = 0.8
; keep refreshing domains seen within this many seconds
active_window = 86400
; optional file, one domain a line, resolved at start
warm_list =

[rcpt]
; how long RCPT may wait on a cache miss
lookup_timeout_ms = 3000

; §7, optional
[policy_map]
listen = inet:127.0.0.1:8461

; optional
[metrics]
listen = 127.0.0.1:9464

[connector.default]
recipient_domains = *
mode = opportunistic

[connector.partners]
recipient_domains = partner.example, *.partner.example
; optional: only for these envelope sender domains
sender_domains =
; sets dane and mta_sts together (see below)
mode = mandatory
; optional override: opportunistic | mandatory | none
dane =
; optional override: opportunistic | none
mta_sts =
; defer | reject (mandatory DANE, permanent causes only)
on_failure = defer
; yes: decide and report, but accept (safe roll-out)
test_mode = no
tags = partner, eu
)";

std::shared_ptr<const Config> load_ok(const std::string& path) {
    auto r = load_config(path);
    BOOST_TEST_REQUIRE(r.ok(), (r.ok() ? std::string() : r.error()));
    return *r;
}

// Loads `text`, expects a failure whose message names the file and contains
// every one of `parts`.
void expect_error(ConfigDir& tmp, const std::string& text,
                  std::initializer_list<const char*> parts) {
    const std::string path = tmp.write(text);
    const auto r = load_config(path);
    BOOST_TEST_REQUIRE(!r.ok(), "loaded although it should fail:\n" << text);
    BOOST_TEST_MESSAGE(r.error());
    BOOST_TEST(r.error().find(path) != std::string::npos, r.error());
    for (const char* p : parts) {
        BOOST_TEST(r.error().find(p) != std::string::npos, "\"" << p << "\" not in: " << r.error());
    }
}

const Connector& find(const Config& c, const std::string& name) {
    for (const Connector& x : c.connectors.connectors()) {
        if (x.name == name) {
            return x;
        }
    }
    BOOST_FAIL("no connector " << name);
    throw;
}

// Every key of SPEC §2, and the product's beyond it ([probe] bind_address,
// bind_address6), as "section.key" ("connector" for [connector.NAME]).
// The tables below must cover exactly these; tests/docs/docs_check.sh holds
// the same list for the man page and conf/milter.conf.
const std::set<std::string> kSpecKeys = {
    "milter.socket",
    "milter.header",
    "milter.user",
    "milter.umask",
    "milter.log_level",
    "milter.log_target",
    "resolver.trust_anchor_file",
    "resolver.forwarders",
    "resolver.stub_zones",
    "resolver.unbound_config",
    "resolver.timeout_ms",
    "sts.ca_file",
    "sts.https_port",
    "sts.fetch_timeout_ms",
    "probe.enabled",
    "probe.port",
    "probe.timeout_ms",
    "probe.bind_address",
    "probe.bind_address6",
    "cache.store",
    "cache.max_entries",
    "cache.min_ttl",
    "cache.max_ttl",
    "cache.error_ttl",
    "cache.stale_ttl",
    "prefetch.concurrency",
    "prefetch.refresh_ahead",
    "prefetch.active_window",
    "prefetch.warm_list",
    "rcpt.lookup_timeout_ms",
    "report.days",
    "policy_map.listen",
    "policy_map.max_connections",
    "metrics.listen",
    "control.socket",
    "connector.recipient_domains",
    "connector.sender_domains",
    "connector.mode",
    "connector.dane",
    "connector.mta_sts",
    "connector.on_failure",
    "connector.test_mode",
    "connector.tags",
};

// A file that sets `section.key = value` and nothing else a test could
// confuse it with; a connector also gets the recipient_domains it requires.
std::string one_key_file(const std::string& section, const std::string& key,
                         const std::string& value) {
    if (section == "connector") {
        const std::string rcpt =
            key == "recipient_domains" ? "" : "recipient_domains = t.example\n";
        return "[connector.t]\n" + rcpt + key + " = " + value + "\n";
    }
    // [policy_map] requires listen beside its other keys.
    const std::string listen =
        section == "policy_map" && key != "listen" ? "listen = inet:127.0.0.1:8461\n" : "";
    return "[" + section + "]\n" + listen + key + " = " + value + "\n";
}

const Connector& connector_t(const Config& c) {
    return find(c, "t");
}

struct GoodValue {
    const char* section;
    const char* key;
    const char* value;  // valid, and not the default
    std::function<bool(const Config&)> parsed;
};

// One valid, non-default value per key and where it must land.
const std::vector<GoodValue>& good_values() {
    using std::chrono::milliseconds;
    using std::chrono::seconds;
    static const std::vector<GoodValue> rows = {
        {"milter", "socket", "unix:/run/dane-sts-milter/milter.sock",
         [](const Config& c) {
             return c.milter.socket == "unix:/run/dane-sts-milter/milter.sock";
         }},
        {"milter", "header", "X-Outbound-TLS",
         [](const Config& c) { return c.milter.header == "X-Outbound-TLS"; }},
        {"milter", "user", "mail", [](const Config& c) { return c.milter.user == "mail"; }},
        {"milter", "umask", "027", [](const Config& c) { return c.milter.umask == 027u; }},
        {"milter", "log_level", "warn",
         [](const Config& c) { return c.milter.log_level == LogLevel::warn; }},
        {"milter", "log_target", "syslog",
         [](const Config& c) { return c.milter.log_target == "syslog"; }},
        {"resolver", "trust_anchor_file", "/var/lib/unbound/root.key",
         [](const Config& c) {
             return c.resolver.trust_anchor_file == "/var/lib/unbound/root.key";
         }},
        {"resolver", "forwarders", "127.0.0.1@5353",
         [](const Config& c) {
             return c.resolver.forwarders == std::vector<std::string>{"127.0.0.1@5353"};
         }},
        {"resolver", "stub_zones", "Example.=127.0.0.2",
         [](const Config& c) {
             return c.resolver.stub_zones.size() == 1 &&
                    c.resolver.stub_zones[0].zone == "example." &&
                    c.resolver.stub_zones[0].address == "127.0.0.2";
         }},
        {"resolver", "unbound_config", "/etc/unbound/unbound.conf",
         [](const Config& c) { return c.resolver.unbound_config == "/etc/unbound/unbound.conf"; }},
        {"resolver", "timeout_ms", "1500",
         [](const Config& c) { return c.resolver.timeout == milliseconds(1500); }},
        {"sts", "ca_file", "/etc/ssl/private-ca.pem",
         [](const Config& c) { return c.sts.ca_file == "/etc/ssl/private-ca.pem"; }},
        {"sts", "https_port", "8443", [](const Config& c) { return c.sts.https_port == 8443; }},
        {"sts", "fetch_timeout_ms", "2500",
         [](const Config& c) { return c.sts.fetch_timeout == milliseconds(2500); }},
        {"probe", "enabled", "yes", [](const Config& c) { return c.probe.enabled; }},
        {"probe", "port", "2525", [](const Config& c) { return c.probe.port == 2525; }},
        {"probe", "timeout_ms", "4000",
         [](const Config& c) { return c.probe.timeout == milliseconds(4000); }},
        {"probe", "bind_address", "192.0.2.25",
         [](const Config& c) { return c.probe.bind_address == "192.0.2.25"; }},
        {"probe", "bind_address6", "2001:db8::25",
         [](const Config& c) { return c.probe.bind_address6 == "2001:db8::25"; }},
        {"cache", "store", "sqlite:/var/lib/dane-sts-milter/other.db",
         [](const Config& c) {
             return c.cache.store == "sqlite:/var/lib/dane-sts-milter/other.db";
         }},
        {"cache", "max_entries", "5000",
         [](const Config& c) { return c.cache.max_entries == 5000u; }},
        {"cache", "min_ttl", "60", [](const Config& c) { return c.cache.min_ttl == seconds(60); }},
        {"cache", "max_ttl", "3600",
         [](const Config& c) { return c.cache.max_ttl == seconds(3600); }},
        {"cache", "error_ttl", "30",
         [](const Config& c) { return c.cache.error_ttl == seconds(30); }},
        {"cache", "stale_ttl", "7200",
         [](const Config& c) { return c.cache.stale_ttl == seconds(7200); }},
        {"prefetch", "concurrency", "8",
         [](const Config& c) { return c.prefetch.concurrency == 8u; }},
        {"prefetch", "refresh_ahead", "0.5",
         [](const Config& c) { return c.prefetch.refresh_ahead == 0.5; }},
        {"prefetch", "active_window", "3600",
         [](const Config& c) { return c.prefetch.active_window == seconds(3600); }},
        {"prefetch", "warm_list", "/etc/dane-sts-milter/warm.txt",
         [](const Config& c) { return c.prefetch.warm_list == "/etc/dane-sts-milter/warm.txt"; }},
        {"rcpt", "lookup_timeout_ms", "1000",
         [](const Config& c) { return c.rcpt.lookup_timeout == milliseconds(1000); }},
        {"report", "days", "366", [](const Config& c) { return c.report.days == 366u; }},
        {"policy_map", "listen", "inet:127.0.0.1:18461",
         [](const Config& c) {
             return c.policy_map && c.policy_map->listen == "inet:127.0.0.1:18461";
         }},
        {"policy_map", "max_connections", "20000",
         [](const Config& c) { return c.policy_map && c.policy_map->max_connections == 20000u; }},
        {"metrics", "listen", "127.0.0.1:19464",
         [](const Config& c) { return c.metrics && c.metrics->listen == "127.0.0.1:19464"; }},
        {"control", "socket", "unix:/run/dane-sts-milter/control.sock",
         [](const Config& c) {
             return c.control && c.control->socket == "unix:/run/dane-sts-milter/control.sock";
         }},
        {"connector", "recipient_domains", "a.example, *.b.example",
         [](const Config& c) {
             const auto& r = connector_t(c).recipient_domains;
             return r.size() == 2 && r[0].to_string() == "a.example" &&
                    r[1].to_string() == "*.b.example";
         }},
        {"connector", "sender_domains", "tlsrpt.example",
         [](const Config& c) {
             const auto& s = connector_t(c).sender_domains;
             return s.size() == 1 && s[0].to_string() == "tlsrpt.example";
         }},
        {"connector", "mode", "none",
         [](const Config& c) {
             return connector_t(c).dane == DaneMode::none &&
                    connector_t(c).mta_sts == StsMode::none;
         }},
        {"connector", "dane", "mandatory",
         [](const Config& c) {
             return connector_t(c).dane == DaneMode::mandatory &&
                    connector_t(c).mta_sts == StsMode::opportunistic;
         }},
        {"connector", "mta_sts", "none",
         [](const Config& c) {
             return connector_t(c).dane == DaneMode::opportunistic &&
                    connector_t(c).mta_sts == StsMode::none;
         }},
        {"connector", "on_failure", "reject",
         [](const Config& c) { return connector_t(c).on_failure == OnFailure::reject; }},
        {"connector", "test_mode", "yes", [](const Config& c) { return connector_t(c).test_mode; }},
        {"connector", "tags", "eu, partner",
         [](const Config& c) {
             return connector_t(c).tags == std::vector<std::string>{"eu", "partner"};
         }},
    };
    return rows;
}

struct BadValue {
    const char* section;
    const char* key;
    const char* value;
    const char* expectation;  // part of the "expected ..." text
};

// One invalid value per key and what the error must say was expected.
const std::vector<BadValue>& bad_values() {
    static const std::vector<BadValue> rows = {
        {"milter", "socket", "tcp:8891", "inet:PORT@HOST, inet6:PORT@HOST, unix:/PATH"},
        {"milter", "header", "X Verdict", "a header field name"},
        {"milter", "user", "mail:mail", "a user name"},
        {"milter", "umask", "rwx", "an octal file mode mask from 000 to 777"},
        {"milter", "log_level", "verbose", "trace, debug, info, warn or error"},
        {"milter", "log_target", "journal", "stderr, syslog or file:/absolute/path"},
        {"resolver", "trust_anchor_file", "root.key", "an absolute path"},
        {"resolver", "forwarders", "ns.example",
         "a comma-separated list of IPv4 or IPv6 address[@port 1-65535]"},
        {"resolver", "stub_zones", "example.", "a comma-separated list of zone=address[@port]"},
        {"resolver", "unbound_config", "unbound.conf", "an absolute path"},
        {"resolver", "timeout_ms", "600001", "an integer from 1 to 600000 (milliseconds)"},
        {"sts", "ca_file", "certs.pem", "an absolute path"},
        {"sts", "https_port", "0", "an integer from 1 to 65535"},
        {"sts", "fetch_timeout_ms", "10s", "an integer from 1 to 600000 (milliseconds)"},
        {"probe", "enabled", "sometimes", "yes or no"},
        {"probe", "port", "65536", "an integer from 1 to 65535"},
        {"probe", "timeout_ms", "0", "an integer from 1 to 600000 (milliseconds)"},
        {"probe", "bind_address", "2001:db8::25", "an IPv4 address of this host, or nothing"},
        {"probe", "bind_address6", "192.0.2.25", "an IPv6 address of this host, or nothing"},
        {"cache", "store", "file:/var/lib/x.db", "memory, sqlite:/PATH or redis://HOST:PORT[/DB]"},
        {"cache", "max_entries", "0", "an integer from 1 to 1000000000"},
        {"cache", "min_ttl", "-1", "an integer from 0 to 31557600 (seconds)"},
        {"cache", "max_ttl", "0", "an integer from 1 to 31557600 (seconds)"},
        {"cache", "error_ttl", "1h", "an integer from 0 to 31557600 (seconds)"},
        {"cache", "stale_ttl", "31557601", "an integer from 0 to 31557600 (seconds)"},
        {"prefetch", "concurrency", "4097", "an integer from 1 to 4096"},
        {"prefetch", "refresh_ahead", "0", "a decimal fraction between 0 and 1"},
        {"prefetch", "active_window", "a day", "an integer from 0 to 31557600 (seconds)"},
        {"prefetch", "warm_list", "warm.txt", "an absolute path"},
        {"rcpt", "lookup_timeout_ms", "60001", "an integer from 0 to 60000 (milliseconds)"},
        {"report", "days", "0", "an integer from 1 to 366"},
        {"policy_map", "listen", "127.0.0.1:8461", "inet:HOST:PORT or unix:/PATH"},
        {"policy_map", "max_connections", "15", "an integer from 16 to 1000000"},
        {"metrics", "listen", "localhost", "HOST:PORT"},
        {"control", "socket", "inet:127.0.0.1:8953", "unix:/PATH"},
        {"connector", "recipient_domains", "*partner.example", "a comma-separated list of domains"},
        {"connector", "sender_domains", "[192.0.2.1]", "a comma-separated list of domains"},
        {"connector", "mode", "strict", "opportunistic, mandatory or none"},
        {"connector", "dane", "required", "opportunistic, mandatory or none"},
        {"connector", "mta_sts", "enforce", "opportunistic or none"},
        {"connector", "on_failure", "bounce", "defer or reject"},
        {"connector", "test_mode", "maybe", "yes or no"},
        {"connector", "tags", "eu;partner", "a comma-separated list of tags"},
    };
    return rows;
}

template <typename Row>
std::set<std::string> keys_of(const std::vector<Row>& rows) {
    std::set<std::string> keys;
    for (const Row& r : rows) {
        BOOST_TEST(keys.insert(std::string(r.section) + "." + r.key).second,
                   "twice: " << r.section << "." << r.key);
    }
    return keys;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(config_loader)

BOOST_AUTO_TEST_CASE(shipped_conf_loads) {
    const auto c = load_ok(std::string(DSM_SOURCE_DIR) + "/conf/milter.conf");
    BOOST_TEST(c->cache.store == "memory");  // runnable with no external services
    // below Debian's Postfix chroot: smtpd_milters = unix:dane-sts-milter/milter.sock
    BOOST_TEST(c->milter.socket == "unix:/var/spool/postfix/dane-sts-milter/milter.sock");
    BOOST_TEST(c->milter.umask == 0117u);  // the socket 0660, group dane-sts-milter
    BOOST_TEST(!c->policy_map.has_value());
    BOOST_TEST(!c->metrics.has_value());
    BOOST_TEST(!c->control.has_value());
    BOOST_TEST(c->report.days == 30u);  // SPEC §11 default
    BOOST_TEST(c->resolver.trust_anchor_file == "/usr/share/dns/root.key");
    BOOST_TEST(c->connectors.connectors().size() == 1u);
    const Connector& d = c->connectors.select("example.com", "");
    BOOST_TEST(d.name == "default");
    BOOST_TEST((d.dane == DaneMode::opportunistic));
    BOOST_TEST((d.mta_sts == StsMode::opportunistic));
}

BOOST_AUTO_TEST_CASE(spec_example_loads) {
    ConfigDir tmp;
    const auto c = load_ok(tmp.write(kSpecExample));
    BOOST_TEST(c->milter.socket == "inet:8891@127.0.0.1");
    BOOST_TEST(c->milter.user == "dane-sts-milter");
    BOOST_TEST(c->milter.umask == 07u);
    BOOST_TEST(to_string(c->milter.log_level) == "info");
    BOOST_TEST(c->resolver.forwarders.empty());
    BOOST_TEST(c->resolver.timeout.count() == 5000);
    BOOST_TEST(c->sts.https_port == 443);
    BOOST_TEST(!c->probe.enabled);
    BOOST_TEST(c->cache.store == "sqlite:/var/lib/dane-sts-milter/cache.db");
    BOOST_TEST(c->cache.max_entries == 1000000u);
    BOOST_TEST(c->cache.stale_ttl.count() == 3600);
    BOOST_TEST(c->prefetch.refresh_ahead == 0.8);
    BOOST_TEST(c->rcpt.lookup_timeout.count() == 3000);
    BOOST_REQUIRE(c->policy_map.has_value());
    BOOST_TEST(c->policy_map->listen == "inet:127.0.0.1:8461");
    BOOST_REQUIRE(c->metrics.has_value());
    BOOST_TEST(c->metrics->listen == "127.0.0.1:9464");

    const auto& list = c->connectors.connectors();
    BOOST_REQUIRE(list.size() == 2u);
    BOOST_TEST(list[0].name == "default");  // file order
    BOOST_TEST(list[1].name == "partners");
    const Connector& p = list[1];
    BOOST_TEST(p.recipient_domains.size() == 2u);
    BOOST_TEST(p.recipient_domains[1].to_string() == "*.partner.example");
    BOOST_TEST(p.sender_domains.empty());
    BOOST_TEST((p.on_failure == OnFailure::defer));
    BOOST_TEST(!p.test_mode);
    BOOST_TEST((p.tags == std::vector<std::string>{"partner", "eu"}));
    BOOST_TEST(c->connectors.select("mx.partner.example", "").name == "partners");
    BOOST_TEST(c->connectors.select("other.example", "").name == "default");
}

BOOST_AUTO_TEST_CASE(all_values_parsed) {
    ConfigDir tmp;
    const auto c = load_ok(tmp.write(R"(
[Milter]
Socket = UNIX:/run/dane-sts-milter/milter.sock
header = X-Verdict
umask = 0027
log_level = debug
log_target = FILE:/var/log/dsm.log
[resolver]
forwarders = 127.0.0.1@5353, ::1, 2001:db8::53@53,
stub_zones = test.=127.0.0.1@5353, Slow.Test = 127.0.0.2@5354, test=::1, .=127.0.0.3
timeout_ms = 250
[probe]
enabled = YES
[cache]
store = Redis://127.0.0.1:6379/2
[prefetch]
refresh_ahead = .5
[rcpt]
lookup_timeout_ms = 0
[policy_map]
listen = unix:/run/dane-sts-milter/policy.sock
[connector.x]
recipient_domains = Bücher.Example., *.Test
sender_domains = *.Example.ORG
)"));
    // Schemes are lower-cased so that consumers compare them verbatim.
    BOOST_TEST(c->milter.socket == "unix:/run/dane-sts-milter/milter.sock");
    BOOST_TEST(c->cache.store == "redis://127.0.0.1:6379/2");
    BOOST_TEST(c->milter.umask == 027u);
    BOOST_TEST(to_string(c->milter.log_level) == "debug");
    BOOST_TEST(c->milter.log_target == "file:/var/log/dsm.log");
    BOOST_TEST((c->resolver.forwarders ==
                std::vector<std::string>{"127.0.0.1@5353", "::1", "2001:db8::53@53"}));
    BOOST_REQUIRE(c->resolver.stub_zones.size() == 4u);
    BOOST_TEST(c->resolver.stub_zones[0].zone == "test.");
    BOOST_TEST(c->resolver.stub_zones[0].address == "127.0.0.1@5353");
    BOOST_TEST(c->resolver.stub_zones[1].zone == "slow.test.");
    BOOST_TEST(c->resolver.stub_zones[1].address == "127.0.0.2@5354");
    BOOST_TEST(c->resolver.stub_zones[2].zone == "test.");  // a zone may repeat
    BOOST_TEST(c->resolver.stub_zones[3].zone == ".");
    BOOST_TEST(c->probe.enabled);
    BOOST_TEST(c->prefetch.refresh_ahead == 0.5);
    BOOST_TEST(c->rcpt.lookup_timeout.count() == 0);
    const Connector& x = find(*c, "x");
    BOOST_TEST(x.recipient_domains[0].to_string() == "xn--bcher-kva.example");
    BOOST_TEST(x.recipient_domains[1].to_string() == "*.test");
    BOOST_TEST(x.sender_domains[0].to_string() == "*.example.org");
}

BOOST_AUTO_TEST_CASE(mode_sets_dane_and_mta_sts) {
    ConfigDir tmp;
    const auto c = load_ok(tmp.write(R"(
[connector.opp]
recipient_domains = opp.example
mode = opportunistic
[connector.unset]
recipient_domains = unset.example
[connector.none]
recipient_domains = none.example
mode = none
[connector.mand]
recipient_domains = mand.example
mode = mandatory
on_failure = reject
test_mode = yes
[connector.override]
mta_sts = none
recipient_domains = over.example
dane = mandatory
mode = opportunistic
[connector.override2]
recipient_domains = over2.example
mode = none
dane = opportunistic
[connector.empty_overrides]
recipient_domains = eo.example
mode = mandatory
dane =
mta_sts =
)"));
    struct Row {
        const char* name;
        DaneMode dane;
        StsMode sts;
    };
    for (const Row& r : {Row{"opp", DaneMode::opportunistic, StsMode::opportunistic},
                         Row{"unset", DaneMode::opportunistic, StsMode::opportunistic},
                         Row{"none", DaneMode::none, StsMode::none},
                         Row{"mand", DaneMode::mandatory, StsMode::opportunistic},
                         Row{"override", DaneMode::mandatory, StsMode::none},
                         Row{"override2", DaneMode::opportunistic, StsMode::none},
                         Row{"empty_overrides", DaneMode::mandatory, StsMode::opportunistic}}) {
        BOOST_TEST_CONTEXT(r.name) {
            const Connector& x = find(*c, r.name);
            BOOST_TEST(to_string(x.dane) == to_string(r.dane));
            BOOST_TEST(to_string(x.mta_sts) == to_string(r.sts));
        }
    }
    BOOST_TEST(find(*c, "none").validates_nothing());
    BOOST_TEST((find(*c, "mand").on_failure == OnFailure::reject));
    BOOST_TEST(find(*c, "mand").test_mode);
    // No catch-all in this file: the implicit default covers the rest.
    BOOST_TEST(c->connectors.select("elsewhere.example", "").name == "default");
}

BOOST_AUTO_TEST_CASE(no_connectors_gives_implicit_default) {
    ConfigDir tmp;
    const auto c = load_ok(tmp.write("[milter]\nlog_level = warn\n"));
    BOOST_TEST(c->connectors.connectors().size() == 1u);
    BOOST_TEST(c->connectors.select("example.com", "").name == "default");
    const auto empty = load_ok(tmp.write(""));
    BOOST_TEST(empty->milter.socket == "unix:/var/spool/postfix/dane-sts-milter/milter.sock");
    BOOST_TEST(empty->cache.store == "sqlite:/var/lib/dane-sts-milter/cache.db");
}

BOOST_AUTO_TEST_CASE(comments) {
    ConfigDir tmp;
    const auto c =
        load_ok(tmp.write("# hash comment\n"
                          "; semicolon comment\n"
                          "[milter]\n"
                          "   # indented = comment\n"
                          "\t; indented = comment\n"
                          "header = X-Test\r\n"
                          "# [unknown]\n"
                          "; bogus = key\n"
                          "user = ${milter.header}\n"
                          "[resolver]\n"
                          "unbound_config = /etc/unbound/extra.conf ; not a comment # nor this\n"));
    // A value runs to the end of its line; nothing is expanded.
    BOOST_TEST(c->milter.header == "X-Test");
    BOOST_TEST(c->milter.user == "${milter.header}");
    BOOST_TEST(c->resolver.unbound_config == "/etc/unbound/extra.conf ; not a comment # nor this");
}

BOOST_AUTO_TEST_CASE(inline_text_is_part_of_the_value) {
    ConfigDir tmp;
    expect_error(
        tmp, "[milter]\nlog_level = info ; verbose\n",
        {"[milter] log_level", "expected trace, debug, info, warn or error", "info ; verbose"});
}

BOOST_AUTO_TEST_CASE(unknown_key) {
    ConfigDir tmp;
    expect_error(tmp, "[milter]\nsockett = inet:1@127.0.0.1\n",
                 {":2:", "[milter] sockett", "unknown key", "socket"});
    expect_error(tmp, "[connector.partners]\nrecipient_domains = *\nmodus = none\n",
                 {":3:", "[connector.partners] modus", "unknown key", "mode"});
}

BOOST_AUTO_TEST_CASE(unknown_section) {
    ConfigDir tmp;
    expect_error(tmp, "[milter]\n[sts]\n[stss]\nca_file = /x\n",
                 {":3:", "[stss]", "unknown section"});
    expect_error(tmp, "[connector]\nrecipient_domains = *\n", {"[connector]", "unknown section"});
    expect_error(tmp, "[connector.]\nrecipient_domains = *\n", {"[connector.]", "NAME"});
    expect_error(tmp, "[connector.a.b]\nrecipient_domains = *\n", {"[connector.a.b]", "NAME"});
}

BOOST_AUTO_TEST_CASE(bad_mode) {
    ConfigDir tmp;
    expect_error(
        tmp, "[connector.partners]\nrecipient_domains = p.example\nmode = strict\n",
        {":3:", "[connector.partners] mode", "opportunistic, mandatory or none", "\"strict\""});
    expect_error(tmp, "[connector.p]\nrecipient_domains = p.example\nmta_sts = mandatory\n",
                 {"[connector.p] mta_sts", "no mandatory mode"});
    expect_error(tmp, "[connector.p]\nrecipient_domains = p.example\non_failure = bounce\n",
                 {"[connector.p] on_failure", "defer or reject"});
    expect_error(tmp, "[connector.p]\nrecipient_domains = p.example\ntest_mode = maybe\n",
                 {"[connector.p] test_mode", "yes or no"});
    expect_error(tmp, "[connector.p]\nrecipient_domains = p.example\ntags = a b\n",
                 {"[connector.p] tags", "\"a b\""});
}

BOOST_AUTO_TEST_CASE(bad_number) {
    ConfigDir tmp;
    expect_error(tmp, "[resolver]\ntimeout_ms = 5s\n",
                 {"[resolver] timeout_ms", "expected an integer from 1 to 600000", "\"5s\""});
    expect_error(tmp, "[resolver]\ntimeout_ms = 0\n", {"[resolver] timeout_ms"});
    expect_error(tmp, "[sts]\nhttps_port = 65536\n", {"[sts] https_port", "65535"});
    expect_error(tmp, "[probe]\nport = -1\n", {"[probe] port"});
    expect_error(tmp, "[cache]\nmax_entries = 99999999999999999999999\n", {"[cache] max_entries"});
    expect_error(tmp, "[cache]\nmin_ttl = 600\nmax_ttl = 300\n", {"[cache] min_ttl", "max_ttl"});
    expect_error(tmp, "[prefetch]\nrefresh_ahead = 1\n",
                 {"[prefetch] refresh_ahead", "between 0 and 1"});
    expect_error(tmp, "[prefetch]\nrefresh_ahead = nan\n", {"[prefetch] refresh_ahead"});
    expect_error(tmp, "[prefetch]\nconcurrency = 0\n", {"[prefetch] concurrency"});
    expect_error(tmp, "[rcpt]\nlookup_timeout_ms = 120000\n", {"[rcpt] lookup_timeout_ms"});
    expect_error(tmp, "[milter]\numask = 008\n", {"[milter] umask", "octal"});
    expect_error(tmp, "[probe]\nenabled = 2\n", {"[probe] enabled", "yes or no"});
}

// [probe] bind_address, bind_address6: empty is unset (the kernel chooses),
// and each takes only its own family, as Postfix's smtp_bind_address(6).
BOOST_AUTO_TEST_CASE(probe_bind_addresses) {
    ConfigDir tmp;
    const auto unset = load_ok(tmp.write("[probe]\nbind_address =\nbind_address6 =\n"));
    BOOST_TEST(unset->probe.bind_address.empty());
    BOOST_TEST(unset->probe.bind_address6.empty());
    const auto set = load_ok(tmp.write("[probe]\nbind_address = 127.0.0.9\nbind_address6 = ::1\n"));
    BOOST_TEST(set->probe.bind_address == "127.0.0.9");
    BOOST_TEST(set->probe.bind_address6 == "::1");
    expect_error(tmp, "[probe]\nbind_address = mail.example\n",
                 {"[probe] bind_address", "an IPv4 address of this host", "\"mail.example\""});
    expect_error(tmp, "[probe]\nbind_address6 = [::1]\n",
                 {"[probe] bind_address6", "an IPv6 address of this host", "\"[::1]\""});
}

BOOST_AUTO_TEST_CASE(missing_recipient_domains) {
    ConfigDir tmp;
    expect_error(tmp, "[connector.partners]\nmode = mandatory\n",
                 {":1:", "[connector.partners] recipient_domains", "missing"});
    expect_error(tmp, "[connector.partners]\nrecipient_domains =\n",
                 {"[connector.partners] recipient_domains", "expected"});
    expect_error(tmp, "[connector.partners]\nrecipient_domains = ,\n",
                 {"[connector.partners] recipient_domains"});
    expect_error(tmp, "[policy_map]\n", {"[policy_map] listen", "missing"});
    expect_error(tmp, "[control]\n", {"[control] socket", "missing"});
    expect_error(tmp, "[control]\nsocket = unix:control.sock\n",
                 {"[control] socket", "unix:/PATH"});
}

BOOST_AUTO_TEST_CASE(bad_patterns) {
    ConfigDir tmp;
    for (const char* bad : {"exa..mple", "*.", "**", "a.*.example", "[192.0.2.1]", "exa_mple.com",
                            "*example.com", ".example.com"}) {
        BOOST_TEST_CONTEXT(bad) {
            expect_error(tmp, std::string("[connector.p]\nrecipient_domains = ") + bad + "\n",
                         {"[connector.p] recipient_domains", bad});
        }
    }
    expect_error(tmp, "[connector.p]\nrecipient_domains = *\nsender_domains = bad..example\n",
                 {"[connector.p] sender_domains", "empty label"});
}

BOOST_AUTO_TEST_CASE(bad_socket) {
    ConfigDir tmp;
    for (const char* bad :
         {"inet:99999@127.0.0.1", "inet:8891@", "inet:8891@exa_mple", "tcp:8891",
          "unix:", "unix:relative.sock", "inet6:8891@[::g]", "8891", "inet:port@127.0.0.1"}) {
        BOOST_TEST_CONTEXT(bad) {
            expect_error(tmp, std::string("[milter]\nsocket = ") + bad + "\n",
                         {"[milter] socket", "inet:PORT@HOST", bad});
        }
    }
    ConfigDir ok;
    for (const char* good : {"inet:8891@127.0.0.1", "inet:8891", "inet:8891@localhost",
                             "inet6:8891@::1", "inet6:8891@[::1]", "local:/run/m.sock"}) {
        BOOST_TEST_CONTEXT(good) {
            load_ok(ok.write(std::string("[milter]\nsocket = ") + good + "\n"));
        }
    }
}

BOOST_AUTO_TEST_CASE(bad_listen_store_and_targets) {
    ConfigDir tmp;
    expect_error(tmp, "[policy_map]\nlisten = 127.0.0.1:8461\n", {"[policy_map] listen"});
    expect_error(tmp, "[policy_map]\nlisten = inet:127.0.0.1\n", {"[policy_map] listen"});
    expect_error(tmp, "[metrics]\nlisten = ::1:9464\n", {"[metrics] listen"});
    load_ok(tmp.write("[metrics]\nlisten = [::1]:9464\n[policy_map]\nlisten = inet:localhost:1\n"));
    expect_error(tmp, "[cache]\nstore = mysql://x\n", {"[cache] store", "memory, sqlite"});
    expect_error(tmp, "[cache]\nstore = redis://127.0.0.1\n", {"[cache] store"});
    expect_error(tmp, "[cache]\nstore = redis://127.0.0.1:6379/x\n", {"[cache] store"});
    expect_error(tmp, "[cache]\nstore = sqlite:\n", {"[cache] store"});
    expect_error(tmp, "[milter]\nlog_target = journal\n", {"[milter] log_target"});
    expect_error(tmp, "[milter]\nheader = X-Bad Header\n", {"[milter] header"});
    expect_error(tmp, "[milter]\nheader = X-Bad:\n", {"[milter] header"});
    expect_error(tmp, "[resolver]\nforwarders = 127.0.0.1@0\n", {"[resolver] forwarders"});
    expect_error(tmp, "[resolver]\nforwarders = ns.example\n", {"[resolver] forwarders"});
    expect_error(tmp, "[resolver]\ntrust_anchor_file = root.key\n",
                 {"[resolver] trust_anchor_file", "absolute path"});
}

BOOST_AUTO_TEST_CASE(bad_stub_zones) {
    ConfigDir tmp;
    for (const char* bad : {"test.", "test.=", "test.=localhost", "test.=127.0.0.1@70000",
                            "te_st.=127.0.0.1", "=127.0.0.1", "a..b=127.0.0.1"}) {
        BOOST_TEST_CONTEXT(bad) {
            expect_error(tmp, std::string("[resolver]\nstub_zones = ") + bad + "\n",
                         {"[resolver] stub_zones", "zone=address[@port]"});
        }
    }
}

BOOST_AUTO_TEST_CASE(syntax_errors) {
    ConfigDir tmp;
    expect_error(tmp, "[milter\nsocket = inet:1@127.0.0.1\n", {":1:", "[section]"});
    expect_error(tmp, "[milter]\njust some words\n", {":2:", "key = value"});
    expect_error(tmp, "socket = inet:1@127.0.0.1\n", {":1:", "before any [section]"});
    expect_error(tmp, "[milter]\nlog_level = info\nLOG_LEVEL = debug\n",
                 {":3:", "[milter] LOG_LEVEL", "given twice", "line 2"});
    expect_error(
        tmp, "[connector.a]\nrecipient_domains = *\n[connector.A]\nrecipient_domains = x.example\n",
        {":3:", "[connector.A]", "given twice", "line 1"});
}

BOOST_AUTO_TEST_CASE(missing_file) {
    ConfigDir tmp;
    const std::string path = (tmp.dir / "nope.conf").string();
    const auto r = load_config(path);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().find(path) != std::string::npos);
    const auto d = load_config(tmp.dir.string());
    BOOST_REQUIRE(!d.ok());
    BOOST_TEST(d.error().find(tmp.dir.string()) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(log_level_names) {
    BOOST_TEST(to_string(LogLevel::trace) == "trace");
    BOOST_TEST(to_string(LogLevel::warn) == "warn");
    BOOST_TEST(to_string(LogLevel::error) == "error");
}

// "Every key exercised by a test": each SPEC §2 key set alone to a valid
// value other than its default lands where it belongs...
BOOST_AUTO_TEST_CASE(every_key_parses_a_non_default_value) {
    BOOST_TEST((keys_of(good_values()) == kSpecKeys));
    const auto defaults = load_ok(ConfigDir().write(""));
    ConfigDir tmp;
    for (const GoodValue& row : good_values()) {
        BOOST_TEST_CONTEXT(row.section << "." << row.key << " = " << row.value) {
            const std::string text = one_key_file(row.section, row.key, row.value);
            if (std::string(row.section) != "connector" &&
                std::string(row.section) != "policy_map" && std::string(row.section) != "metrics") {
                BOOST_TEST(!row.parsed(*defaults),
                           "the value is the default: the row proves nothing");
            }
            BOOST_TEST(row.parsed(*load_ok(tmp.write(text))));
        }
    }
}

// ...and a bad value of each is refused with the file, the line, the key and
// what was expected.
BOOST_AUTO_TEST_CASE(every_key_refuses_a_bad_value) {
    BOOST_TEST((keys_of(bad_values()) == kSpecKeys));
    ConfigDir tmp;
    for (const BadValue& row : bad_values()) {
        BOOST_TEST_CONTEXT(row.section << "." << row.key << " = " << row.value) {
            const std::string text = one_key_file(row.section, row.key, row.value);
            const std::string section =
                std::string(row.section) == "connector" ? "connector.t" : row.section;
            // The key's line: after the line a connector or [policy_map]
            // needs (one_key_file).
            const bool second =
                (std::string(row.section) == "connector" &&
                 std::string(row.key) != "recipient_domains") ||
                (std::string(row.section) == "policy_map" && std::string(row.key) != "listen");
            const std::string line = second ? ":3:" : ":2:";
            const std::string where = "[" + section + "] " + row.key;
            const std::string expectation = std::string("expected ") + row.expectation;
            expect_error(tmp, text, {line.c_str(), where.c_str(), expectation.c_str(), row.value});
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
