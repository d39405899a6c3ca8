// core/sts/sts_lookup (RFC 8461 §3-§5) against the DNS test bed
// (tests/testbed/dns: the sts-*.test zones and their _mta-sts TXT records) and
// the HTTPS test bed (tests/testbed/https: nginx serving the policies): TXT
// discovery, fetch, strict parsing, MX eligibility, the policy cache with id
// changes and failed refreshes.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/config/config.hpp"
#include "core/dane/dane_lookup.hpp"
#include "core/dns/rdata.hpp"
#include "core/dns/unbound_resolver.hpp"
#include "core/sts/policy_cache.hpp"
#include "core/sts/policy_fetcher.hpp"
#include "core/sts/sts_lookup.hpp"
#include "core/util/clock.hpp"
#include "core/verdict/verdict_builder.hpp"
#include "tests/support/testbed_net.hpp"
#include "tests/support/testbed_resolver.hpp"

using dsm::config::StsSettings;
using dsm::dns::UnboundResolver;
using namespace dsm::sts;
using namespace dsm::test;  // the test beds: testbed_resolver.hpp
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

// A resolver and the fetcher that resolves through it. A new Stack has an
// empty DNS cache (libunbound keeps answers for their TTL).
struct Stack {
    std::unique_ptr<UnboundResolver> resolver;
    std::unique_ptr<PolicyFetcher> fetcher;
    explicit Stack(const StsSettings& s = testbed_sts())
        : resolver(make_resolver(testbed_resolver_settings())),
          fetcher(make_https_fetcher(*resolver, s)) {}
};

std::string describe(const StsFacts& f) {
    std::ostringstream out;
    out << f.domain << ": sts=" << to_string(f.state) << " txt=" << to_string(f.txt_outcome) << "/"
        << to_string(f.txt_dnssec) << " id=\"" << f.discovery.id << "\" why=\"" << f.why << "\"";
    if (f.fetch) {
        out << "\n  fetch " << f.fetch->url << ": " << to_string(f.fetch->outcome)
            << " status=" << f.fetch->status << " type=\"" << f.fetch->content_type
            << "\" size=" << f.fetch->size << " error=\"" << f.fetch->error << "\"";
    }
    if (f.fetch_skipped_after_failure) {
        out << "\n  fetch skipped after failure";
    }
    if (!f.parse_error.empty()) {
        out << "\n  parse error: " << f.parse_error;
    }
    if (f.policy) {
        out << "\n  policy id " << f.policy_id << (f.policy_from_cache ? " (cached)" : "")
            << ": mode " << to_string(f.policy->mode) << " max_age " << f.policy->max_age;
    }
    for (const auto& m : f.mx) {
        out << "\n  MX " << m.host << (m.eligible ? " eligible" : " not eligible");
    }
    return out.str();
}

// The MX host names as lookup_dane finds them (what VerdictBuilder passes).
std::vector<std::string> mx_hosts(UnboundResolver& r, const std::string& domain) {
    const auto dane = dsm::dane::lookup_dane(r, domain);
    std::vector<std::string> hosts;
    for (const auto& h : dane.hosts) {
        hosts.push_back(h.name);
    }
    return hosts;
}

StsFacts lookup(Stack& s, PolicyCache& cache, const std::string& domain, Clock::time_point now) {
    StsFacts f = dsm::sts::lookup_sts(*s.resolver, *s.fetcher, cache, domain,
                                      mx_hosts(*s.resolver, domain), now);
    BOOST_TEST_MESSAGE(describe(f));
    return f;
}

