// The MTA-STS walk (RFC 8461 §3.3, §5.1, §10.2) as pure logic: a scripted
// resolver and a scripted fetcher stand in for DNS and HTTPS so that time,
// id changes and failures can be sequenced exactly. The same cases against a
// real knot and nginx live in tests/integration/.
#include <boost/test/unit_test.hpp>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <sstream>

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

// The policies a store would keep (core/cache/policy_store.hpp does it for
// SQLite and Redis; tests/milter/store_check.sh with real ones).
class MapBacking : public sts::PolicyBacking {
  public:
    std::optional<Record> load(const std::string& domain) override {
        ++loads;
        auto it = records.find(domain);
        return it == records.end() ? std::nullopt : std::optional<Record>(it->second);
    }
    void save(const std::string& domain, const Record& record) override {
        records[domain] = record;
    }
    std::map<std::string, Record> records;
    int loads = 0;
};

// Collects what the code logs, one "level message" line each.
class LogCapture {
  public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        auto logger = std::make_shared<spdlog::logger>("capture", sink);
        logger->set_pattern("%l %v");
        spdlog::set_default_logger(logger);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;
    [[nodiscard]] std::string text() const { return out_.str(); }
    [[nodiscard]] int count(const std::string& needle) const {
        int n = 0;
        const std::string t = out_.str();
        for (auto pos = t.find(needle); pos != std::string::npos; pos = t.find(needle, pos + 1)) {
            ++n;
        }
        return n;
    }

