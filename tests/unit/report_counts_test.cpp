// SPEC §11 counting: what one decision adds (core/report/decision_keys),
// row by row, and the bounded in-memory counter (core/report/
// decision_counter): sums, take(), the distinct-key bound and folding into
// "(other)", and the day arithmetic the stores use.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <thread>
#include <vector>

#include "core/decision/decision.hpp"
#include "core/report/count_key.hpp"
#include "core/report/decision_counter.hpp"
#include "core/report/decision_keys.hpp"
#include "tests/support/decision_rows.hpp"

using namespace dsm;
using config::Connector;
using config::DaneMode;
using config::OnFailure;
using config::StsMode;
using dsm::test::make_verdict;
using report::CountKey;
using report::CountRow;
using report::Outcome;
using report::View;
using verdict::DaneField;
using verdict::DnssecField;
using verdict::DomainVerdict;
using verdict::StsField;

namespace {

// Test mode comes before on_failure here: most rows here are about it.
Connector counted_connector(DaneMode dane, StsMode sts, bool test_mode = false,
                            OnFailure f = OnFailure::defer) {
    return dsm::test::connector(dane, sts, f, test_mode);
}

// "view outcome cause" of each key, in order.
std::vector<std::string> keys(const Connector& c, const DomainVerdict& v) {
    std::vector<std::string> out;
    for (const auto& k : report::decision_keys(c, v, decision::decide(c, v), "2026-12-04")) {
        BOOST_TEST(k.day == "2026-12-04");
        BOOST_TEST(k.connector == "partners");
        BOOST_TEST(k.domain == v.domain);
        out.push_back(std::string(report::to_string(k.view)) + " " +
                      std::string(report::to_string(k.outcome)) + " " + k.cause);
    }
    return out;
}

using Keys = std::vector<std::string>;

CountKey key(std::string domain, Outcome o = Outcome::accepted, std::string cause = "") {
    return CountKey{"2026-12-04",     "partners", std::move(domain),
                    View::configured, o,          std::move(cause)};
}

std::uint64_t count_of(const std::vector<CountRow>& rows, const CountKey& k) {
    const auto it =
        std::find_if(rows.begin(), rows.end(), [&](const CountRow& r) { return r.key == k; });
    return it == rows.end() ? 0 : it->count;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(report_decision_keys)

// Opportunistic connector, no DANE: accepted now, dane-required if mandatory.
BOOST_AUTO_TEST_CASE(no_dane_counts_dane_required_for_mandatory) {
    const auto c = counted_connector(DaneMode::opportunistic, StsMode::opportunistic);
    BOOST_TEST((keys(c, make_verdict(DnssecField::insecure, DaneField::none)) ==
                Keys{"configured accepted ", "mandatory deferred dane-required"}));
}

BOOST_AUTO_TEST_CASE(dane_pass_is_accepted_both_ways) {
    const auto c = counted_connector(DaneMode::opportunistic, StsMode::opportunistic);
    BOOST_TEST((keys(c, make_verdict(DnssecField::secure, DaneField::pass)) ==
                Keys{"configured accepted ", "mandatory accepted "}));
}

BOOST_AUTO_TEST_CASE(bogus_is_dnssec_invalid_both_ways) {
    const auto c = counted_connector(DaneMode::opportunistic, StsMode::opportunistic);
    BOOST_TEST((keys(c, make_verdict(DnssecField::bogus, DaneField::error)) ==
                Keys{"configured deferred dnssec-invalid", "mandatory deferred dnssec-invalid"}));
}

BOOST_AUTO_TEST_CASE(unusable_tlsa_is_tlsa_invalid_only_when_mandatory) {
    const auto c = counted_connector(DaneMode::opportunistic, StsMode::opportunistic);
    BOOST_TEST((keys(c, make_verdict(DnssecField::secure, DaneField::unusable)) ==
                Keys{"configured accepted ", "mandatory deferred tlsa-invalid"}));
}

BOOST_AUTO_TEST_CASE(sts_enforce_without_dane_is_dane_required_when_mandatory) {
    const auto c = counted_connector(DaneMode::opportunistic, StsMode::opportunistic);
    BOOST_TEST((keys(c, make_verdict(DnssecField::insecure, DaneField::none, StsField::enforce)) ==
                Keys{"configured accepted ", "mandatory deferred dane-required"}));
}

BOOST_AUTO_TEST_CASE(sts_fail_is_validation_failure) {
    const auto c = counted_connector(DaneMode::opportunistic, StsMode::opportunistic);
    BOOST_TEST(
        (keys(c, make_verdict(DnssecField::insecure, DaneField::none, StsField::fail)) ==
         Keys{"configured deferred validation-failure", "mandatory deferred dane-required"}));
}

BOOST_AUTO_TEST_CASE(pending_is_validation_failure_when_mandatory) {
    const auto c = counted_connector(DaneMode::opportunistic, StsMode::opportunistic);
    BOOST_TEST((keys(c, make_verdict(DnssecField::pending, DaneField::pending)) ==
                Keys{"configured accepted ", "mandatory deferred validation-failure"}));
}

BOOST_AUTO_TEST_CASE(null_mx_is_rejected_with_its_own_cause) {
    const auto c = counted_connector(DaneMode::opportunistic, StsMode::opportunistic);
    auto v = make_verdict(DnssecField::secure, DaneField::none);
    v.null_mx = true;
    BOOST_TEST((keys(c, v) == Keys{"configured rejected null-mx", "mandatory rejected null-mx"}));
}

BOOST_AUTO_TEST_CASE(test_mode_counts_what_would_have_been_done) {
    const auto c = counted_connector(DaneMode::opportunistic, StsMode::opportunistic, true);
    BOOST_TEST(
        (keys(c, make_verdict(DnssecField::bogus, DaneField::error)) ==
         Keys{"configured would-defer dnssec-invalid", "mandatory deferred dnssec-invalid"}));
}

// Already mandatory: the mandatory view would repeat the configured one.
BOOST_AUTO_TEST_CASE(mandatory_connector_counts_once) {
    const auto c =
        counted_connector(DaneMode::mandatory, StsMode::opportunistic, true, OnFailure::reject);
    BOOST_TEST((keys(c, make_verdict(DnssecField::insecure, DaneField::none)) ==
                Keys{"configured would-reject dane-required"}));
}

// Mode none looks nothing up: what mandatory would do is not known.
BOOST_AUTO_TEST_CASE(mode_none_counts_only_configured) {
    const auto c = counted_connector(DaneMode::none, StsMode::none);
    BOOST_TEST((keys(c, make_verdict(DnssecField::skipped, DaneField::skipped,
                                     StsField::skipped)) == Keys{"configured accepted "}));
}

// dane = none but MTA-STS validated: the verdict holds the DANE facts.
BOOST_AUTO_TEST_CASE(dane_none_sts_opportunistic_still_counts_mandatory) {
    const auto c = counted_connector(DaneMode::none, StsMode::opportunistic);
    BOOST_TEST((keys(c, make_verdict(DnssecField::secure, DaneField::pass)) ==
                Keys{"configured accepted ", "mandatory accepted "}));
}

// on_failure = reject carries over to the mandatory view (row 9).
BOOST_AUTO_TEST_CASE(mandatory_view_keeps_on_failure) {
    const auto c = counted_connector(DaneMode::opportunistic, StsMode::opportunistic, false,
                                     OnFailure::reject);
    BOOST_TEST((keys(c, make_verdict(DnssecField::insecure, DaneField::none)) ==
                Keys{"configured accepted ", "mandatory rejected dane-required"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(report_decision_counter)

BOOST_AUTO_TEST_CASE(adds_up_and_take_resets) {
    report::DecisionCounter counter(10);
    counter.add(key("a.test"));
    counter.add(key("a.test"));
    counter.add(key("a.test", Outcome::deferred, "dane-required"), 3);
    counter.add(key("b.test"));
    BOOST_TEST(counter.keys() == 3u);
    const auto rows = counter.take();
    BOOST_TEST(rows.size() == 3u);
    BOOST_TEST(count_of(rows, key("a.test")) == 2u);
    BOOST_TEST(count_of(rows, key("a.test", Outcome::deferred, "dane-required")) == 3u);
    BOOST_TEST(count_of(rows, key("b.test")) == 1u);
    BOOST_TEST(counter.keys() == 0u);
    BOOST_TEST(counter.take().empty());
}

BOOST_AUTO_TEST_CASE(past_the_bound_new_domains_fold_into_other) {
    report::DecisionCounter counter(2);
    counter.add(key("a.test"));
    counter.add(key("b.test"));
    counter.add(key("c.test"));                                       // folded
    counter.add(key("d.test"), 4);                                    // folded
    counter.add(key("e.test", Outcome::deferred, "dnssec-invalid"));  // folded, own key
    counter.add(key("a.test"));                                       // known: still counted
    BOOST_TEST(counter.keys() == 2u);
    BOOST_TEST(counter.folded() == 6u);
    const auto rows = counter.take();
    BOOST_TEST(rows.size() == 4u);
    BOOST_TEST(count_of(rows, key("a.test")) == 2u);
    BOOST_TEST(count_of(rows, key("b.test")) == 1u);
    BOOST_TEST(count_of(rows, key("(other)")) == 5u);
    BOOST_TEST(count_of(rows, key("(other)", Outcome::deferred, "dnssec-invalid")) == 1u);
    // After a take() the bound counts afresh.
    counter.add(key("c.test"));
    BOOST_TEST(count_of(counter.take(), key("c.test")) == 1u);
}

// Many threads, many domains: nothing lost, and never more than the bound of
// distinct domains (plus the few "(other)" keys).
BOOST_AUTO_TEST_CASE(concurrent_adds_are_bounded_and_exact) {
    report::DecisionCounter counter(1000);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&counter, t] {
            for (int i = 0; i < 5000; ++i) {
                counter.add(key("d" + std::to_string((t * 5000 + i) % 3000) + ".test"));
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    const auto rows = counter.take();
    BOOST_TEST(rows.size() == 1001u);
    std::uint64_t total = 0;
    for (const auto& r : rows) {
        total += r.count;
    }
    BOOST_TEST(total == 20000u);
}

BOOST_AUTO_TEST_CASE(days) {
    using namespace std::chrono;
    BOOST_TEST(report::utc_day(sys_days{year{2026} / 12 / 4} + hours{23} + minutes{59}) ==
               "2026-12-04");
    BOOST_TEST(report::add_days("2026-12-04", -29).value() == "2026-11-05");
    BOOST_TEST(report::add_days("2024-02-28", 1).value() == "2024-02-29");
    BOOST_TEST(report::add_days("2026-12-31", 1).value() == "2027-01-01");
    BOOST_TEST(!report::add_days("2026-02-30", 0).has_value());
    BOOST_TEST(!report::add_days("20261204", 0).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