// The first lookup of a domain whose test bed serves an enforce policy with
// id 1: fetched (nothing cached yet), and in force.
StsFacts first_fetch(Stack& s, PolicyCache& cache, const std::string& domain,
                     Clock::time_point now) {
    StsFacts f = lookup(s, cache, domain, now);
    BOOST_TEST(to_string(f.state) == "enforce", describe(f));
    BOOST_TEST_REQUIRE(f.fetch.has_value());
    BOOST_TEST(to_string(f.fetch->outcome) == "ok");
    BOOST_TEST(!f.policy_from_cache);
    BOOST_TEST(f.policy_id == "1");
    return f;
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

// tests/testbed/dns/set-txt.sh: replaces the TXT RRset in the running knotd.
bool set_txt(const std::string& name, const std::string& text) {
    const std::string cmd =
        shell_quote(std::string(DSM_SOURCE_DIR) + "/tests/testbed/dns/set-txt.sh") + " " +
        shell_quote(testbed_dir() + "/dns") + " " + shell_quote(name) + " " + shell_quote(text);
    return std::system(cmd.c_str()) == 0;
}

std::optional<std::string> read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Written next to it and renamed over, so nginx never serves half a file.
bool write_file(const fs::path& p, const std::string& body) {
    const fs::path tmp = p.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << body;
        if (!out.flush()) {
            return false;
        }
    }
    std::error_code ec;
    fs::rename(tmp, p, ec);
    return !ec;
}

constexpr const char* kIdChangeDomain = "sts-idchange.test";
constexpr const char* kHttpCacheDomain = "sts-httpcache.test";
// What tests/testbed/dns/start.sh and tests/testbed/https/start.sh serve for
// both: TXT id=1 (TTL 1 s) and an enforce policy naming mx.<domain>.
constexpr const char* kOriginalTxt = "v=STSv1; id=1;";
std::string original_policy(const std::string& domain) {
    return "version: STSv1\nmode: enforce\nmx: mx." + domain + "\nmax_age: 86400\n";
}

// A domain whose TXT record and policy file the tests change
// (sts-idchange.test, sts-httpcache.test). The original state is put in
// place first and put back at the end, whatever happened in between (other
// tests expect it).
class RuntimeBed {
  public:
    explicit RuntimeBed(const std::string& domain)
        : domain_(domain),
          txt_name_("_mta-sts." + domain),
          policy_(testbed_dir() + "/https/www/mta-sts." + domain + "/.well-known/mta-sts.txt") {
        BOOST_TEST_REQUIRE(fs::exists(policy_), policy_ << " missing: is the HTTPS test bed up?");
        const auto current = read_file(policy_);
        if (current != original_policy(domain_)) {
            BOOST_TEST_MESSAGE(policy_ << " was not the original (an earlier run died?)");
        }
        restore();
    }
    ~RuntimeBed() {
        try {
            restore();
        } catch (...) {
            BOOST_ERROR("restoring " << domain_ << " failed");
        }
    }
    RuntimeBed(const RuntimeBed&) = delete;
    RuntimeBed& operator=(const RuntimeBed&) = delete;

    void set_id(const std::string& id) {
        BOOST_TEST_REQUIRE(set_txt(txt_name_, "v=STSv1; id=" + id + ";"));
    }
    void serve(const std::string& body) { BOOST_TEST_REQUIRE(write_file(policy_, body)); }
    // The URL answers 404 from now on.
    void remove_policy() {
        std::error_code ec;
        fs::remove(policy_, ec);
        BOOST_TEST_REQUIRE(!ec, ec.message());
    }
    // The policy host's root (www/mta-sts.<domain>), for marker files.
    [[nodiscard]] fs::path root() const { return policy_.parent_path().parent_path(); }

