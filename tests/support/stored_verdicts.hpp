// What the verdict stores' tests share (tests/integration/{sqlite,redis}_store_test.cpp,
// tests/unit/verdict_codec_test.cpp): field-by-field comparison of stored verdicts, the three
// kinds of error verdict, and readiness count rows.
#pragma once

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "core/cache/store.hpp"
#include "core/report/count_key.hpp"
#include "tests/support/enum_print.hpp"

// For Boost.Test's messages (found by ADL).
namespace dsm::report {
inline std::ostream& operator<<(std::ostream& o, const CountRow& r) {
    return o << r.key.day << ' ' << r.key.connector << ' ' << r.key.domain << ' '
             << to_string(r.key.view) << ' ' << to_string(r.key.outcome) << ' ' << r.key.cause
             << ' ' << r.count;
}
}  // namespace dsm::report

namespace dsm::test {

// Every field of `a` is that of `b`, to the nanosecond.
inline void check_same(const cache::StoredVerdict& a, const cache::StoredVerdict& b) {
    BOOST_TEST(a.verdict.domain == b.verdict.domain);
    BOOST_TEST((a.verdict.destination == b.verdict.destination));
    BOOST_TEST(a.verdict.dnssec == b.verdict.dnssec);
    BOOST_TEST(a.verdict.dane == b.verdict.dane);
    BOOST_TEST(a.verdict.sts == b.verdict.sts);
    BOOST_TEST(a.verdict.null_mx == b.verdict.null_mx);
    BOOST_TEST(a.verdict.nxdomain == b.verdict.nxdomain);
    BOOST_TEST(a.verdict.mx_insecure == b.verdict.mx_insecure);
    BOOST_TEST(a.verdict.dane_why == b.verdict.dane_why);
    BOOST_TEST(a.verdict.sts_why == b.verdict.sts_why);
    BOOST_TEST(a.verdict.sts_mx == b.verdict.sts_mx, boost::test_tools::per_element());
    BOOST_TEST((a.verdict.at == b.verdict.at));
    BOOST_TEST(a.verdict.ttl.count() == b.verdict.ttl.count());
    BOOST_TEST((a.expires == b.expires));
}

// A good verdict of `domain` (DNSSEC secure, DANE pass) decided at `at` and
// living `lifetime`: what each store's tests start from.
inline cache::StoredVerdict good_verdict(const std::string& domain,
                                         std::chrono::system_clock::time_point at,
                                         std::chrono::seconds lifetime) {
    cache::StoredVerdict s;
    s.verdict.domain = domain;
    s.verdict.dnssec = verdict::DnssecField::secure;
    s.verdict.dane = verdict::DaneField::pass;
    s.verdict.at = at;
    s.verdict.ttl = lifetime;
    s.expires = at + lifetime;
    return s;
}

// The three kinds of error verdict (SPEC §4: bogus, a failed lookup, an
// MTA-STS error), living error_ttl (60 s) from `wall`.
inline std::vector<cache::StoredVerdict> error_verdicts(
    std::chrono::system_clock::time_point wall) {
    std::vector<cache::StoredVerdict> out(3);
    out[0].verdict.domain = "bogus.test";
    out[0].verdict.dnssec = verdict::DnssecField::bogus;
    out[0].verdict.dane = verdict::DaneField::error;
    out[0].verdict.dane_why = "MX lookup for bogus.test is bogus: validation failure";
    out[1].verdict.domain = "noanswer.test";
    out[1].verdict.dnssec = verdict::DnssecField::error;
    out[1].verdict.dane = verdict::DaneField::error;
    out[1].verdict.sts = verdict::StsField::pending;
    out[1].verdict.dane_why = "MX lookup for noanswer.test failed: timeout after 1000 ms";
    out[2].verdict.domain = "sts-404.test";
    out[2].verdict.dnssec = verdict::DnssecField::secure;
    out[2].verdict.dane = verdict::DaneField::none;
    out[2].verdict.sts = verdict::StsField::error;
    out[2].verdict.sts_why = "HTTP 404 for https://mta-sts.sts-404.test/.well-known/mta-sts.txt";
    for (auto& s : out) {
        s.verdict.at = wall;
        s.verdict.ttl = std::chrono::seconds(300);
        s.expires = wall + std::chrono::seconds(60);
    }
    return out;
}

// A stored error verdict comes back whole: still an error, every field kept.
inline void check_same_error(const cache::StoredVerdict& got, const cache::StoredVerdict& want) {
    BOOST_TEST_CONTEXT(want.verdict.domain) {
        BOOST_TEST(got.verdict.is_error());
        check_same(got, want);
    }
}

// A count of connector "partners", view configured.
inline report::CountRow count_row(std::string day, std::string domain, std::uint64_t n,
                                  report::Outcome o = report::Outcome::accepted,
                                  std::string cause = "") {
    return report::CountRow{{std::move(day), "partners", std::move(domain),
                             report::View::configured, o, std::move(cause)},
                            n};
}

}  // namespace dsm::test
