// The MTA-STS walk (RFC 8461 §3.3, §5.1, §10.2) as pure logic: a scripted
// resolver and a scripted fetcher stand in for DNS and HTTPS so that time,
// id changes and failures can be sequenced exactly. The same cases against a
// real knot and nginx live in tests/integration/.
#include <boost/test/unit_test.hpp>

#include <map>

#include "core/sts/sts_lookup.hpp"

using namespace dsm;
using namespace std::chrono_literals;

namespace {

class ScriptedResolver : public dns::Resolver {
  public:
    dns::DnsAnswer query(const std::string& name, dns::RrType type) override {
        ++queries;
        auto it = answers.find({name, type});
        if (it != answers.end()) {
            return it->second;
        }
        dns::DnsAnswer a;
        a.qname = name;
        a.qtype = type;
        a.outcome = dns::DnsOutcome::nxdomain;
        a.dnssec = dns::DnssecState::insecure;
        return a;
    }
    void txt(const std::string& name, const std::vector<std::string>& records) {
        dns::DnsAnswer a;
        a.qname = name;
        a.qtype = dns::RrType::txt;
        a.outcome = dns::DnsOutcome::answer;
        a.dnssec = dns::DnssecState::insecure;
        a.ttl = 300;
        for (const auto& r : records) {
            std::vector<std::uint8_t> rdata;
            rdata.push_back(static_cast<std::uint8_t>(r.size()));
            rdata.insert(rdata.end(), r.begin(), r.end());
            a.records.push_back(rdata);
        }
        answers[{name, dns::RrType::txt}] = a;
    }
    void fail(const std::string& name) {
        dns::DnsAnswer a;
        a.qname = name;
        a.outcome = dns::DnsOutcome::tempfail;
        answers[{name, dns::RrType::txt}] = a;
    }
    void remove(const std::string& name) { answers.erase({name, dns::RrType::txt}); }

    std::map<std::pair<std::string, dns::RrType>, dns::DnsAnswer> answers;
    int queries = 0;
};

class ScriptedFetcher : public sts::PolicyFetcher {
  public:
    sts::FetchResult fetch(const std::string& domain) override {
        ++fetches;
        sts::FetchResult r;
        r.url = "https://mta-sts." + domain + "/.well-known/mta-sts.txt";
        if (failing) {
            r.outcome = sts::FetchOutcome::connect_error;
            r.error = "connection refused";
            return r;
        }
        r.outcome = sts::FetchOutcome::ok;
        r.status = 200;
        r.content_type = "text/plain";
        r.body = body;
        r.size = body.size();
        return r;
    }
    std::string body;
    bool failing = false;
    int fetches = 0;
};

const std::string kEnforce = "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n";

struct World {
    ScriptedResolver dns;
    ScriptedFetcher https;
    sts::PolicyCache cache;
    std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
    std::vector<std::string> mx{"mx.example.test"};