  private:
    // set-txt.sh fails when the RRset does not change (knot then commits no
    // new serial, and the script waits 5 s for one): change only what differs.
    [[nodiscard]] std::vector<std::string> current_txt() const {
        auto r = make_resolver(testbed_resolver_settings());  // a fresh one: nothing cached
        const auto a = r->query(txt_name_, dsm::dns::RrType::txt);
        std::vector<std::string> txt;
        for (const auto& rdata : a.records) {
            if (auto t = dsm::dns::parse_txt_rdata(rdata)) {
                txt.push_back(std::move(*t));
            }
        }
        return txt;
    }
    void restore() {
        const std::string policy = original_policy(domain_);
        BOOST_TEST(write_file(policy_, policy), "restoring " << policy_);
        BOOST_TEST((read_file(policy_) == std::optional<std::string>(policy)));
        if (current_txt() != std::vector<std::string>{kOriginalTxt}) {
            BOOST_TEST(set_txt(txt_name_, kOriginalTxt), "restoring " << txt_name_);
        }
        BOOST_TEST(current_txt() == std::vector<std::string>{kOriginalTxt},
                   boost::test_tools::per_element());
    }
    std::string domain_;
    std::string txt_name_;
    fs::path policy_;
};

// sts-idchange.test (tests/testbed/https/README.md "Changing a policy at run
// time").
struct IdChangeBed : RuntimeBed {
    IdChangeBed() : RuntimeBed(kIdChangeDomain) {}
};

// sts-httpcache.test: as sts-idchange.test, but nginx sends HTTP caching
// headers with the policy: "fresh for a year" (Cache-Control: max-age,
// Expires, ETag, Last-Modified), or, while the file no-cache exists in the
// host's root, "Cache-Control: no-cache" and an Expires in 1970. Removes the
// marker on both ends.
class HttpCacheBed : public RuntimeBed {
  public:
    HttpCacheBed() : RuntimeBed(kHttpCacheDomain) { forbid_caching(false); }
    ~HttpCacheBed() {
        std::error_code ec;
        fs::remove(root() / "no-cache", ec);
    }
    HttpCacheBed(const HttpCacheBed&) = delete;
    HttpCacheBed& operator=(const HttpCacheBed&) = delete;
    void forbid_caching(bool on) {
        if (on) {
            BOOST_TEST_REQUIRE(write_file(root() / "no-cache", ""));
        } else {
            std::error_code ec;
            fs::remove(root() / "no-cache", ec);
            BOOST_TEST_REQUIRE(!ec, ec.message());
        }
    }
};

// The access log lines of requests for `host` (nginx, tests/testbed/https).
std::vector<std::string> access_log_lines(const std::string& host) {
    return https_access_log_lines(" sni=" + host + " ");
}
// ... once there are at least `count` of them (nginx logs a request once it
// has answered it: await_https_access_log_lines).
std::vector<std::string> access_log_lines(const std::string& host, std::size_t count) {
    return await_https_access_log_lines(" sni=" + host + " ", count);
}

