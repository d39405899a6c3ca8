// The SPEC §4 decision table, row by row, then exhaustively over every
// connector mode x every verdict state.
#include <boost/test/unit_test.hpp>

#include "core/decision/decision.hpp"
#include "tests/support/decision_rows.hpp"
#include "tests/support/enum_print.hpp"

using namespace dsm;
using config::Connector;
using config::DaneMode;
using config::OnFailure;
using config::StsMode;
using decision::Action;
using decision::Require;
using decision::ResultType;
using dsm::test::connector;
using verdict::DaneField;
using verdict::DnssecField;
using verdict::DomainVerdict;
using verdict::StsField;

namespace {

// Rows without MTA-STS: its lookup was skipped.
DomainVerdict make_verdict(DnssecField dnssec, DaneField dane, StsField sts = StsField::skipped) {
    return dsm::test::make_verdict(dnssec, dane, sts);
}

void check(const decision::Decision& d, int row, Action action, Require require, ResultType result,
           std::string_view code, std::string_view enhanced) {
    BOOST_TEST(d.row == row);
    BOOST_TEST(decision::to_string(d.action) == decision::to_string(action));
    BOOST_TEST(decision::to_string(d.require) == decision::to_string(require));
    BOOST_TEST(decision::to_string(d.result) == decision::to_string(result));
    BOOST_TEST(d.reply_code == code);
    BOOST_TEST(d.enhanced_code == enhanced);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(decision_table)

BOOST_AUTO_TEST_CASE(row1_none_none_accepts_without_lookups) {
    auto d = decision::decide(connector(DaneMode::none, StsMode::none),
                              make_verdict(DnssecField::bogus, DaneField::error));
    check(d, 1, Action::accept, Require::none, ResultType::none, "", "");
    BOOST_TEST(verdict::to_string(d.dnssec) == "skipped");
    BOOST_TEST(verdict::to_string(d.dane) == "skipped");
    BOOST_TEST(verdict::to_string(d.sts) == "skipped");
}

BOOST_AUTO_TEST_CASE(row2_null_mx_rejects_556) {
    auto v = make_verdict(DnssecField::secure, DaneField::none);
    v.null_mx = true;
    for (auto mode : {DaneMode::opportunistic, DaneMode::mandatory, DaneMode::none}) {
        auto d = decision::decide(connector(mode, StsMode::opportunistic), v);
        check(d, 2, Action::reject, Require::none, ResultType::none, "556", "5.1.10");
        BOOST_TEST(d.reply_text.find("partner.test") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(row3_bogus_error_defer_dnssec_invalid) {
    for (auto mode : {DaneMode::opportunistic, DaneMode::mandatory}) {
        for (auto v : {make_verdict(DnssecField::bogus, DaneField::error),
                       make_verdict(DnssecField::error, DaneField::error),
                       make_verdict(DnssecField::secure, DaneField::error)}) {
            auto d = decision::decide(connector(mode, StsMode::opportunistic), v);
            check(d, 3, Action::defer, Require::none, ResultType::dnssec_invalid, "450", "4.7.5");
            BOOST_TEST(d.reply_text.find("(dnssec-invalid)") != std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(row4_dane_pass_requires_dane) {
    for (auto mode : {DaneMode::opportunistic, DaneMode::mandatory}) {
        auto d =
            decision::decide(connector(mode, StsMode::opportunistic),
                             make_verdict(DnssecField::secure, DaneField::pass, StsField::enforce));
        check(d, 4, Action::accept, Require::dane, ResultType::none, "", "");
    }
}

BOOST_AUTO_TEST_CASE(row5_dane_fail_defers_tlsa_invalid_and_sts_cannot_rescue) {
    auto d =
        decision::decide(connector(DaneMode::opportunistic, StsMode::opportunistic),
                         make_verdict(DnssecField::secure, DaneField::fail, StsField::enforce));
    check(d, 5, Action::defer, Require::none, ResultType::tlsa_invalid, "450", "4.7.5");
}

BOOST_AUTO_TEST_CASE(row6_opportunistic_unusable_requires_encrypt) {
    auto d = decision::decide(connector(DaneMode::opportunistic, StsMode::opportunistic),
                              make_verdict(DnssecField::secure, DaneField::unusable));
    check(d, 6, Action::accept, Require::encrypt, ResultType::none, "", "");
}

BOOST_AUTO_TEST_CASE(row7_mandatory_unusable_defers) {
    auto d = decision::decide(connector(DaneMode::mandatory, StsMode::opportunistic),
                              make_verdict(DnssecField::secure, DaneField::unusable));
    check(d, 7, Action::defer, Require::none, ResultType::tlsa_invalid, "450", "4.7.5");
}

BOOST_AUTO_TEST_CASE(row8_mandatory_pending_defers) {
    auto d = decision::decide(connector(DaneMode::mandatory, StsMode::opportunistic),
                              verdict::pending_verdict("partner.test"));
    check(d, 8, Action::defer, Require::none, ResultType::validation_failure, "450", "4.7.5");
}

BOOST_AUTO_TEST_CASE(row9_mandatory_without_tlsa_follows_on_failure) {
    auto v = make_verdict(DnssecField::secure, DaneField::none);
    auto d = decision::decide(connector(DaneMode::mandatory, StsMode::opportunistic), v);
    check(d, 9, Action::defer, Require::none, ResultType::dane_required, "450", "4.7.4");
    BOOST_TEST(d.reply_text ==
               "partner.test: connector \"partners\" requires DANE, but no MX host of "
               "partner.test publishes TLSA records (dane-required)");
    d = decision::decide(connector(DaneMode::mandatory, StsMode::opportunistic, OnFailure::reject),
                         v);
    check(d, 9, Action::reject, Require::none, ResultType::dane_required, "550", "5.7.4");
}

BOOST_AUTO_TEST_CASE(row9_address_literal_has_no_dns_name) {
    auto d = decision::decide(connector(DaneMode::mandatory, StsMode::opportunistic),
                              verdict::address_literal_verdict("[192.0.2.1]"));
    check(d, 9, Action::defer, Require::none, ResultType::dane_required, "450", "4.7.4");
    BOOST_TEST(d.reply_text.find("no DNS name") != std::string::npos);
    d = decision::decide(connector(DaneMode::opportunistic, StsMode::opportunistic),
                         verdict::address_literal_verdict("[192.0.2.1]"));
    check(d, 12, Action::accept, Require::none, ResultType::none, "", "");
}

BOOST_AUTO_TEST_CASE(row9_insecure_zone_names_the_cause) {
    auto v = make_verdict(DnssecField::insecure, DaneField::none);
    v.mx_insecure = true;
    auto d = decision::decide(connector(DaneMode::mandatory, StsMode::opportunistic), v);
    BOOST_TEST(d.reply_text.find("not DNSSEC-signed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(row10_sts_enforce_requires_sts) {
    auto d =
        decision::decide(connector(DaneMode::opportunistic, StsMode::opportunistic),
                         make_verdict(DnssecField::insecure, DaneField::none, StsField::enforce));
    check(d, 10, Action::accept, Require::sts, ResultType::none, "", "");
}

BOOST_AUTO_TEST_CASE(row11_sts_fail_defers) {
    auto d = decision::decide(connector(DaneMode::opportunistic, StsMode::opportunistic),
                              make_verdict(DnssecField::insecure, DaneField::none, StsField::fail));
    check(d, 11, Action::defer, Require::none, ResultType::validation_failure, "450", "4.7.5");
}

BOOST_AUTO_TEST_CASE(row12_everything_else_accepts) {
    for (auto sts : {StsField::none, StsField::testing, StsField::error, StsField::pending,
                     StsField::skipped}) {
        auto d = decision::decide(connector(DaneMode::opportunistic, StsMode::opportunistic),
                                  make_verdict(DnssecField::insecure, DaneField::none, sts));
        check(d, 12, Action::accept, Require::none, ResultType::none, "", "");
    }
    // Opportunistic DANE with a lookup still pending: mail goes out.
    auto d = decision::decide(connector(DaneMode::opportunistic, StsMode::opportunistic),
                              verdict::pending_verdict("partner.test"));
    check(d, 12, Action::accept, Require::none, ResultType::none, "", "");
}

BOOST_AUTO_TEST_CASE(dane_none_skips_dane_rows) {
    // A bogus DNSSEC state does not matter when DANE is off and STS decides.
    auto d =
        decision::decide(connector(DaneMode::none, StsMode::opportunistic),
                         make_verdict(DnssecField::bogus, DaneField::error, StsField::enforce));
    check(d, 10, Action::accept, Require::sts, ResultType::none, "", "");
    BOOST_TEST(verdict::to_string(d.dane) == "skipped");
}

BOOST_AUTO_TEST_CASE(sts_none_skips_sts_rows) {
    auto d = decision::decide(connector(DaneMode::opportunistic, StsMode::none),
                              make_verdict(DnssecField::insecure, DaneField::none, StsField::fail));
    check(d, 12, Action::accept, Require::none, ResultType::none, "", "");
    BOOST_TEST(verdict::to_string(d.sts) == "skipped");
}

BOOST_AUTO_TEST_CASE(test_mode_accepts_and_reports_would) {
    auto d = decision::decide(connector(DaneMode::mandatory, StsMode::opportunistic,
                                        OnFailure::reject, /*test_mode=*/true),
                              make_verdict(DnssecField::secure, DaneField::none));
    BOOST_TEST(decision::to_string(d.action) == "accept");
    BOOST_TEST(decision::to_string(d.would) == "reject");
    BOOST_TEST(d.test_mode);
    BOOST_TEST(d.reply_code == "550");  // kept for the log
    BOOST_TEST(d.row == 9);
}

BOOST_AUTO_TEST_SUITE_END()

// Every mode x every state: the invariants the table promises.
BOOST_AUTO_TEST_CASE(exhaustive_invariants) {
    const DaneMode dane_modes[] = {DaneMode::opportunistic, DaneMode::mandatory, DaneMode::none};
    const StsMode sts_modes[] = {StsMode::opportunistic, StsMode::none};
    const DnssecField dnssecs[] = {DnssecField::secure,  DnssecField::insecure,
                                   DnssecField::bogus,   DnssecField::error,
                                   DnssecField::skipped, DnssecField::pending};
    const DaneField danes[] = {DaneField::pass,   DaneField::unusable, DaneField::fail,
                               DaneField::none,   DaneField::error,    DaneField::skipped,
                               DaneField::pending};
    const StsField stss[] = {StsField::enforce, StsField::testing, StsField::none,   StsField::fail,
                             StsField::error,   StsField::skipped, StsField::pending};
    int combinations = 0;
    for (auto dm : dane_modes)
        for (auto sm : sts_modes)
            for (auto of : {OnFailure::defer, OnFailure::reject})
                for (bool tm : {false, true})
                    for (auto ds : dnssecs)
                        for (auto da : danes)
                            for (auto st : stss)
                                for (bool null_mx : {false, true}) {
                                    ++combinations;
                                    auto c = connector(dm, sm, of, tm);
                                    auto v = make_verdict(ds, da, st);
                                    v.null_mx = null_mx;
                                    auto d = decision::decide(c, v);
                                    BOOST_TEST_CONTEXT("dane_mode="
                                                       << config::to_string(dm)
                                                       << " sts_mode=" << config::to_string(sm)
                                                       << " dnssec=" << verdict::to_string(ds)
                                                       << " dane=" << verdict::to_string(da)
                                                       << " sts=" << verdict::to_string(st)
                                                       << " null_mx=" << null_mx) {
                                        // Test mode changes only the action.
                                        if (tm) {
                                            BOOST_TEST(d.action == Action::accept);
                                        } else {
                                            BOOST_TEST(d.action == d.would);
                                        }
                                        // Replies match the action.
                                        if (d.would == Action::accept) {
                                            BOOST_TEST(d.reply_code.empty());
                                            BOOST_TEST(d.result == ResultType::none);
                                        } else {
                                            BOOST_TEST(d.reply_text.find("partner.test") !=
                                                       std::string::npos);
                                            BOOST_TEST(d.reply_code[0] ==
                                                       (d.would == Action::defer ? '4' : '5'));
                                            BOOST_TEST(d.enhanced_code[0] == d.reply_code[0]);
                                        }
                                        if (dm == DaneMode::none && sm == StsMode::none) {
                                            BOOST_TEST(d.row == 1);
                                            continue;
                                        }
                                        if (null_mx) {
                                            BOOST_TEST(d.row == 2);
                                            continue;
                                        }
                                        const bool dane_on = dm != DaneMode::none;
                                        // A bogus or failed lookup never downgrades.
                                        if (dane_on &&
                                            (ds == DnssecField::bogus || ds == DnssecField::error ||
                                             da == DaneField::error)) {
                                            BOOST_TEST(d.would == Action::defer);
                                            BOOST_TEST(d.result == ResultType::dnssec_invalid);
                                        }
                                        // Mandatory DANE accepts only a DANE pass.
                                        if (dm == DaneMode::mandatory) {
                                            BOOST_TEST((d.would == Action::accept) ==
                                                       (da == DaneField::pass &&
                                                        ds != DnssecField::bogus &&
                                                        ds != DnssecField::error));
                                        }
                                        // require=dane only from a DANE pass.
                                        if (d.require == Require::dane) {
                                            BOOST_TEST(dane_on);
                                            BOOST_TEST(da == DaneField::pass);
                                        }
                                        // require=sts only where DANE did not decide.
                                        if (d.require == Require::sts) {
                                            BOOST_TEST(sm == StsMode::opportunistic);
                                            BOOST_TEST(st == StsField::enforce);
                                            BOOST_TEST((!dane_on || da != DaneField::pass));
                                        }
                                        // A DANE failure is never rescued by MTA-STS.
                                        if (dane_on && da == DaneField::fail) {
                                            BOOST_TEST(d.would == Action::defer);
                                        }
                                        // Opportunistic everything with no support: accept.
                                        if (dm != DaneMode::mandatory && da == DaneField::none &&
                                            ds != DnssecField::bogus && ds != DnssecField::error &&
                                            st != StsField::fail) {
                                            BOOST_TEST(d.would == Action::accept);
                                        }
                                    }
                                }
    BOOST_TEST(combinations == 3 * 2 * 2 * 2 * 6 * 7 * 7 * 2);
}