    World() {
        dns.txt("_mta-sts.example.test", {"v=STSv1; id=1;"});
        https.body = kEnforce;
    }
    sts::StsFacts run() { return sts::lookup_sts(dns, https, cache, "example.test", mx, now); }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(sts_lookup, World)

BOOST_AUTO_TEST_CASE(enforce_with_eligible_mx) {
    auto f = run();
    BOOST_TEST(sts::to_string(f.state) == "enforce");
    BOOST_TEST(f.policy_id == "1");
    BOOST_TEST(!f.policy_from_cache);
    BOOST_REQUIRE(f.mx.size() == 1U);
    BOOST_TEST(f.mx[0].eligible);
    BOOST_TEST(https.fetches == 1);
}

BOOST_AUTO_TEST_CASE(same_id_uses_the_cache_changed_id_refetches) {
    run();
    auto f = run();
    BOOST_TEST(https.fetches == 1);
    BOOST_TEST(f.policy_from_cache);
    // §3.3: a new id means a new policy.
    dns.txt("_mta-sts.example.test", {"v=STSv1; id=2;"});
    https.body = "version: STSv1\nmode: testing\nmx: other.test\nmax_age: 600\n";
    f = run();
    BOOST_TEST(https.fetches == 2);
    BOOST_TEST(sts::to_string(f.state) == "testing");
    BOOST_TEST(f.policy_id == "2");
}

BOOST_AUTO_TEST_CASE(no_eligible_mx_fails) {
    mx = {"mx.elsewhere.test"};
    auto f = run();
    BOOST_TEST(sts::to_string(f.state) == "fail");
    BOOST_TEST(!f.mx[0].eligible);
}

BOOST_AUTO_TEST_CASE(unknown_mx_hosts_are_an_error_under_enforce) {
    mx.clear();
    BOOST_TEST(sts::to_string(run().state) == "error");
}

BOOST_AUTO_TEST_CASE(testing_and_none_modes) {
    https.body = "version: STSv1\nmode: testing\nmx: other.test\nmax_age: 600\n";
    BOOST_TEST(sts::to_string(run().state) == "testing");
    dns.txt("_mta-sts.example.test", {"v=STSv1; id=3;"});
    https.body = "version: STSv1\nmode: none\nmax_age: 600\n";
    BOOST_TEST(sts::to_string(run().state) == "none");
}

BOOST_AUTO_TEST_CASE(no_txt_no_policy) {
    dns.remove("_mta-sts.example.test");
    auto f = run();
    BOOST_TEST(sts::to_string(f.state) == "none");
    BOOST_TEST(https.fetches == 0);
}

BOOST_AUTO_TEST_CASE(fetch_failure_without_cache_is_an_error) {
    https.failing = true;
    auto f = run();
    BOOST_TEST(sts::to_string(f.state) == "error");
    BOOST_TEST(f.why.find("connection refused") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(invalid_policy_is_an_error) {
    https.body = "mode: enforce\nmx: mx.example.test\nmax_age: 86400\n";
    auto f = run();
    BOOST_TEST(sts::to_string(f.state) == "error");
    BOOST_TEST(!f.parse_error.empty());
}

BOOST_AUTO_TEST_CASE(failed_refresh_keeps_the_cached_policy) {
    run();
    dns.txt("_mta-sts.example.test", {"v=STSv1; id=2;"});
    https.failing = true;
    now += 1h;
    auto f = run();
    // §5.1: the unexpired policy stays in force.
    BOOST_TEST(sts::to_string(f.state) == "enforce");
    BOOST_TEST(f.policy_from_cache);
    BOOST_TEST(f.policy_id == "1");
    BOOST_TEST(f.why.find("refreshing it failed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(failed_id_is_not_refetched_for_five_minutes) {
    https.failing = true;
    run();
    now += 4min;
    auto f = run();
    BOOST_TEST(https.fetches == 1);
    BOOST_TEST(f.fetch_skipped_after_failure);
    BOOST_TEST(sts::to_string(f.state) == "error");
    now += 2min;
    https.failing = false;
    f = run();
    BOOST_TEST(https.fetches == 2);
    BOOST_TEST(sts::to_string(f.state) == "enforce");
}

BOOST_AUTO_TEST_CASE(stripped_txt_does_not_end_a_cached_policy) {
    run();
    // §10.2: an attacker who removes the TXT record gains nothing.
    dns.remove("_mta-sts.example.test");
    now += 23h;
    auto f = run();
    BOOST_TEST(sts::to_string(f.state) == "enforce");
    BOOST_TEST(f.policy_from_cache);
    // ... until max_age (86400 s) has passed.
    now += 2h;
    f = run();
    BOOST_TEST(sts::to_string(f.state) == "none");
}

BOOST_AUTO_TEST_CASE(txt_lookup_failure_keeps_a_cached_policy) {
    run();
    dns.fail("_mta-sts.example.test");
    auto f = run();
    BOOST_TEST(sts::to_string(f.state) == "enforce");
    BOOST_TEST(https.fetches == 1);
}

BOOST_AUTO_TEST_CASE(expired_policy_is_fetched_again) {
    run();
    now += 86401s;
    auto f = run();
    BOOST_TEST(https.fetches == 2);
    BOOST_TEST(!f.policy_from_cache);
}

BOOST_AUTO_TEST_SUITE_END()