bool has(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

struct Expected {
    const char* domain;
    StsState state;
    std::optional<FetchOutcome> fetch;  // nullopt: nothing may be fetched
    bool invalid = false;               // fetched, but strict parsing refuses it
    std::vector<std::string> eligible;  // MX hosts matching the policy
    int status = 200;                   // HTTP status when fetched
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sts_lookup)

BOOST_AUTO_TEST_CASE(every_testbed_domain_gets_its_state) {
    // The `sts` column of tests/testbed/dns/README.md and policies.txt
    // (sts-drip.test has its own case below: it costs the fetch timeout).
    const std::vector<Expected> cases = {
        {"sts-enforce.test", StsState::enforce, FetchOutcome::ok, false, {"mx.sts-enforce.test"}},
        {"sts-wild.test", StsState::enforce, FetchOutcome::ok, false, {"mail.sts-wild.test"}},
        {"sts-nomatch.test", StsState::fail, FetchOutcome::ok, false, {}},
        {"sts-testing.test", StsState::testing, FetchOutcome::ok, false, {}},
        {"sts-none.test", StsState::none, FetchOutcome::ok, false, {}},
        {"sts-idchange.test", StsState::enforce, FetchOutcome::ok, false, {"mx.sts-idchange.test"}},
        {"sts-redirect.test", StsState::error, FetchOutcome::http_status, false, {}, 301},
        {"sts-wrongcert.test",
         StsState::error,
         FetchOutcome::certificate_host_mismatch,
         false,
         {},
         0},
        {"sts-unknownca.test",
         StsState::error,
         FetchOutcome::certificate_not_trusted,
         false,
         {},
         0},
        {"sts-404.test", StsState::error, FetchOutcome::http_status, false, {}, 404},
        {"sts-html.test", StsState::error, FetchOutcome::content_type, false, {}},
        {"sts-big.test", StsState::error, FetchOutcome::too_large, false, {}},
        {"sts-noversion.test", StsState::error, FetchOutcome::ok, true, {}},
        {"sts-badmaxage.test", StsState::error, FetchOutcome::ok, true, {}},
        {"sts-ipmx.test", StsState::error, FetchOutcome::ok, true, {}},
        {"sts-midwild.test", StsState::error, FetchOutcome::ok, true, {}},
        {"sts-dane.test", StsState::enforce, FetchOutcome::ok, false, {"mx.sts-dane.test"}},
        {"sts-twotxt.test", StsState::none, std::nullopt, false, {}},
        {"sts-notxt.test", StsState::none, std::nullopt, false, {}},
        {"sts-nohost.test", StsState::error, FetchOutcome::dns_error, false, {}, 0},
        {"sts-insecure.test", StsState::enforce, FetchOutcome::ok, false, {"mx.sts-insecure.test"}},
        // RFC 8461 §3.3: an expired policy host certificate is not valid.
        {"sts-expired.test", StsState::error, FetchOutcome::certificate_not_trusted, false, {}, 0},
        {"sts-httpcache.test",
         StsState::enforce,
         FetchOutcome::ok,
         false,
         {"mx.sts-httpcache.test"}},
    };
    Stack s;
    PolicyCache cache;
    const auto t0 = Clock::now();
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.domain) {
            const StsFacts f = lookup(s, cache, c.domain, t0);
            BOOST_TEST(to_string(f.state) == to_string(c.state), describe(f));
            BOOST_TEST(f.txt_name == std::string("_mta-sts.") + c.domain);
            BOOST_TEST(!f.why.empty());
            BOOST_TEST(!f.fetch_skipped_after_failure);
            BOOST_TEST(!f.policy_from_cache);
            BOOST_TEST(f.fetch.has_value() == c.fetch.has_value());
            if (f.fetch && c.fetch) {
                BOOST_TEST(to_string(f.fetch->outcome) == to_string(*c.fetch));
                BOOST_TEST(f.fetch->status == c.status);
                BOOST_TEST(f.fetch->url == std::string("https://mta-sts.") + c.domain +
                                               ":8443/.well-known/mta-sts.txt");
            }
            BOOST_TEST(f.parse_error.empty() == !c.invalid, f.parse_error);
            // A policy exactly when one was fetched and parsed.
            BOOST_TEST(f.policy.has_value() == (c.fetch == FetchOutcome::ok && !c.invalid));
            if (f.policy) {
                BOOST_TEST(f.policy_id == f.discovery.id);
                BOOST_TEST(!f.mx.empty());  // every MX host is classified
            }
            std::vector<std::string> eligible;
            for (const auto& m : f.mx) {
                if (m.eligible) {
                    eligible.push_back(m.host);
                }
            }
            BOOST_TEST(eligible == c.eligible, boost::test_tools::per_element());

            // The same id again, a second later: a policy comes from the
            // cache, a failure is not retried (PolicyCache::kRetryAfterFailure).
            const StsFacts again = lookup(s, cache, c.domain, t0 + seconds(1));
            BOOST_TEST(to_string(again.state) == to_string(c.state), describe(again));
            BOOST_TEST(!again.fetch.has_value());
            BOOST_TEST(again.policy_from_cache == f.policy.has_value());
            BOOST_TEST(again.fetch_skipped_after_failure ==
                       (c.fetch.has_value() && !f.policy.has_value()));
        }
    }

    // Details the table does not show.
    const StsFacts enforce = lookup(s, cache, "sts-enforce.test", t0 + seconds(2));
    BOOST_TEST(to_string(enforce.txt_dnssec) == "secure");
    BOOST_TEST(enforce.txt_records == std::vector<std::string>{"v=STSv1; id=20260101;"},
               boost::test_tools::per_element());
    BOOST_TEST(enforce.policy_id == "20260101");
    BOOST_TEST_REQUIRE(enforce.policy.has_value());
    BOOST_TEST(enforce.policy->max_age == 86400u);
    BOOST_TEST(enforce.policy->mx == std::vector<std::string>{"mx.sts-enforce.test"},
               boost::test_tools::per_element());

    const StsFacts insecure = lookup(s, cache, "sts-insecure.test", t0 + seconds(2));
    BOOST_TEST(to_string(insecure.txt_dnssec) == "insecure");  // MTA-STS needs no DNSSEC

    const StsFacts nomatch = lookup(s, cache, "sts-nomatch.test", t0 + seconds(2));
    BOOST_TEST_REQUIRE(nomatch.mx.size() == 1u);
    BOOST_TEST(nomatch.mx[0].host == "mx.sts-nomatch.test");
    BOOST_TEST(!nomatch.mx[0].eligible);

    const StsFacts twotxt = lookup(s, cache, "sts-twotxt.test", t0 + seconds(2));
    BOOST_TEST(twotxt.txt_records.size() == 2u);
    BOOST_TEST((twotxt.discovery.kind == TxtDiscovery::Kind::invalid));

    const StsFacts notxt = lookup(s, cache, "sts-notxt.test", t0 + seconds(2));
    BOOST_TEST(notxt.txt_records.empty());
    BOOST_TEST((notxt.discovery.kind == TxtDiscovery::Kind::none));
    BOOST_TEST(to_string(notxt.txt_dnssec) == "secure");  // a proven absence

    const StsFacts nohost = lookup(s, cache, "sts-nohost.test", t0 + minutes(6));
    BOOST_TEST_REQUIRE(nohost.fetch.has_value());  // retried after 5 minutes
    BOOST_TEST(nohost.fetch->error == "mta-sts.sts-nohost.test has no address");
    BOOST_TEST(nohost.why.find("dns-error") != std::string::npos, nohost.why);
}