  private:
    std::ostringstream out_;
    std::shared_ptr<spdlog::logger> previous_;
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

// §4.1: MX hosts matching no pattern are not eligible; one eligible MX is
// enough for enforce. At delivery the policy map names the patterns only
// (policy_answer_test: require_sts_is_secure_with_match_and_servername), so
// the other MX is used only with a certificate for a pattern's name (README
// "Attach Postfix", tests/CONFORMANCE.md row S22).
BOOST_AUTO_TEST_CASE(an_eligible_and_a_non_eligible_mx) {
    mx = {"mx.example.test", "mx.elsewhere.test"};
    auto f = run();
    BOOST_TEST(sts::to_string(f.state) == "enforce");
    BOOST_REQUIRE(f.mx.size() == 2U);
    BOOST_TEST(f.mx[0].eligible);
    BOOST_TEST(!f.mx[1].eligible);
    BOOST_TEST(f.why == "enforce policy; MX mx.example.test matches");
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

BOOST_AUTO_TEST_CASE(policy_is_refreshed_ahead_of_max_age_with_the_same_id) {
    run();
    // §3.3: refresh before expiry; max_age 86400, so after 12 hours (half of
    // it; kProactiveRefresh caps the wait at a day for longer ones).
    now += 11h + 59min;
    auto f = run();
    BOOST_TEST(https.fetches == 1);
    BOOST_TEST(f.policy_from_cache);
    now += 2min;
    https.body = "version: STSv1\nmode: enforce\nmx: mx2.example.test\nmax_age: 86400\n";
    f = run();
    BOOST_TEST(https.fetches == 2);
    BOOST_TEST(!f.policy_from_cache);
    BOOST_REQUIRE(f.policy.has_value());
    BOOST_TEST(f.policy->mx == std::vector<std::string>{"mx2.example.test"});
}

BOOST_AUTO_TEST_CASE(a_long_max_age_is_refreshed_daily) {
    https.body = "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 31557600\n";
    run();
    now += 23h;
    run();
    BOOST_TEST(https.fetches == 1);
    now += 2h;
    run();
    BOOST_TEST(https.fetches == 2);
}

BOOST_AUTO_TEST_CASE(failed_proactive_refresh_keeps_the_policy_and_warns_once_per_try) {
    const LogCapture log;
    run();
    https.failing = true;
    now += 13h;
    auto f = run();
    // §3.3: the cached policy stays in force; the administrator hears of it.
    BOOST_TEST(sts::to_string(f.state) == "enforce");
    BOOST_TEST(f.policy_from_cache);
    BOOST_TEST(f.why.find("refreshing it failed") != std::string::npos);
    const std::string line =
        "warning sts_refresh=failed domain=example.test mode=enforce cached_id=1 txt_id=1 "
        "expires_in=39600s error=\"fetching https://mta-sts.example.test/.well-known/"
        "mta-sts.txt failed (connect-error): connection refused\"";
    BOOST_TEST(log.text().find(line) != std::string::npos, log.text());
    BOOST_TEST(log.count("sts_refresh=failed") == 1);
    // The same id is not tried again for five minutes: no fetch, no warning.
    now += 1min;
    f = run();
    BOOST_TEST(https.fetches == 2);
    BOOST_TEST(sts::to_string(f.state) == "enforce");
    BOOST_TEST(log.count("sts_refresh=failed") == 1);
    now += 5min;
    run();
    BOOST_TEST(https.fetches == 3);
    BOOST_TEST(log.count("sts_refresh=failed") == 2);
    // A success ends it.
    https.failing = false;
    now += 6min;
    f = run();
    BOOST_TEST(!f.policy_from_cache);
    BOOST_TEST(log.count("sts_refresh=failed") == 2);
}

BOOST_AUTO_TEST_CASE(failed_refresh_for_a_new_id_warns) {
    const LogCapture log;
    run();
    dns.txt("_mta-sts.example.test", {"v=STSv1; id=2;"});
    https.failing = true;
    now += 1h;
    run();
    BOOST_TEST(log.count("sts_refresh=failed domain=example.test mode=enforce cached_id=1 "
                         "txt_id=2 expires_in=82800s") == 1,
               log.text());
}

BOOST_AUTO_TEST_CASE(failed_refresh_of_a_mode_none_policy_is_not_warned) {
    const LogCapture log;
    https.body = "version: STSv1\nmode: none\nmax_age: 86400\n";
    run();
    dns.txt("_mta-sts.example.test", {"v=STSv1; id=2;"});
    https.failing = true;
    now += 1h;
    const auto f = run();
    BOOST_TEST(sts::to_string(f.state) == "none");
    BOOST_TEST(log.count("sts_refresh=failed") == 0, log.text());
}

BOOST_AUTO_TEST_CASE(a_stored_policy_survives_a_restart_until_its_max_age) {
    auto backing = std::make_shared<MapBacking>();
    {
        sts::PolicyCache before(1000, backing);
        sts::lookup_sts(dns, https, before, "example.test", mx, now);
    }
    BOOST_REQUIRE(backing->records.count("example.test") == 1U);
    BOOST_TEST(backing->records["example.test"].id == "1");
    // A new process (its steady clock starts elsewhere): TXT stripped and the
    // policy host down (§10.2), the stored policy still applies.
    dns.remove("_mta-sts.example.test");
    https.failing = true;
    sts::PolicyCache after(1000, backing);
    const auto later = std::chrono::steady_clock::time_point(5s);
    const int loads_before = backing->loads;
    BOOST_TEST(!after.peek("example.test", later).has_value());  // peek never asks the store
    BOOST_TEST(backing->loads == loads_before);
    auto f = sts::lookup_sts(dns, https, after, "example.test", mx, later);
    BOOST_TEST(sts::to_string(f.state) == "enforce");
    BOOST_TEST(f.policy_from_cache);
    BOOST_TEST(f.policy_id == "1");
    BOOST_TEST(https.fetches == 1);
    // Kept in memory: the store is not asked again.
    const int loads = backing->loads;
    sts::lookup_sts(dns, https, after, "example.test", mx, later + 1s);
    BOOST_TEST(backing->loads == loads);
    // Its age comes from the wall clock: fetched 86401 s ago, it is over.
    backing->records["example.test"].fetched -= 86401s;
    sts::PolicyCache third(1000, backing);
    f = sts::lookup_sts(dns, https, third, "example.test", mx, later);
    BOOST_TEST(sts::to_string(f.state) == "none");
}

BOOST_AUTO_TEST_CASE(a_stored_policy_keeps_its_age) {
    auto backing = std::make_shared<MapBacking>();
    sts::PolicyBacking::Record r;
    r.policy = *sts::parse_policy(kEnforce);
    r.id = "1";
    r.fetched = std::chrono::system_clock::now() - 86000s;
    backing->records["example.test"] = r;
    sts::PolicyCache cache(1000, backing);
    const auto e = cache.get("example.test", now);
    BOOST_REQUIRE(e.has_value());
    // 400 s (give or take the test's own run time) are left of its max_age.
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(e->expires() - now);
    BOOST_TEST(left.count() <= 400);
    BOOST_TEST(left.count() >= 395);
    BOOST_TEST(e->refresh_due(now));
}

BOOST_AUTO_TEST_SUITE_END()
