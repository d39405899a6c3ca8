// The SPEC §7 policy-map table: every row with real connectors and verdicts,
// the `match=` formatting postfix-mta-sts-resolver uses, TEMP/PERM texts,
// test mode, and every mode x state against decide(); then the same rows as
// Sendmail's FEATURE(`sts') (map name "sts") gets them, and as Postfix 3.10
// gets them under the map name "postfix-tlsrpt" (TLSRPT policy attributes).
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/decision/decision.hpp"
#include "core/policymap/policy_answer.hpp"
#include "tests/support/decision_rows.hpp"
#include "tests/support/enum_print.hpp"

using namespace dsm;
using config::Connector;
using config::DaneMode;
using config::OnFailure;
using config::StsMode;
using dsm::test::connector;
using dsm::test::make_verdict;
using policymap::map_client;
using policymap::MapClient;
using policymap::policy_answer;
using policymap::TlsrptExtras;
using verdict::DaneField;
using verdict::DnssecField;
using verdict::DomainVerdict;
using verdict::StsField;

namespace {

const std::vector<std::string> kNoPatterns;

// Every connector the modes make: the rows' first half.
std::vector<Connector> every_connector() {
    std::vector<Connector> out;
    for (auto dane_mode : {DaneMode::opportunistic, DaneMode::mandatory, DaneMode::none}) {
        for (auto sts_mode : {StsMode::opportunistic, StsMode::none}) {
            for (auto on_failure : {OnFailure::defer, OnFailure::reject}) {
                for (bool test_mode : {false, true}) {
                    out.push_back(connector(dane_mode, sts_mode, on_failure, test_mode));
                }
            }
        }
    }
    return out;
}

// Every DNSSEC x DANE x MTA-STS state a looked-up domain can be in: the
// rows' second half, for the map clients other than plain Postfix.
std::vector<DomainVerdict> looked_up_states() {
    std::vector<DomainVerdict> out;
    for (auto dnssec :
         {DnssecField::secure, DnssecField::insecure, DnssecField::bogus, DnssecField::pending}) {
        for (auto dane : {DaneField::pass, DaneField::unusable, DaneField::fail, DaneField::none,
                          DaneField::error}) {
            for (auto sts :
                 {StsField::enforce, StsField::testing, StsField::fail, StsField::none}) {
                out.push_back(make_verdict(dnssec, dane, sts));
            }
        }
    }
    return out;
}

Connector opportunistic() {
    return connector(DaneMode::opportunistic, StsMode::opportunistic);
}

// Rows 3, 5, 7, 8, 9 and 11 with on_failure defer: a connector and a verdict
// each.
std::vector<std::pair<Connector, DomainVerdict>> deferring_rows() {
    const auto mand = connector(DaneMode::mandatory, StsMode::opportunistic);
    return {
        {opportunistic(), make_verdict(DnssecField::bogus, DaneField::error)},
        {opportunistic(), make_verdict(DnssecField::secure, DaneField::fail)},
        {mand, make_verdict(DnssecField::secure, DaneField::unusable)},
        {mand, verdict::pending_verdict("partner.test")},
        {mand, make_verdict(DnssecField::insecure, DaneField::none)},
        {opportunistic(), make_verdict(DnssecField::insecure, DaneField::none, StsField::fail)},
    };
}

// STYLE §4: a connector in test mode, MTA-STS opportunistic.
Connector in_test_mode(DaneMode dane, OnFailure f = OnFailure::defer) {
    return connector(dane, StsMode::opportunistic, f, true);
}

// Row 12 (a testing policy, or nothing to require) for a map client other
// than plain Postfix: NOTFOUND, so that the MTA's own setting applies.
void check_row_12_is_notfound(MapClient client) {
    BOOST_TEST(policy_answer(opportunistic(),
                             make_verdict(DnssecField::secure, DaneField::none, StsField::testing),
                             {"mx.partner.test"}, client) == "NOTFOUND ");
    BOOST_TEST(policy_answer(opportunistic(), make_verdict(DnssecField::insecure, DaneField::none),
                             kNoPatterns, client) == "NOTFOUND ");
}

DomainVerdict sts_enforce() {
    return make_verdict(DnssecField::insecure, DaneField::none, StsField::enforce);
}

// Row 4: DANE passes (an enforce policy as well).
DomainVerdict dane_pass() {
    return make_verdict(DnssecField::secure, DaneField::pass, StsField::enforce);
}

// Row 6 (opportunistic DANE): TLSA records, none usable.
DomainVerdict tlsa_unusable() {
    return make_verdict(DnssecField::secure, DaneField::unusable);
}

bool starts_with(const std::string& s, std::string_view prefix) {
    return s.rfind(prefix, 0) == 0;
}

bool printable_line(const std::string& s) {
    for (const char c : s) {
        if (c < 0x20 || c >= 0x7f) {
            return false;
        }
    }
    return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_answer_table)

BOOST_AUTO_TEST_CASE(dane_none_sts_none_is_may) {
    const auto c = connector(DaneMode::none, StsMode::none);
    BOOST_TEST(policy_answer(c, make_verdict(DnssecField::skipped, DaneField::skipped),
                             kNoPatterns) == "OK may");
    // Nothing is looked at, not even a bogus or null-MX verdict (row 1 first).
    auto v = make_verdict(DnssecField::bogus, DaneField::error, StsField::fail);
    v.null_mx = true;
    BOOST_TEST(policy_answer(c, v, kNoPatterns) == "OK may");
}

BOOST_AUTO_TEST_CASE(require_dane_is_dane_only) {
    for (auto mode : {DaneMode::opportunistic, DaneMode::mandatory}) {
        for (auto sts : {StsMode::opportunistic, StsMode::none}) {
            // DANE governs even where an STS policy is in force (RFC 8461 §2).
            BOOST_TEST(
                policy_answer(connector(mode, sts),
                              make_verdict(DnssecField::secure, DaneField::pass, StsField::enforce),
                              {"mx.partner.test"}) == "OK dane-only");
        }
    }
}

BOOST_AUTO_TEST_CASE(require_encrypt_is_encrypt) {
    BOOST_TEST(policy_answer(opportunistic(),
                             make_verdict(DnssecField::secure, DaneField::unusable),
                             kNoPatterns) == "OK encrypt");
    BOOST_TEST(policy_answer(connector(DaneMode::opportunistic, StsMode::none),
                             make_verdict(DnssecField::secure, DaneField::unusable),
                             kNoPatterns) == "OK encrypt");
}

BOOST_AUTO_TEST_CASE(require_sts_is_secure_with_match_and_servername) {
    BOOST_TEST(policy_answer(opportunistic(), sts_enforce(), {"mail.partner.test"}) ==
               "OK secure match=mail.partner.test servername=hostname");
    // DANE none: STS decides (dane mandatory never reaches it: row 9 first).
    BOOST_TEST(policy_answer(connector(DaneMode::none, StsMode::opportunistic), sts_enforce(),
                             {"mail.partner.test"}) ==
               "OK secure match=mail.partner.test servername=hostname");
}

BOOST_AUTO_TEST_CASE(wildcard_pattern_is_written_with_a_leading_dot) {
    // postfix-mta-sts-resolver: mx.lstrip('*'); Postfix's secure level reads
    // ".example.com" as any sub-domain.
    BOOST_TEST(policy_answer(opportunistic(), sts_enforce(), {"*.example.com"}) ==
               "OK secure match=.example.com servername=hostname");
}

BOOST_AUTO_TEST_CASE(several_patterns_joined_by_colon_in_policy_order) {
    BOOST_TEST(policy_answer(opportunistic(), sts_enforce(),
                             {"mx1.partner.test", "*.mail.partner.test", "mx2.partner.test"}) ==
               "OK secure match=mx1.partner.test:.mail.partner.test:mx2.partner.test "
               "servername=hostname");
}

BOOST_AUTO_TEST_CASE(patterns_are_lowercased_deduplicated_and_rechecked) {
    // Case does not matter to Postfix's match; a repeat adds nothing; a
    // pattern that is not one (RFC 8461 §3.2) could smuggle attributes into
    // the policy ("x tafile=/etc/passwd") and is dropped.
    BOOST_TEST(
        policy_answer(opportunistic(), sts_enforce(),
                      {"MX.Partner.TEST", "mx.partner.test", "*.Partner.Test",
                       "evil.test tafile=/etc/passwd", "a:b", "", "*", "mx.partner.test."}) ==
        "OK secure match=mx.partner.test:.partner.test servername=hostname");
}

BOOST_AUTO_TEST_CASE(sts_without_usable_patterns_defers_rather_than_downgrades) {
    for (const auto& patterns : {std::vector<std::string>{}, std::vector<std::string>{"a b"}}) {
        const auto a = policy_answer(opportunistic(), sts_enforce(), patterns);
        BOOST_TEST(starts_with(a, "TEMP 4.7.5 partner.test: connector \"partners\""));
        BOOST_TEST(a.find("no usable mx pattern") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(defer_rows_are_temp_with_the_reply_text) {
    struct Case {
        Connector c;
        DomainVerdict v;
        std::string prefix;
        std::string result;
    };
    auto literal = verdict::address_literal_verdict("[192.0.2.1]");
    const std::vector<Case> cases = {
        // row 3
        {opportunistic(), make_verdict(DnssecField::bogus, DaneField::error), "TEMP 4.7.5 ",
         "(dnssec-invalid)"},
        {opportunistic(), make_verdict(DnssecField::secure, DaneField::error), "TEMP 4.7.5 ",
         "(dnssec-invalid)"},
        // row 5
        {opportunistic(), make_verdict(DnssecField::secure, DaneField::fail), "TEMP 4.7.5 ",
         "(tlsa-invalid)"},
        // row 7
        {connector(DaneMode::mandatory, StsMode::opportunistic),
         make_verdict(DnssecField::secure, DaneField::unusable), "TEMP 4.7.5 ", "(tlsa-invalid)"},
        // row 8
        {connector(DaneMode::mandatory, StsMode::opportunistic),
         verdict::pending_verdict("partner.test"), "TEMP 4.7.5 ", "(validation-failure)"},
        // row 9, on_failure = defer
        {connector(DaneMode::mandatory, StsMode::opportunistic),
         make_verdict(DnssecField::insecure, DaneField::none), "TEMP 4.7.4 ", "(dane-required)"},
        {connector(DaneMode::mandatory, StsMode::opportunistic), literal, "TEMP 4.7.4 ",
         "(dane-required)"},
        // row 11
        {opportunistic(), make_verdict(DnssecField::insecure, DaneField::none, StsField::fail),
         "TEMP 4.7.5 ", "(validation-failure)"},
    };
    for (const auto& k : cases) {
        const auto a = policy_answer(k.c, k.v, {"mx.partner.test"});
        BOOST_TEST_INFO("answer: " << a);
        BOOST_TEST(starts_with(a, k.prefix));
        BOOST_TEST(a.find(k.v.domain + ": connector \"partners\"") == k.prefix.size());
        BOOST_TEST(a.ends_with(k.result));
        BOOST_TEST(printable_line(a));
    }
}

BOOST_AUTO_TEST_CASE(temp_text_is_the_decisions_reply) {
    const auto c = opportunistic();
    auto v = make_verdict(DnssecField::bogus, DaneField::error);
    v.dane_why = "validation failure <mx.partner.test. TLSA>: signature expired";
    const auto d = decision::decide(c, v);
    BOOST_TEST(policy_answer(c, v, kNoPatterns) == "TEMP 4.7.5 " + d.reply_text);
}

BOOST_AUTO_TEST_CASE(temp_text_is_one_printable_line_of_bounded_length) {
    auto c = opportunistic();
    c.name = std::string(60, 'c');
    auto v = make_verdict(DnssecField::bogus, DaneField::error);
    v.domain =
        std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + ".test";
    v.dane_why = "line one\r\nline two\ttab \x01\x7f\xff" + std::string(500, 'x');
    const auto a = policy_answer(c, v, kNoPatterns);
    BOOST_TEST(starts_with(a, "TEMP 4.7.5 "));
    BOOST_TEST(printable_line(a));
    BOOST_TEST(a.size() <= std::string("TEMP ").size() + 400);
    BOOST_TEST(a.ends_with("..."));
    BOOST_TEST(a.find("line one??line two?tab ???") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(mandatory_reject_is_perm) {
    const auto c = connector(DaneMode::mandatory, StsMode::opportunistic, OnFailure::reject);
    const auto a =
        policy_answer(c, make_verdict(DnssecField::insecure, DaneField::none), kNoPatterns);
    BOOST_TEST(starts_with(a, "PERM 5.7.4 partner.test: connector \"partners\" requires DANE"));
    BOOST_TEST(a.ends_with("(dane-required)"));
    // on_failure only turns row 9 into a reject; the others still defer.
    BOOST_TEST(starts_with(
        policy_answer(c, make_verdict(DnssecField::bogus, DaneField::error), kNoPatterns),
        "TEMP 4.7.5 "));
}

BOOST_AUTO_TEST_CASE(null_mx_is_notfound) {
    // RCPT rejected it (556 5.1.10); for mail queued anyway Postfix's own
    // null-MX check bounces at once, where TEMP would hold it for days.
    for (auto mode : {DaneMode::opportunistic, DaneMode::mandatory, DaneMode::none}) {
        auto v = make_verdict(DnssecField::secure, DaneField::none);
        v.null_mx = true;
        BOOST_TEST(policy_answer(connector(mode, StsMode::opportunistic), v, kNoPatterns) ==
                   "NOTFOUND ");
    }
}

BOOST_AUTO_TEST_CASE(otherwise_notfound_with_trailing_space) {
    const std::vector<DomainVerdict> accepted = {
        make_verdict(DnssecField::insecure, DaneField::none, StsField::none),
        make_verdict(DnssecField::secure, DaneField::none, StsField::testing),
        make_verdict(DnssecField::secure, DaneField::none, StsField::error),
        make_verdict(DnssecField::secure, DaneField::none, StsField::skipped),
        verdict::pending_verdict("partner.test"),
    };
    for (const auto& v : accepted) {
        BOOST_TEST(policy_answer(opportunistic(), v, {"mx.partner.test"}) == "NOTFOUND ");
    }
    // mta_sts = none: an enforce policy is not the connector's business.
    BOOST_TEST(policy_answer(connector(DaneMode::opportunistic, StsMode::none), sts_enforce(),
                             {"mx.partner.test"}) == "NOTFOUND ");
    // dane = none: a DANE pass is not either.
    BOOST_TEST(policy_answer(connector(DaneMode::none, StsMode::opportunistic),
                             make_verdict(DnssecField::secure, DaneField::pass),
                             kNoPatterns) == "NOTFOUND ");
}

BOOST_AUTO_TEST_CASE(test_mode_never_enforces_a_refusal) {
    // RCPT accepted and only reported: a would-be defer or reject answers
    // NOTFOUND (main.cf's level applies), never TEMP or PERM.
    const auto mand = in_test_mode(DaneMode::mandatory);
    const auto rej = in_test_mode(DaneMode::mandatory, OnFailure::reject);
    const auto opp = in_test_mode(DaneMode::opportunistic);
    BOOST_TEST(policy_answer(mand, make_verdict(DnssecField::insecure, DaneField::none),
                             kNoPatterns) == "NOTFOUND ");
    BOOST_TEST(policy_answer(rej, make_verdict(DnssecField::insecure, DaneField::none),
                             kNoPatterns) == "NOTFOUND ");
    BOOST_TEST(policy_answer(mand, verdict::pending_verdict("partner.test"), kNoPatterns) ==
               "NOTFOUND ");
    BOOST_TEST(policy_answer(opp, make_verdict(DnssecField::bogus, DaneField::error),
                             kNoPatterns) == "NOTFOUND ");
    BOOST_TEST(policy_answer(opp,
                             make_verdict(DnssecField::insecure, DaneField::none, StsField::fail),
                             kNoPatterns) == "NOTFOUND ");
    BOOST_TEST(policy_answer(opp, sts_enforce(), kNoPatterns) == "NOTFOUND ");
}

BOOST_AUTO_TEST_CASE(test_mode_keeps_what_was_accepted) {
    // Test mode changes only the final action of refusals (STYLE §4): an
    // accepted row answers what its header said (`require=...`).
    const auto opp = in_test_mode(DaneMode::opportunistic);
    const auto mand = in_test_mode(DaneMode::mandatory);
    BOOST_TEST(policy_answer(mand, make_verdict(DnssecField::secure, DaneField::pass),
                             kNoPatterns) == "OK dane-only");
    BOOST_TEST(policy_answer(opp, make_verdict(DnssecField::secure, DaneField::unusable),
                             kNoPatterns) == "OK encrypt");
    BOOST_TEST(policy_answer(opp, sts_enforce(), {"*.partner.test"}) ==
               "OK secure match=.partner.test servername=hostname");
    BOOST_TEST(policy_answer(connector(DaneMode::none, StsMode::none, OnFailure::defer, true),
                             make_verdict(DnssecField::skipped, DaneField::skipped),
                             kNoPatterns) == "OK may");
    BOOST_TEST(policy_answer(opp, make_verdict(DnssecField::insecure, DaneField::none),
                             kNoPatterns) == "NOTFOUND ");
}

BOOST_AUTO_TEST_CASE(every_mode_and_state_agrees_with_decide) {
    const std::vector<std::string> patterns = {"*.partner.test"};
    int combinations = 0;
    for (const auto& c : every_connector()) {
        for (auto dnssec : {DnssecField::secure, DnssecField::insecure, DnssecField::bogus,
                            DnssecField::error, DnssecField::skipped, DnssecField::pending}) {
            for (auto dane :
                 {DaneField::pass, DaneField::unusable, DaneField::fail, DaneField::none,
                  DaneField::error, DaneField::skipped, DaneField::pending}) {
                for (auto sts :
                     {StsField::enforce, StsField::testing, StsField::none, StsField::fail,
                      StsField::error, StsField::skipped, StsField::pending}) {
                    for (bool null_mx : {false, true}) {
                        auto v = make_verdict(dnssec, dane, sts);
                        v.null_mx = null_mx;
                        const auto d = decision::decide(c, v);
                        const auto a = policy_answer(c, v, patterns);
                        ++combinations;
                        BOOST_TEST_INFO("row " << d.row << ": " << a);
                        BOOST_TEST(printable_line(a));
                        if (c.validates_nothing()) {
                            BOOST_TEST(a == "OK may");
                        } else if (null_mx) {
                            BOOST_TEST(a == "NOTFOUND ");
                        } else if (d.would != decision::Action::accept) {
                            const bool defer = d.would == decision::Action::defer;
                            BOOST_TEST(a == (c.test_mode
                                                 ? std::string("NOTFOUND ")
                                                 : (defer ? "TEMP " : "PERM ") + d.enhanced_code +
                                                       " " + d.reply_text));
                        } else if (d.require == decision::Require::dane) {
                            BOOST_TEST(a == "OK dane-only");
                        } else if (d.require == decision::Require::encrypt) {
                            BOOST_TEST(a == "OK encrypt");
                        } else if (d.require == decision::Require::sts) {
                            BOOST_TEST(a ==
                                       "OK secure match=.partner.test "
                                       "servername=hostname");
                        } else {
                            BOOST_TEST(a == "NOTFOUND ");
                        }
                    }
                }
            }
        }
    }
    BOOST_TEST(combinations == 3 * 2 * 2 * 2 * 6 * 7 * 7 * 2);
}

BOOST_AUTO_TEST_SUITE_END()

// Sendmail 8.17, FEATURE(`sts'): `Ksts socket -d5 -T<TMPF> inet:PORT@HOST`
// sends "sts <domain>". It acts on OK answers with the word "secure" only,
// reads TEMP as "450 STS lookup temp fail" (deferred), and PERM like NOTFOUND
// (the mail goes out): policy_answer.cpp, tests/e2e/sendmail_sts_test.sh.
BOOST_AUTO_TEST_SUITE(policy_answer_sendmail_sts)

namespace {
std::string sendmail(const Connector& c, const DomainVerdict& v,
                     const std::vector<std::string>& patterns) {
    return policy_answer(c, v, patterns, MapClient::sendmail_sts);
}
}  // namespace

BOOST_AUTO_TEST_CASE(only_the_name_sts_is_sendmail) {
    BOOST_TEST((map_client("sts") == MapClient::sendmail_sts));
    for (const char* name : {"postfix", "STS", "sts ", "mta-sts", ""}) {
        BOOST_TEST_INFO("name: '" << name << "'");
        BOOST_TEST((map_client(name) == MapClient::postfix));
    }
    // The second Postfix name (SPEC §7) is no Sendmail either.
    BOOST_TEST((map_client("postfix-tlsrpt") == MapClient::postfix_tlsrpt));
    // The default is Postfix: its answers are unchanged.
    BOOST_TEST(policy_answer(opportunistic(), make_verdict(DnssecField::secure, DaneField::pass),
                             kNoPatterns) == "OK dane-only");
}

BOOST_AUTO_TEST_CASE(row_1_validates_nothing_is_notfound) {
    // Postfix: OK may. Sendmail has no "may": no policy.
    BOOST_TEST(sendmail(connector(DaneMode::none, StsMode::none),
                        make_verdict(DnssecField::skipped, DaneField::skipped),
                        kNoPatterns) == "NOTFOUND ");
}

BOOST_AUTO_TEST_CASE(row_2_null_mx_is_notfound) {
    auto v = make_verdict(DnssecField::secure, DaneField::none);
    v.null_mx = true;
    BOOST_TEST(sendmail(opportunistic(), v, kNoPatterns) == "NOTFOUND ");
}

BOOST_AUTO_TEST_CASE(defer_rows_are_temp_with_the_reply_text) {
    // Rows 3, 5, 7, 8, 9 (defer), 11: the same TEMP as Postfix gets.
    for (const auto& [c, v] : deferring_rows()) {
        const auto a = sendmail(c, v, {"mx.partner.test"});
        BOOST_TEST_INFO("answer: " << a);
        BOOST_TEST(starts_with(a, "TEMP 4.7."));
        BOOST_TEST(a == policy_answer(c, v, {"mx.partner.test"}));
    }
}

BOOST_AUTO_TEST_CASE(row_9_reject_is_temp_not_perm) {
    // Sendmail reads PERM like NOTFOUND and would deliver without DANE.
    const auto c = connector(DaneMode::mandatory, StsMode::opportunistic, OnFailure::reject);
    const auto v = make_verdict(DnssecField::insecure, DaneField::none);
    const auto postfix = policy_answer(c, v, kNoPatterns);
    BOOST_TEST(starts_with(postfix, "PERM 5.7.4 "));
    BOOST_TEST(sendmail(c, v, kNoPatterns) == "TEMP" + postfix.substr(4));
}

BOOST_AUTO_TEST_CASE(row_4_require_dane_is_notfound) {
    // No "dane-only" in Sendmail's map: DANE is Sendmail's own (confDANE).
    BOOST_TEST(sendmail(opportunistic(), dane_pass(), {"mx.partner.test"}) == "NOTFOUND ");
}

BOOST_AUTO_TEST_CASE(row_6_require_encrypt_is_notfound) {
    BOOST_TEST(sendmail(opportunistic(), tlsa_unusable(), kNoPatterns) == "NOTFOUND ");
}

BOOST_AUTO_TEST_CASE(row_10_require_sts_is_secure_as_for_postfix) {
    // Sendmail's STS_Check splits match= on ":" and tries the MX name, then
    // "." + its parent: the leading-dot form of "*." patterns works as is.
    BOOST_TEST(sendmail(opportunistic(), sts_enforce(), {"mx1.partner.test", "*.partner.test"}) ==
               "OK secure match=mx1.partner.test:.partner.test servername=hostname");
    const auto none = sendmail(opportunistic(), sts_enforce(), kNoPatterns);
    BOOST_TEST(starts_with(none, "TEMP 4.7.5 "));
}

BOOST_AUTO_TEST_CASE(row_12_is_notfound) {
    check_row_12_is_notfound(MapClient::sendmail_sts);
}

BOOST_AUTO_TEST_CASE(test_mode_never_enforces_a_refusal) {
    const auto rej = in_test_mode(DaneMode::mandatory, OnFailure::reject);
    const auto opp = in_test_mode(DaneMode::opportunistic);
    BOOST_TEST(sendmail(rej, make_verdict(DnssecField::insecure, DaneField::none), kNoPatterns) ==
               "NOTFOUND ");
    BOOST_TEST(sendmail(opp, make_verdict(DnssecField::bogus, DaneField::error), kNoPatterns) ==
               "NOTFOUND ");
    BOOST_TEST(sendmail(opp, sts_enforce(), {"*.partner.test"}) ==
               "OK secure match=.partner.test servername=hostname");
}

BOOST_AUTO_TEST_CASE(every_mode_and_state_is_secure_temp_or_notfound) {
    const std::vector<std::string> patterns = {"*.partner.test"};
    for (const auto& c : every_connector()) {
        for (const auto& v : looked_up_states()) {
            const auto d = decision::decide(c, v);
            const auto a = sendmail(c, v, patterns);
            BOOST_TEST_INFO("row " << d.row << ": " << a);
            if (!c.test_mode && d.would != decision::Action::accept) {
                BOOST_TEST(a == "TEMP " + d.enhanced_code + " " + d.reply_text);
            } else if (d.require == decision::Require::sts && !c.validates_nothing()) {
                BOOST_TEST(a ==
                           "OK secure match=.partner.test "
                           "servername=hostname");
            } else {
                BOOST_TEST(a == "NOTFOUND ");
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

// Postfix 3.10 under the second map name "postfix-tlsrpt" (SPEC §7). The
// attribute syntax is Postfix's (TLSRPT_README.html "MTA-STS Support via
// smtp_tls_policy_maps"; smtp_tls_policy.c tls_policy_lookup_one()):
// policy_type=sts, policy_domain, policy_ttl, one mx_host_pattern per "mx:"
// line as written, one "{ policy_string = <line> }" per policy line. Only
// "sts" and "no-policy-found" are valid policy types and the attributes are
// an error on a non-STS policy, so every other answer is the plain one.
BOOST_AUTO_TEST_SUITE(policy_answer_postfix_tlsrpt)

namespace {

std::string tlsrpt(const Connector& c, const DomainVerdict& v,
                   const std::vector<std::string>& patterns, const TlsrptExtras& extras = {}) {
    return policy_answer(c, v, patterns, MapClient::postfix_tlsrpt, extras);
}

sts::Policy enforce_policy(std::vector<std::string> mx, std::uint32_t max_age) {
    sts::Policy p;
    p.mode = sts::PolicyMode::enforce;
    p.mx = std::move(mx);
    p.max_age = max_age;
    return p;
}

}  // namespace

BOOST_AUTO_TEST_CASE(only_the_name_postfix_tlsrpt_selects_it) {
    BOOST_TEST((map_client("postfix-tlsrpt") == MapClient::postfix_tlsrpt));
    for (const char* name : {"postfix", "Postfix-TLSRPT", "postfix-tlsrpt ", "tlsrpt", "sts"}) {
        BOOST_TEST_INFO("name: '" << name << "'");
        BOOST_TEST((map_client(name) != MapClient::postfix_tlsrpt));
    }
}

BOOST_AUTO_TEST_CASE(sts_enforce_carries_the_policy_attributes) {
    // RFC 8461 §3.2's example policy, as TLSRPT_README.html uses it.
    const std::vector<std::string> mx = {"mail.example.com", "*.example.net",
                                         "backupmx.example.com"};
    auto v = sts_enforce();
    v.domain = "example.com";
    TlsrptExtras extras;
    extras.policy = enforce_policy(mx, 604800);
    extras.ttl = std::chrono::seconds(3600);
    BOOST_TEST(tlsrpt(opportunistic(), v, mx, extras) ==
               "OK secure match=mail.example.com:.example.net:backupmx.example.com "
               "servername=hostname policy_type=sts policy_domain=example.com policy_ttl=3600 "
               "mx_host_pattern=mail.example.com mx_host_pattern=*.example.net "
               "mx_host_pattern=backupmx.example.com "
               "{ policy_string = version: STSv1 } { policy_string = mode: enforce } "
               "{ policy_string = mx: mail.example.com } { policy_string = mx: *.example.net } "
               "{ policy_string = mx: backupmx.example.com } "
               "{ policy_string = max_age: 604800 }");
}

BOOST_AUTO_TEST_CASE(sts_enforce_starts_with_the_plain_answer) {
    // Postfix 3.7 semantics unchanged: the attributes only follow them.
    const std::vector<std::string> mx = {"*.partner.test"};
    const auto plain = policy_answer(opportunistic(), sts_enforce(), mx);
    BOOST_TEST(plain == "OK secure match=.partner.test servername=hostname");
    BOOST_TEST(
        starts_with(tlsrpt(opportunistic(), sts_enforce(), mx), plain + " policy_type=sts "));
}

BOOST_AUTO_TEST_CASE(without_the_policy_max_age_and_ttl_are_left_out) {
    BOOST_TEST(tlsrpt(opportunistic(), sts_enforce(), {"mx.partner.test"}) ==
               "OK secure match=mx.partner.test servername=hostname policy_type=sts "
               "policy_domain=partner.test mx_host_pattern=mx.partner.test "
               "{ policy_string = version: STSv1 } { policy_string = mode: enforce } "
               "{ policy_string = mx: mx.partner.test }");
}

BOOST_AUTO_TEST_CASE(a_policy_other_than_the_verdicts_gives_no_max_age) {
    // The policy cache may hold a newer policy than the verdict was made
    // from: its max_age would describe another policy.
    const std::vector<std::string> mx = {"mx.partner.test"};
    const std::string without =
        "OK secure match=mx.partner.test servername=hostname policy_type=sts "
        "policy_domain=partner.test mx_host_pattern=mx.partner.test "
        "{ policy_string = version: STSv1 } { policy_string = mode: enforce } "
        "{ policy_string = mx: mx.partner.test }";
    TlsrptExtras other_mx;
    other_mx.policy = enforce_policy({"mx2.partner.test"}, 86400);
    BOOST_TEST(tlsrpt(opportunistic(), sts_enforce(), mx, other_mx) == without);
    TlsrptExtras testing;
    testing.policy = enforce_policy(mx, 86400);
    testing.policy->mode = sts::PolicyMode::testing;
    BOOST_TEST(tlsrpt(opportunistic(), sts_enforce(), mx, testing) == without);
    // Case and repeats do not make it another policy.
    TlsrptExtras same;
    same.policy = enforce_policy({"MX.partner.test", "mx.partner.test"}, 86400);
    BOOST_TEST(tlsrpt(opportunistic(), sts_enforce(), mx, same) ==
               without + " { policy_string = max_age: 86400 }");
}

BOOST_AUTO_TEST_CASE(policy_ttl_is_left_out_unless_positive) {
    const std::vector<std::string> mx = {"mx.partner.test"};
    for (const auto ttl : {std::chrono::seconds(0), std::chrono::seconds(-5)}) {
        TlsrptExtras extras;
        extras.ttl = ttl;
        BOOST_TEST(tlsrpt(opportunistic(), sts_enforce(), mx, extras).find("policy_ttl") ==
                   std::string::npos);
    }
    TlsrptExtras one;
    one.ttl = std::chrono::seconds(1);
    BOOST_TEST(tlsrpt(opportunistic(), sts_enforce(), mx, one).find(" policy_ttl=1 ") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(patterns_are_those_of_match_lowercased_deduplicated_and_rechecked) {
    // A pattern that is not one could add an attribute ("tafile=..."), or
    // a "}" could end a policy_string early: dropped, as for match=.
    BOOST_TEST(tlsrpt(opportunistic(), sts_enforce(),
                      {"MX.Partner.TEST", "mx.partner.test", "*.Partner.Test",
                       "evil.test tafile=/etc/passwd", "x }", "a:b", "", "*"}) ==
               "OK secure match=mx.partner.test:.partner.test servername=hostname "
               "policy_type=sts policy_domain=partner.test mx_host_pattern=mx.partner.test "
               "mx_host_pattern=*.partner.test { policy_string = version: STSv1 } "
               "{ policy_string = mode: enforce } { policy_string = mx: mx.partner.test } "
               "{ policy_string = mx: *.partner.test }");
}

BOOST_AUTO_TEST_CASE(sts_without_usable_patterns_is_the_same_temp) {
    // policy_type=sts without mx_host_pattern would reach a null list in
    // Postfix's smtp_tlsrpt.c; there is no secure answer to extend anyway.
    const auto a = tlsrpt(opportunistic(), sts_enforce(), {"a b"});
    BOOST_TEST(starts_with(a, "TEMP 4.7.5 partner.test: connector \"partners\""));
    BOOST_TEST(a == policy_answer(opportunistic(), sts_enforce(), {"a b"}));
}

BOOST_AUTO_TEST_CASE(an_answer_too_long_for_postfix_goes_out_without_attributes) {
    // dict_sockmap.c refuses replies over 100000 octets; the attributes
    // repeat every pattern twice more. Same enforcement, only unreported.
    std::vector<std::string> mx;
    for (int i = 0; i < 1500; ++i) {
        mx.push_back("mx" + std::to_string(i) + "." + std::string(30, 'p') + ".test");
    }
    const auto plain = policy_answer(opportunistic(), sts_enforce(), mx);
    BOOST_TEST(plain.size() < 65536U);
    BOOST_TEST(tlsrpt(opportunistic(), sts_enforce(), mx) == plain);
    // A long but fitting one keeps them.
    mx.resize(100);
    BOOST_TEST(tlsrpt(opportunistic(), sts_enforce(), mx).size() <= 65536U);
    BOOST_TEST(tlsrpt(opportunistic(), sts_enforce(), mx).find("policy_type=sts") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(dane_pass_is_dane_only_without_attributes) {
    // Postfix reports DANE itself (policy type tlsa, the TLSA records it
    // looked up); policy_type=tlsa would be refused as invalid.
    BOOST_TEST(tlsrpt(opportunistic(), dane_pass(), {"mx.partner.test"}) == "OK dane-only");
}

BOOST_AUTO_TEST_CASE(encrypt_is_encrypt) {
    BOOST_TEST(tlsrpt(opportunistic(), tlsa_unusable(), kNoPatterns) == "OK encrypt");
}

BOOST_AUTO_TEST_CASE(may_is_may) {
    BOOST_TEST(tlsrpt(connector(DaneMode::none, StsMode::none),
                      make_verdict(DnssecField::skipped, DaneField::skipped),
                      kNoPatterns) == "OK may");
}

BOOST_AUTO_TEST_CASE(notfound_rows_are_notfound) {
    // A testing policy included: "OK may policy_type=sts ..." would override
    // main.cf's level (smtp_tls_security_level = dane, say) for the domain.
    check_row_12_is_notfound(MapClient::postfix_tlsrpt);
    auto null_mx = make_verdict(DnssecField::secure, DaneField::none);
    null_mx.null_mx = true;
    BOOST_TEST(tlsrpt(opportunistic(), null_mx, kNoPatterns) == "NOTFOUND ");
}

BOOST_AUTO_TEST_CASE(temp_and_perm_rows_are_unchanged) {
    // No policy_failure: Postfix would connect and, where forcing that failure
    // is not implemented (smtp_tlsrpt.c TODO), could deliver; TEMP defers.
    auto cases = deferring_rows();
    cases.emplace_back(connector(DaneMode::mandatory, StsMode::opportunistic, OnFailure::reject),
                       make_verdict(DnssecField::insecure, DaneField::none));  // row 9, reject
    for (const auto& [c, v] : cases) {
        const auto a = tlsrpt(c, v, {"mx.partner.test"});
        BOOST_TEST_INFO("answer: " << a);
        BOOST_TEST((starts_with(a, "TEMP 4.7.") || starts_with(a, "PERM 5.7.4 ")));
        BOOST_TEST(a == policy_answer(c, v, {"mx.partner.test"}));
        BOOST_TEST(a.find("policy_") == std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(test_mode_answers_as_postfix_with_attributes_on_secure) {
    const auto opp = in_test_mode(DaneMode::opportunistic);
    BOOST_TEST(tlsrpt(opp, make_verdict(DnssecField::bogus, DaneField::error), kNoPatterns) ==
               "NOTFOUND ");
    BOOST_TEST(starts_with(tlsrpt(opp, sts_enforce(), {"*.partner.test"}),
                           "OK secure match=.partner.test servername=hostname policy_type=sts "));
}

BOOST_AUTO_TEST_CASE(every_mode_and_state_differs_from_postfix_only_on_secure) {
    const std::vector<std::string> patterns = {"*.partner.test"};
    TlsrptExtras extras;
    extras.policy = enforce_policy(patterns, 86400);
    extras.ttl = std::chrono::seconds(300);
    const std::string attributes =
        " policy_type=sts policy_domain=partner.test policy_ttl=300 "
        "mx_host_pattern=*.partner.test { policy_string = version: STSv1 } "
        "{ policy_string = mode: enforce } { policy_string = mx: *.partner.test } "
        "{ policy_string = max_age: 86400 }";
    for (const auto& c : every_connector()) {
        for (const auto& v : looked_up_states()) {
            const auto plain = policy_answer(c, v, patterns);
            const auto a = tlsrpt(c, v, patterns, extras);
            BOOST_TEST_INFO("plain: " << plain << " tlsrpt: " << a);
            BOOST_TEST(printable_line(a));
            if (starts_with(plain, "OK secure ")) {
                BOOST_TEST(a == plain + attributes);
            } else {
                BOOST_TEST(a == plain);
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