BOOST_AUTO_TEST_CASE(dripping_policy_host_is_an_error) {
    Stack s(testbed_sts(milliseconds(1500)));
    PolicyCache cache;
    const auto start = Clock::now();
    const StsFacts f = lookup(s, cache, "sts-drip.test", start);
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    BOOST_TEST(to_string(f.state) == "error", describe(f));
    BOOST_TEST_REQUIRE(f.fetch.has_value());
    BOOST_TEST(to_string(f.fetch->outcome) == "timeout");
    BOOST_TEST(took.count() < 1500 + 1500);
}

BOOST_AUTO_TEST_CASE(verdict_builder_dane_governs_sts_dane) {
    Stack s;
    PolicyCache cache;
    const dsm::util::SystemClock clock;
    const dsm::verdict::VerdictBuilder builder(*s.resolver, s.fetcher.get(), cache, clock);

    const auto facts = builder.lookup("sts-dane.test", true);
    BOOST_TEST_REQUIRE(facts.sts.has_value());
    BOOST_TEST_MESSAGE(describe(*facts.sts));
    BOOST_TEST(to_string(facts.dane.dane) == "pass");
    BOOST_TEST(to_string(facts.sts->state) == "enforce");
    const auto v = dsm::verdict::verdict_from_facts(facts, clock.wall());
    BOOST_TEST(to_string(v.dnssec) == "secure");
    BOOST_TEST(to_string(v.dane) == "pass");
    BOOST_TEST(to_string(v.sts) == "enforce");

    const auto enforce = builder.compute("sts-enforce.test", true);
    BOOST_TEST(to_string(enforce.dane) == "none");
    BOOST_TEST(to_string(enforce.sts) == "enforce");
    const auto nomatch = builder.compute("sts-nomatch.test", true);
    BOOST_TEST(to_string(nomatch.sts) == "fail");
    BOOST_TEST(nomatch.sts_why.find("no MX host") != std::string::npos, nomatch.sts_why);
    const auto broken = builder.compute("sts-404.test", true);
    BOOST_TEST(to_string(broken.sts) == "error");
    BOOST_TEST(broken.is_error());
    // No connector validates MTA-STS: nothing looked up.
    const auto skipped = builder.lookup("sts-enforce.test", false);
    BOOST_TEST(!skipped.sts.has_value());
    BOOST_TEST(to_string(dsm::verdict::verdict_from_facts(skipped, clock.wall()).sts) == "skipped");
}

