// SPEC §11 readiness report: compute_readiness over stored rows (sums over
// days, shares, ordering, which connectors get a mandatory scenario), then
// the exact text and JSON an administrator and a script read.
#include <boost/test/unit_test.hpp>

#include "core/report/readiness.hpp"
#include "core/report/readiness_format.hpp"

using namespace dsm;
using config::Connector;
using config::DaneMode;
using config::StsMode;
using report::CountRow;
using report::Outcome;
using report::View;

namespace {

Connector connector(std::string name, DaneMode dane, StsMode sts, bool test_mode = false) {
    Connector c;
    c.name = std::move(name);
    c.dane = dane;
    c.mta_sts = sts;
    c.test_mode = test_mode;
    return c;
}

CountRow row(std::string day, std::string c, std::string domain, View view, Outcome o,
             std::string cause, std::uint64_t n) {
    return CountRow{{std::move(day), std::move(c), std::move(domain), view, o, std::move(cause)},
                    n};
}

const std::vector<Connector>& connectors() {
    static const std::vector<Connector> cs = {
        connector("partners", DaneMode::opportunistic, StsMode::opportunistic, true),
        connector("strict", DaneMode::mandatory, StsMode::opportunistic),
        connector("legacy", DaneMode::none, StsMode::none),
        connector("default", DaneMode::opportunistic, StsMode::opportunistic),
    };
    return cs;
}

// Two days of traffic; rows of a connector no longer configured are ignored.
std::vector<CountRow> rows() {
    using enum View;
    using enum Outcome;
    return {
        row("2026-12-03", "partners", "dane-ok.test", configured, accepted, "", 3),
        row("2026-12-03", "partners", "dane-ok.test", mandatory, accepted, "", 3),
        row("2026-12-03", "partners", "notlsa.test", configured, accepted, "", 2),
        row("2026-12-03", "partners", "notlsa.test", mandatory, deferred, "dane-required", 2),
        row("2026-12-04", "partners", "notlsa.test", configured, accepted, "", 3),
        row("2026-12-04", "partners", "notlsa.test", mandatory, deferred, "dane-required", 3),
        row("2026-12-04", "partners", "bogus.test", configured, would_defer, "dnssec-invalid", 2),
        row("2026-12-04", "partners", "bogus.test", mandatory, deferred, "dnssec-invalid", 2),
        row("2026-12-04", "strict", "notlsa.test", configured, deferred, "dane-required", 1),
        row("2026-12-04", "strict", "dane-ok.test", configured, accepted, "", 1),
        row("2026-12-04", "legacy", "old.test", configured, accepted, "", 4),
        row("2026-12-04", "gone", "x.test", configured, deferred, "dane-required", 9),
    };
}

report::ReadinessReport sample_report(const std::string& only = "") {
    return report::compute_readiness(rows(), connectors(), only, "2026-11-05", "2026-12-04", 30,
                                     "sqlite:/var/lib/dane-sts-milter/cache.db");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(readiness_report)

BOOST_AUTO_TEST_CASE(computes_per_connector) {
    const auto r = sample_report();
    BOOST_TEST_REQUIRE(r.connectors.size() == 4u);
    const auto& p = r.connectors[0];
    BOOST_TEST(p.name == "partners");
    BOOST_TEST(p.domains == 3u);
    BOOST_TEST(p.recipients == 10u);  // the configured view, summed over both days
    BOOST_TEST(p.configured.test_mode);
    BOOST_TEST(p.configured.domains == 1u);
    BOOST_TEST(p.configured.recipients == 2u);
    BOOST_TEST(p.configured.share_percent == 20.0);
    BOOST_TEST_REQUIRE(p.mandatory.has_value());
    BOOST_TEST(p.mandatory->domains == 2u);
    BOOST_TEST(p.mandatory->recipients == 7u);
    BOOST_TEST(p.mandatory->deferred == 7u);
    BOOST_TEST(p.mandatory->share_percent == 70.0);
    BOOST_TEST_REQUIRE(p.mandatory->refused.size() == 2u);
    BOOST_TEST(p.mandatory->refused[0].domain == "notlsa.test");  // most recipients first
    BOOST_TEST(p.mandatory->refused[0].recipients == 5u);
    BOOST_TEST(p.mandatory->refused[1].domain == "bogus.test");
    BOOST_TEST(!r.connectors[1].mandatory.has_value());  // already mandatory
    BOOST_TEST(r.connectors[1].configured.share_percent == 50.0);
    BOOST_TEST(!r.connectors[2].mandatory.has_value());  // mode none: unknown
    BOOST_TEST(r.connectors[3].recipients == 0u);
}

BOOST_AUTO_TEST_CASE(one_connector) {
    const auto r = sample_report("strict");
    BOOST_TEST_REQUIRE(r.connectors.size() == 1u);
    BOOST_TEST(r.connectors[0].name == "strict");
}

BOOST_AUTO_TEST_CASE(share_has_one_decimal) {
    const std::vector<CountRow> rs = {
        row("2026-12-04", "default", "a.test", View::configured, Outcome::accepted, "", 2),
        row("2026-12-04", "default", "a.test", View::mandatory, Outcome::rejected, "dane-required",
            1),
        row("2026-12-04", "default", "b.test", View::configured, Outcome::accepted, "", 1),
    };
    const auto r = report::compute_readiness(rs, connectors(), "default", "2026-12-04",
                                             "2026-12-04", 1, "redis://127.0.0.1:16379/0");
    BOOST_TEST(r.connectors[0].mandatory->share_percent == 33.3);
    BOOST_TEST(r.connectors[0].mandatory->rejected == 1u);
    BOOST_TEST(r.connectors[0].mandatory->refused[0].action == "reject");
}

BOOST_AUTO_TEST_CASE(text) {
    BOOST_TEST(
        report::format_readiness_text(sample_report()) ==
        R"(readiness report: 2026-11-05 to 2026-12-04 (UTC, 30 days), store sqlite:/var/lib/dane-sts-milter/cache.db

connector partners: dane=opportunistic mta_sts=opportunistic test_mode=yes
  seen: 3 domains, 10 recipients
  as configured (opportunistic, test mode): 1 domain, 2 recipients (20.0%) would be deferred or rejected
          2  defer   dnssec-invalid              bogus.test
  if mandatory: 2 domains, 7 recipients (70.0%) would be deferred or rejected
          5  defer   dane-required               notlsa.test
          2  defer   dnssec-invalid              bogus.test

connector strict: dane=mandatory mta_sts=opportunistic
  seen: 2 domains, 2 recipients
  as configured (mandatory): 1 domain, 1 recipient (50.0%) were deferred or rejected
          1  defer   dane-required               notlsa.test

connector legacy: dane=none mta_sts=none
  seen: 1 domain, 4 recipients
  as configured (none): no recipient was deferred or rejected
  if mandatory: not known (mode none looks nothing up)

connector default: dane=opportunistic mta_sts=opportunistic
  seen: 0 domains, 0 recipients
)");
}

BOOST_AUTO_TEST_CASE(json) {
    BOOST_TEST(report::format_readiness_json(sample_report("partners")) == R"({
  "first_day": "2026-11-05",
  "last_day": "2026-12-04",
  "days": 30,
  "store": "sqlite:/var/lib/dane-sts-milter/cache.db",
  "connectors": [
    {
      "name": "partners",
      "dane_mode": "opportunistic",
      "sts_mode": "opportunistic",
      "test_mode": true,
      "domains": 3,
      "recipients": 10,
      "configured": {
        "dane_mode": "opportunistic",
        "test_mode": true,
        "domains": 1,
        "recipients": 2,
        "deferred": 2,
        "rejected": 0,
        "share_percent": 20.0,
        "refused": [
          {"domain": "bogus.test", "action": "defer", "cause": "dnssec-invalid", "recipients": 2}
        ]
      },
      "mandatory": {
        "dane_mode": "mandatory",
        "test_mode": false,
        "domains": 2,
        "recipients": 7,
        "deferred": 7,
        "rejected": 0,
        "share_percent": 70.0,
        "refused": [
          {"domain": "notlsa.test", "action": "defer", "cause": "dane-required", "recipients": 5},
          {"domain": "bogus.test", "action": "defer", "cause": "dnssec-invalid", "recipients": 2}
        ]
      }
    }
  ]
}
)");
    // Already mandatory: "mandatory" is null; a string is escaped.
    const auto strict = report::format_readiness_json(sample_report("strict"));
    BOOST_TEST(strict.find("\"mandatory\": null\n") != std::string::npos);
    BOOST_TEST(report::format_readiness_json(report::compute_readiness(
                   {}, {}, "", "2026-12-04", "2026-12-04", 1, "sqlite:/tmp/a\"b")) == R"({
  "first_day": "2026-12-04",
  "last_day": "2026-12-04",
  "days": 1,
  "store": "sqlite:/tmp/a\"b",
  "connectors": []
}
)");
}

BOOST_AUTO_TEST_SUITE_END()
