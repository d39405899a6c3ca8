// core/dns/unbound_resolver and core/dane/dane_lookup against the DNSSEC test
// bed (tests/testbed/dns: knotd on NET.10.53 (testbed_net.hpp), zones.txt lists the cases).
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/config/config.hpp"
#include "core/dane/dane_lookup.hpp"
#include "core/dns/unbound_resolver.hpp"
#include "tests/support/dane_facts_print.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/testbed_net.hpp"
#include "tests/support/testbed_resolver.hpp"

using dsm::config::ResolverSettings;
using namespace dsm::dane;
using namespace dsm::dns;
using namespace dsm::test;  // the test beds: testbed_resolver.hpp
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

// Accepts UDP datagrams and TCP connections on 127.0.0.1 and never answers:
// the one way to make a lookup outlast any timeout.
class BlackHole {
  public:
    BlackHole() {
        // The same port for TCP, so that a fallback to TCP hangs too. The
        // port the kernel gives the UDP socket may be taken for TCP (a
        // connection in TIME_WAIT, another test's listener): then try another.
        for (int attempt = 0; attempt < 50 && port_ == 0; ++attempt) {
            udp_ = ::socket(AF_INET, SOCK_DGRAM, 0);
            tcp_ = ::socket(AF_INET, SOCK_STREAM, 0);
            BOOST_TEST_REQUIRE((udp_ >= 0 && tcp_ >= 0));
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            BOOST_TEST_REQUIRE(::bind(udp_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
            socklen_t len = sizeof a;
            BOOST_TEST_REQUIRE(::getsockname(udp_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
            if (::bind(tcp_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
                port_ = ntohs(a.sin_port);
            } else {
                ::close(udp_);
                ::close(tcp_);
            }
        }
        BOOST_TEST_REQUIRE(port_ != 0, "no port free for both UDP and TCP");
        BOOST_TEST_REQUIRE(::listen(tcp_, 64) == 0);
    }
    ~BlackHole() {
        ::close(udp_);
        ::close(tcp_);
    }
    BlackHole(const BlackHole&) = delete;
    BlackHole& operator=(const BlackHole&) = delete;
    [[nodiscard]] std::string address() const { return "127.0.0.1@" + std::to_string(port_); }

  private:
    int udp_ = -1;
    int tcp_ = -1;
    unsigned port_ = 0;
};

// The DANE facts of `domain` through a new resolver on the DNS test bed,
// logged.
DaneFacts lookup_on_testbed(const std::string& domain) {
    auto r = make_resolver(testbed_resolver_settings());
    DaneFacts f = lookup_dane(*r, domain);
    BOOST_TEST_MESSAGE(describe(f));
    return f;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(unbound_resolver)

BOOST_AUTO_TEST_CASE(settings_errors_name_the_setting) {
    dsm::test::TempDir tmp{"dsm-resolver-test"};
    const auto error_of = [](const ResolverSettings& s) {
        auto r = UnboundResolver::create(s);
        return r.ok() ? std::string() : r.error();
    };
    ResolverSettings s;
    s.stub_zones = {{"test.", dsm::test::testbed_addr("10.53") + "@53"}};

    s.trust_anchor_file = tmp.path.string() + "/missing.ds";
    std::string e = error_of(s);
    BOOST_TEST(e.find("resolver.trust_anchor_file") != std::string::npos, e);
    BOOST_TEST(e.find("missing.ds") != std::string::npos, e);

    s.trust_anchor_file = tmp.write("empty.ds", "; nothing here\n\n");
    e = error_of(s);
    BOOST_TEST(e.find("resolver.trust_anchor_file") != std::string::npos, e);
    BOOST_TEST(e.find("no DS or DNSKEY") != std::string::npos, e);

    s.trust_anchor_file = tmp.write("garbage.ds", "test. IN DS not a digest\n");
    e = error_of(s);
    BOOST_TEST(e.find("resolver.trust_anchor_file") != std::string::npos, e);

    const std::string good_ta =
        tmp.write("good.ds",
                  "test. 300 IN DS 6999 13 2 "
                  "a1fdd5cf50d014007d2bec7f2d3f9254272d201267efeac41a2e58cac0505b95\n");
    s.trust_anchor_file = good_ta;
    BOOST_TEST(error_of(s).empty(), error_of(s));

    // unbound-anchor's autotrust format: comments after the record.
    s.trust_anchor_file = tmp.write(
        "root.key",
        "; autotrust trust anchor file\n;;id: . 1\n. 172800 IN DNSKEY 257 3 8 "
        "AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN"
        "7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8"
        "efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLY"
        "A4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU= "
        ";{id = 20326 (ksk), size = 2048b} ;;state=2 [  VALID  ] ;;count=0 ;;lastchange=1\n");
    BOOST_TEST(error_of(s).empty(), error_of(s));

    s.trust_anchor_file = good_ta;
    s.stub_zones = {{"test.", "not-an-address"}};
    e = error_of(s);
    BOOST_TEST(e.find("resolver.stub_zones") != std::string::npos, e);

    s.stub_zones = {};
    s.forwarders = {"127.0.0.1@notaport"};
    e = error_of(s);
    BOOST_TEST(e.find("resolver.forwarders") != std::string::npos, e);

    s.forwarders = {};
    s.unbound_config = tmp.path.string() + "/missing.conf";
    e = error_of(s);
    BOOST_TEST(e.find("resolver.unbound_config") != std::string::npos, e);

    s.unbound_config = tmp.write("bad.conf", "server:\n  no-such-option: yes\n");
    e = error_of(s);
    BOOST_TEST(e.find("resolver.unbound_config") != std::string::npos, e);

    s.unbound_config = tmp.write("good.conf", "server:\n  edns-buffer-size: 1232\n");
    BOOST_TEST(error_of(s).empty(), error_of(s));
}

BOOST_AUTO_TEST_CASE(answers_carry_outcome_and_dnssec_state) {
    auto r = make_resolver(testbed_resolver_settings());

    const DnsAnswer mx = r->query("dane-ok.test", RrType::mx);
    BOOST_TEST(to_string(mx.outcome) == "answer");
    BOOST_TEST(to_string(mx.dnssec) == "secure");
    BOOST_TEST(mx.records.size() == 1u);
    BOOST_TEST(mx.ttl > 0u);
    BOOST_TEST(mx.ttl <= 300u);
    BOOST_TEST(!mx.cname_expanded());

    const DnsAnswer dotted = r->query("dane-ok.test.", RrType::mx);
    BOOST_TEST(dotted.qname == "dane-ok.test");
    BOOST_TEST(to_string(dotted.dnssec) == "secure");

    const DnsAnswer nodata = r->query("notlsa.test", RrType::tlsa);
    BOOST_TEST(to_string(nodata.outcome) == "nodata");
    BOOST_TEST(to_string(nodata.dnssec) == "secure");

    const DnsAnswer nx = r->query("nosuch.test", RrType::a);
    BOOST_TEST(to_string(nx.outcome) == "nxdomain");
    BOOST_TEST(to_string(nx.dnssec) == "secure");

    const DnsAnswer insecure = r->query("insecure.test", RrType::mx);
    BOOST_TEST(to_string(insecure.outcome) == "answer");
    BOOST_TEST(to_string(insecure.dnssec) == "insecure");

    const DnsAnswer bogus = r->query("_25._tcp.mx.bogus.test", RrType::tlsa);
    // libunbound returns the records that failed validation; they must not
    // reach anyone.
    BOOST_TEST(to_string(bogus.dnssec) == "bogus");
    BOOST_TEST(to_string(bogus.outcome) == "tempfail");
    BOOST_TEST(!bogus.why_bogus.empty());
    BOOST_TEST(bogus.records.empty());
    BOOST_TEST(bogus.ttl == 0u);

    const DnsAnswer alias = r->query("alias.cname-mx.test", RrType::a);
    BOOST_TEST(to_string(alias.outcome) == "answer");
    BOOST_TEST(to_string(alias.dnssec) == "secure");
    BOOST_TEST(alias.cname_expanded());
    BOOST_TEST(alias.canonical_name == "real.cname-mx.test");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dane_lookup)

BOOST_AUTO_TEST_CASE(dane_ok) {
    const DaneFacts f = lookup_on_testbed("dane-ok.test");
    BOOST_TEST(to_string(f.mx_dnssec) == "secure");
    BOOST_TEST(to_string(f.dane) == "pass");
    BOOST_TEST(!f.null_mx);
    BOOST_TEST(!f.implicit_mx);
    BOOST_TEST(f.ttl.count() > 0);
    BOOST_TEST(f.ttl.count() <= 300);
    const auto& h = host(f, 0);
    BOOST_TEST(h.name == "mx.dane-ok.test");
    BOOST_TEST(h.preference == 10);
    BOOST_TEST(to_string(h.dane) == "dane");
    BOOST_TEST(to_string(h.address_dnssec) == "secure");
    BOOST_TEST(h.addresses == std::vector<std::string>{dsm::test::testbed_addr("20.1")});
    BOOST_TEST_REQUIRE(h.tlsa.size() == 1u);
    BOOST_TEST(h.tlsa[0].qname == "_25._tcp.mx.dane-ok.test");
    BOOST_TEST_REQUIRE(h.tlsa[0].records.size() == 1u);
    const auto& rec = h.tlsa[0].records[0];
    BOOST_TEST(rec.usage == 3);
    BOOST_TEST(rec.selector == 1);
    BOOST_TEST(rec.mtype == 1);
    BOOST_TEST(rec.data.size() == 32u);
    BOOST_TEST(rec.to_string().rfind("3 1 1 ", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(dane_ok2_one_dane_mx_of_two) {
    const DaneFacts f = lookup_on_testbed("dane-ok2.test");
    BOOST_TEST(to_string(f.dane) == "pass");
    BOOST_TEST(host(f, 0).name == "mx.dane-ok2.test");
    BOOST_TEST(to_string(host(f, 0).dane) == "dane");
    BOOST_TEST(host(f, 1).name == "mx2.dane-ok2.test");
    BOOST_TEST(to_string(host(f, 1).dane) == "none");
}

BOOST_AUTO_TEST_CASE(dane_unusable) {
    const DaneFacts f = lookup_on_testbed("dane-unusable.test");
    BOOST_TEST(to_string(f.dane) == "unusable");
    BOOST_TEST(to_string(host(f, 0).dane) == "unusable");
    BOOST_TEST_REQUIRE(host(f, 0).tlsa.size() == 1u);
    BOOST_TEST(host(f, 0).tlsa[0].records.size() == 2u);
}

BOOST_AUTO_TEST_CASE(notlsa) {
    const DaneFacts f = lookup_on_testbed("notlsa.test");
    BOOST_TEST(to_string(f.dane) == "none");
    BOOST_TEST(to_string(f.mx_dnssec) == "secure");
    BOOST_TEST(to_string(host(f, 0).address_dnssec) == "secure");
    BOOST_TEST_REQUIRE(host(f, 0).tlsa.size() == 1u);
    // _25._tcp.mx.notlsa.test does not exist at all: NXDOMAIN, not NODATA.
    BOOST_TEST(to_string(host(f, 0).tlsa[0].outcome) == "nxdomain");
    BOOST_TEST(to_string(host(f, 0).tlsa[0].dnssec) == "secure");
    BOOST_TEST(f.why == "no MX host of notlsa.test publishes TLSA records");
}

BOOST_AUTO_TEST_CASE(insecure) {
    const DaneFacts f = lookup_on_testbed("insecure.test");
    BOOST_TEST(to_string(f.dane) == "none");
    BOOST_TEST(to_string(f.mx_dnssec) == "insecure");
    BOOST_TEST(to_string(host(f, 0).dane) == "none");
    BOOST_TEST(host(f, 0).tlsa.empty());  // its 3 1 1 record must never count
    BOOST_TEST(f.why.find("insecure") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bogus_tlsa_is_error_never_none) {
    const DaneFacts f = lookup_on_testbed("bogus.test");
    BOOST_TEST(to_string(f.dane) == "error");
    BOOST_TEST(to_string(f.mx_dnssec) == "secure");
    BOOST_TEST(to_string(host(f, 0).address_dnssec) == "secure");
    BOOST_TEST(to_string(host(f, 0).dane) == "error");
    BOOST_TEST_REQUIRE(host(f, 0).tlsa.size() == 1u);
    BOOST_TEST(to_string(host(f, 0).tlsa[0].dnssec) == "bogus");
    BOOST_TEST(!host(f, 0).tlsa[0].why_bogus.empty());
    BOOST_TEST(f.why.find("TLSA lookup for _25._tcp.mx.bogus.test is bogus") == 0u, f.why);
}

BOOST_AUTO_TEST_CASE(bogus_mx) {
    const DaneFacts f = lookup_on_testbed("bogus-mx.test");
    BOOST_TEST(to_string(f.mx_dnssec) == "bogus");
    BOOST_TEST(to_string(f.dane) == "error");
    BOOST_TEST(!f.mx_why_bogus.empty());
    BOOST_TEST(f.hosts.empty());
}

BOOST_AUTO_TEST_CASE(expired) {
    const DaneFacts f = lookup_on_testbed("expired.test");
    BOOST_TEST(to_string(f.mx_dnssec) == "bogus");
    BOOST_TEST(to_string(f.dane) == "error");
}

BOOST_AUTO_TEST_CASE(nullmx) {
    const DaneFacts f = lookup_on_testbed("nullmx.test");
    BOOST_TEST(f.null_mx);
    BOOST_TEST(to_string(f.mx_dnssec) == "secure");
    BOOST_TEST(f.hosts.empty());
    BOOST_TEST(to_string(f.dane) == "none");
}

BOOST_AUTO_TEST_CASE(implicit_mx) {
    const DaneFacts f = lookup_on_testbed("implicit.test");
    BOOST_TEST(f.implicit_mx);
    BOOST_TEST(to_string(f.mx_outcome) == "nodata");
    BOOST_TEST(to_string(f.mx_dnssec) == "secure");
    BOOST_TEST(to_string(f.dane) == "pass");
    BOOST_TEST(host(f, 0).name == "implicit.test");
    BOOST_TEST(host(f, 0).preference == 0);
}

BOOST_AUTO_TEST_CASE(cname_mx_tlsa_at_expanded_name) {
    const DaneFacts f = lookup_on_testbed("cname-mx.test");
    BOOST_TEST(to_string(f.dane) == "pass");
    const auto& h = host(f, 0);
    BOOST_TEST(h.name == "alias.cname-mx.test");
    BOOST_TEST(h.canonical_name == "real.cname-mx.test");
    BOOST_TEST_REQUIRE(!h.tlsa.empty());
    BOOST_TEST(h.tlsa[0].qname == "_25._tcp.real.cname-mx.test");
    BOOST_TEST(to_string(h.dane) == "dane");
}

BOOST_AUTO_TEST_CASE(noanswer_is_error_within_the_timeout) {
    auto r = make_resolver(testbed_resolver_settings());
    const auto start = Clock::now();
    const DaneFacts f = lookup_dane(*r, "noanswer.test");
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    BOOST_TEST_MESSAGE(describe(f) << "\n  took " << took.count() << " ms");
    BOOST_TEST(to_string(f.dane) == "error");
    BOOST_TEST(to_string(f.mx_outcome) == "tempfail");
    BOOST_TEST(f.why.find("MX lookup for noanswer.test") == 0u, f.why);
    BOOST_TEST(took.count() < 3000 + 1000);
}

BOOST_AUTO_TEST_CASE(mixed) {
    const DaneFacts f = lookup_on_testbed("mixed.test");
    BOOST_TEST(to_string(f.dane) == "pass");
    BOOST_TEST(to_string(host(f, 0).dane) == "dane");
    BOOST_TEST(host(f, 0).name == "mx1.mixed.test");
    BOOST_TEST(to_string(host(f, 1).dane) == "none");
}

BOOST_AUTO_TEST_CASE(partner_and_sub_domain) {
    auto r = make_resolver(testbed_resolver_settings());
    const DaneFacts p = lookup_dane(*r, "partner.test");
    BOOST_TEST_MESSAGE(describe(p));
    BOOST_TEST(to_string(p.dane) == "pass");
    const DaneFacts eu = lookup_dane(*r, "eu.partner.test");
    BOOST_TEST_MESSAGE(describe(eu));
    BOOST_TEST(to_string(eu.dane) == "none");
    BOOST_TEST(to_string(eu.mx_dnssec) == "secure");
    BOOST_TEST(host(eu, 0).name == "mx.eu.partner.test");
}

BOOST_AUTO_TEST_CASE(nxdomain) {
    const DaneFacts f = lookup_on_testbed("nosuch.test");
    BOOST_TEST(f.nxdomain);
    BOOST_TEST(to_string(f.dane) == "none");
    BOOST_TEST(to_string(f.mx_dnssec) == "secure");
    BOOST_TEST(f.hosts.empty());
}

BOOST_AUTO_TEST_CASE(mx_host_limit) {
    auto r = make_resolver(testbed_resolver_settings());
    dsm::dane::Limits limits;
    limits.max_mx_hosts = 1;
    const DaneFacts f = lookup_dane(*r, "mixed.test", limits);
    BOOST_TEST(f.hosts.size() == 1u);
    BOOST_TEST(f.mx_hosts_skipped == 1u);
    BOOST_TEST(to_string(f.dane) == "pass");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(resolver_load)

BOOST_AUTO_TEST_CASE(eight_threads_share_one_resolver) {
    auto r = make_resolver(testbed_resolver_settings());
    struct Case {
        const char* domain;
        DomainDane dane;
    };
    const std::vector<Case> cases = {
        {"dane-ok.test", DomainDane::pass},           {"dane-ok2.test", DomainDane::pass},
        {"dane-unusable.test", DomainDane::unusable}, {"notlsa.test", DomainDane::none},
        {"insecure.test", DomainDane::none},          {"bogus.test", DomainDane::error},
        {"bogus-mx.test", DomainDane::error},         {"implicit.test", DomainDane::pass},
        {"cname-mx.test", DomainDane::pass},          {"mixed.test", DomainDane::pass},
        {"eu.partner.test", DomainDane::none},        {"nosuch.test", DomainDane::none},
    };
    constexpr int threads = 8;
    constexpr int rounds = 25;
    std::atomic<int> wrong{0};
    std::atomic<int> lookups{0};
    const auto start = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < rounds; ++i) {
                const Case& c = cases[static_cast<std::size_t>(t + i) % cases.size()];
                const DaneFacts f = lookup_dane(*r, c.domain);
                lookups.fetch_add(1);
                if (f.dane != c.dane) {
                    wrong.fetch_add(1);
                }
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    BOOST_TEST_MESSAGE(lookups.load() << " DANE walks on 8 threads in " << took.count() << " ms");
    BOOST_TEST(wrong.load() == 0);
    BOOST_TEST(lookups.load() == threads * rounds);
}

BOOST_AUTO_TEST_CASE(noanswer_with_short_timeout_then_destroy) {
    auto r = make_resolver(testbed_resolver_settings(milliseconds(200)));
    for (int i = 0; i < 10; ++i) {
        const auto start = Clock::now();
        const DnsAnswer a = r->query("noanswer.test", RrType::mx);
        const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
        BOOST_TEST_CONTEXT("round " << i << ": " << a.error << " after " << took.count() << " ms") {
            BOOST_TEST(to_string(a.outcome) == "tempfail");
            BOOST_TEST(to_string(a.dnssec) == "indeterminate");
            BOOST_TEST(took.count() < 200 + 1000);
        }
    }
    r.reset();
}

// SPEC §8 SIGTERM: a lookup waiting on a silent server answers at once when
// the resolver shuts down, not at its timeout; later lookups do not start.
BOOST_AUTO_TEST_CASE(shutdown_cuts_waiting_lookups_short) {
    BlackHole hole;
    ResolverSettings s = testbed_resolver_settings(milliseconds(8000));
    s.stub_zones.push_back({"blackhole.", hole.address()});
    auto r = make_resolver(s);

    auto waiting = std::async(std::launch::async, [&] {
        const DnsAnswer a = r->query("slow.blackhole", RrType::mx);
        return std::make_pair(a, Clock::now());
    });
    BOOST_TEST_REQUIRE((waiting.wait_for(milliseconds(300)) == std::future_status::timeout));
    const auto cut_at = Clock::now();
    BOOST_TEST(r->shutdown() == 1U);
    const auto [a, answered_at] = waiting.get();
    BOOST_TEST(to_string(a.outcome) == "tempfail");
    BOOST_TEST(to_string(a.dnssec) == "indeterminate");
    BOOST_TEST(a.error == "resolver shut down");
    BOOST_TEST((answered_at - cut_at < milliseconds(1000)));

    const auto start = Clock::now();
    const DnsAnswer later = r->query("dane-ok.test", RrType::mx);
    BOOST_TEST(later.error == "resolver shut down");
    BOOST_TEST((Clock::now() - start < milliseconds(1000)));
    BOOST_TEST(r->shutdown() == 0U);  // idempotent: nothing left to cut
    r.reset();
}

BOOST_AUTO_TEST_CASE(timeouts_cancel_cleanly) {
    // A stub zone whose server swallows every query: each lookup outlives its
    // deadline, is cancelled, and the resolver is destroyed with libunbound
    // still retrying underneath.
    BlackHole hole;
    ResolverSettings s = testbed_resolver_settings(milliseconds(200));
    s.stub_zones.push_back({"blackhole.", hole.address()});
    auto r = make_resolver(s);

    std::vector<std::thread> pool;
    std::atomic<int> timeouts{0};
    std::atomic<int> late{0};
    for (int t = 0; t < 4; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < 5; ++i) {
                const std::string name =
                    "n" + std::to_string(t) + "-" + std::to_string(i) + ".blackhole";
                const auto start = Clock::now();
                const DnsAnswer a = r->query(name, RrType::a);
                const auto took = Clock::now() - start;
                if (a.outcome == DnsOutcome::tempfail && a.error == "timeout after 200 ms") {
                    timeouts.fetch_add(1);
                }
                if (took > milliseconds(200 + 1000)) {
                    late.fetch_add(1);
                }
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    BOOST_TEST(timeouts.load() == 20);
    BOOST_TEST(late.load() == 0);

    // The cancelled lookups are still being retried inside libunbound; the
    // test bed must answer through the same resolver all the same.
    for (const char* name : {"dane-ok.test", "dane-ok2.test", "mixed.test", "partner.test"}) {
        const DnsAnswer a = r->query(name, RrType::mx);
        BOOST_TEST_CONTEXT(name << ": " << a.error) {
            BOOST_TEST(to_string(a.dnssec) == "secure");
        }
    }
    r.reset();
}

BOOST_AUTO_TEST_SUITE_END()