BOOST_AUTO_TEST_CASE(id_change_refetches) {
    IdChangeBed bed;
    PolicyCache cache;
    const auto t0 = Clock::now();

    Stack s1;
    const StsFacts first = first_fetch(s1, cache, kIdChangeDomain, t0);
    BOOST_TEST(first.ttl.count() <= 1);  // TTL 1 s, as the README says

    // §3.3: the same id, the cached policy is current: no fetch.
    const StsFacts same = lookup(s1, cache, kIdChangeDomain, t0 + seconds(1));
    BOOST_TEST(to_string(same.state) == "enforce", describe(same));
    BOOST_TEST(!same.fetch.has_value());
    BOOST_TEST(same.policy_from_cache);
    BOOST_TEST(same.policy_id == "1");

    // A new policy and a new id.
    bed.serve("version: STSv1\nmode: testing\nmx: mx.sts-idchange.test\nmax_age: 600\n");
    bed.set_id("2");
    Stack s2;  // libunbound would answer id=1 from its cache for up to 1 s
    const StsFacts changed = lookup(s2, cache, kIdChangeDomain, t0 + seconds(2));
    BOOST_TEST(changed.discovery.id == "2");
    BOOST_TEST_REQUIRE(changed.fetch.has_value(), describe(changed));
    BOOST_TEST(to_string(changed.fetch->outcome) == "ok");
    BOOST_TEST(!changed.policy_from_cache);
    BOOST_TEST(changed.policy_id == "2");
    BOOST_TEST_REQUIRE(changed.policy.has_value());
    BOOST_TEST(to_string(changed.policy->mode) == "testing");
    BOOST_TEST(changed.policy->max_age == 600u);
    BOOST_TEST(to_string(changed.state) == "testing");

    // And that one is cached now.
    const StsFacts cached = lookup(s2, cache, kIdChangeDomain, t0 + seconds(3));
    BOOST_TEST(!cached.fetch.has_value());
    BOOST_TEST(cached.policy_from_cache);
    BOOST_TEST(cached.policy_id == "2");
    BOOST_TEST(to_string(cached.state) == "testing");

    // max_age 600: ten minutes on, the same id is fetched again.
    const StsFacts expired = lookup(s2, cache, kIdChangeDomain, t0 + seconds(3 + 601));
    BOOST_TEST(expired.fetch.has_value(), describe(expired));
    BOOST_TEST(!expired.policy_from_cache);
    BOOST_TEST(to_string(expired.state) == "testing");
}

BOOST_AUTO_TEST_CASE(failed_refresh_keeps_the_cached_policy) {
    IdChangeBed bed;
    PolicyCache cache;
    const auto t0 = Clock::now();

    Stack s1;
    first_fetch(s1, cache, kIdChangeDomain, t0);

    // A new id, and the policy host answers 404.
    bed.remove_policy();
    bed.set_id("3");
    Stack s2;
    const auto t1 = t0 + seconds(2);
    const StsFacts failed = lookup(s2, cache, kIdChangeDomain, t1);
    BOOST_TEST(failed.discovery.id == "3");
    BOOST_TEST_REQUIRE(failed.fetch.has_value(), describe(failed));
    BOOST_TEST(to_string(failed.fetch->outcome) == "http-status");
    BOOST_TEST(failed.fetch->status == 404);
    // §5.1: the unexpired cached policy stays in force.
    BOOST_TEST(to_string(failed.state) == "enforce");
    BOOST_TEST(failed.policy_from_cache);
    BOOST_TEST(failed.policy_id == "1");
    BOOST_TEST_REQUIRE(failed.mx.size() == 1u);
    BOOST_TEST(failed.mx[0].eligible);
    BOOST_TEST(failed.why.find("refreshing it failed") != std::string::npos, failed.why);
    BOOST_TEST(failed.why.find("http-status") != std::string::npos, failed.why);

    // Within 5 minutes the failed id is not fetched again.
    const StsFacts skipped = lookup(s2, cache, kIdChangeDomain, t1 + minutes(4));
    BOOST_TEST(!skipped.fetch.has_value(), describe(skipped));
    BOOST_TEST(skipped.fetch_skipped_after_failure);
    BOOST_TEST(to_string(skipped.state) == "enforce");
    BOOST_TEST(skipped.policy_from_cache);
    BOOST_TEST(skipped.policy_id == "1");
    BOOST_TEST(skipped.why.find("less than 5 minutes ago") != std::string::npos, skipped.why);

    // After 5 minutes it is tried again: still 404, still enforced.
    const StsFacts retried = lookup(s2, cache, kIdChangeDomain, t1 + minutes(6));
    BOOST_TEST_REQUIRE(retried.fetch.has_value(), describe(retried));
    BOOST_TEST(retried.fetch->status == 404);
    BOOST_TEST(to_string(retried.state) == "enforce");
    BOOST_TEST(retried.policy_from_cache);

    // The host serves a policy again: id 3 is fetched and replaces id 1.
    bed.serve("version: STSv1\nmode: enforce\nmx: mx.sts-idchange.test\nmax_age: 3600\n");
    const StsFacts recovered = lookup(s2, cache, kIdChangeDomain, t1 + minutes(12));
    BOOST_TEST_REQUIRE(recovered.fetch.has_value(), describe(recovered));
    BOOST_TEST(to_string(recovered.fetch->outcome) == "ok");
    BOOST_TEST(!recovered.policy_from_cache);
    BOOST_TEST(recovered.policy_id == "3");
    BOOST_TEST_REQUIRE(recovered.policy.has_value());
    BOOST_TEST(recovered.policy->max_age == 3600u);
    BOOST_TEST(to_string(recovered.state) == "enforce");
}

BOOST_AUTO_TEST_CASE(nothing_cached_and_fetch_fails_is_an_error) {
    // The same failure as above without a cached policy: `error` (SPEC §4).
    IdChangeBed bed;
    bed.remove_policy();
    Stack s;
    PolicyCache cache;
    const StsFacts f = lookup(s, cache, kIdChangeDomain, Clock::now());
    BOOST_TEST(to_string(f.state) == "error", describe(f));
    BOOST_TEST(!f.policy_from_cache);
    BOOST_TEST(!f.policy.has_value());
    BOOST_TEST(f.why.find("http-status") != std::string::npos, f.why);
}

// RFC 8461 §3.3: "HTTP caching [RFC7234] MUST NOT be used". The lifetime of
// a policy comes from the TXT id and max_age (§3.1, §5.1) alone, whatever
// the policy host says about caching: a new id fetches the new policy although
// the old one came "fresh for a year" with a validator, and the same id
// keeps the cached policy although the host now says "no-cache, expired".
// The fetcher never sends a conditional request (no If-None-Match or
// If-Modified-Since, so never a 304).
BOOST_AUTO_TEST_CASE(http_caching_headers_change_nothing) {
    HttpCacheBed bed;
    PolicyCache cache;
    const auto t0 = Clock::now();
    const std::string host = std::string("mta-sts.") + kHttpCacheDomain;
    const std::size_t before = access_log_lines(host).size();

    // id=1, served with "Cache-Control: max-age=31536000", an Expires a year
    // on and an ETag.
    Stack s1;
    first_fetch(s1, cache, kHttpCacheDomain, t0);
    auto log = access_log_lines(host, before + 1);
    BOOST_TEST_REQUIRE(log.size() == before + 1);
    BOOST_TEST(has(log.back(), "\"GET /.well-known/mta-sts.txt HTTP/1.1\" 200 "), log.back());
    BOOST_TEST(has(log.back(), " cache-control=\"max-age=31536000\" expires=\""), log.back());
    BOOST_TEST(!has(log.back(), " expires=\"-\""), log.back());
    BOOST_TEST(!has(log.back(), " etag=-"), log.back());
    BOOST_TEST(has(log.back(), " if-none-match=\"-\" if-modified-since=\"-\" "), log.back());

    // The same id, a new policy file, and the host now says "do not cache":
    // the cached policy (max_age 86400) stays, nothing is fetched.
    bed.serve("version: STSv1\nmode: testing\nmx: mx.sts-httpcache.test\nmax_age: 600\n");
    bed.forbid_caching(true);
    Stack s2;
    const StsFacts same = lookup(s2, cache, kHttpCacheDomain, t0 + seconds(1));
    BOOST_TEST(same.discovery.id == "1");
    BOOST_TEST(!same.fetch.has_value(), describe(same));
    BOOST_TEST(same.policy_from_cache);
    BOOST_TEST(same.policy_id == "1");
    BOOST_TEST(to_string(same.state) == "enforce");
    BOOST_TEST(access_log_lines(host).size() == before + 1);

    // A new id while the host says "fresh for a year" again: fetched anew
    // (not served from an HTTP cache, not revalidated), and applied.
    bed.forbid_caching(false);
    bed.set_id("2");
    Stack s3;  // libunbound would answer id=1 from its cache for up to 1 s
    const StsFacts changed = lookup(s3, cache, kHttpCacheDomain, t0 + seconds(2));
    BOOST_TEST(changed.discovery.id == "2");
    BOOST_TEST_REQUIRE(changed.fetch.has_value(), describe(changed));
    BOOST_TEST(to_string(changed.fetch->outcome) == "ok");
    BOOST_TEST(changed.fetch->status == 200);
    BOOST_TEST(!changed.policy_from_cache);
    BOOST_TEST(changed.policy_id == "2");
    BOOST_TEST_REQUIRE(changed.policy.has_value());
    BOOST_TEST(to_string(changed.policy->mode) == "testing");
    BOOST_TEST(changed.policy->max_age == 600U);
    BOOST_TEST(to_string(changed.state) == "testing");
    log = access_log_lines(host, before + 2);
    BOOST_TEST_REQUIRE(log.size() == before + 2);
    BOOST_TEST(has(log.back(), "\"GET /.well-known/mta-sts.txt HTTP/1.1\" 200 "), log.back());
    BOOST_TEST(has(log.back(), " if-none-match=\"-\" if-modified-since=\"-\" "), log.back());

    // And max_age (600), not the year of Cache-Control, ends it: the same id
    // ten minutes on is fetched again.
    const StsFacts expired = lookup(s3, cache, kHttpCacheDomain, t0 + seconds(2 + 601));
    BOOST_TEST(expired.fetch.has_value(), describe(expired));
    BOOST_TEST(!expired.policy_from_cache);
    BOOST_TEST(access_log_lines(host, before + 3).size() == before + 3);
}

BOOST_AUTO_TEST_SUITE_END()
