// core/sts/mx_pattern: MTA-STS `mx` pattern syntax (RFC 8461 §3.2) and
// matching (§4.1), row by row.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "core/sts/mx_pattern.hpp"

using dsm::sts::check_mx_pattern;
using dsm::sts::mx_pattern_matches;
using dsm::sts::MxPatternDefect;
using dsm::sts::valid_mx_pattern;

BOOST_AUTO_TEST_SUITE(sts_mx_pattern)

BOOST_AUTO_TEST_CASE(syntax_rows) {
    struct Row {
        std::string pattern;
        MxPatternDefect defect;
    };
    const std::string label63(63, 'a');
    const std::string label64(64, 'a');
    // 4 labels of 63 + 3 dots = 255 octets; one of 61 gives 253.
    const std::string name253 =
        label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
    const std::string name254 =
        label63 + "." + label63 + "." + label63 + "." + std::string(62, 'b');
    const std::vector<Row> rows = {
        {"mail.example.com", MxPatternDefect::none},
        {"MAIL.Example.COM", MxPatternDefect::none},
        {"*.example.com", MxPatternDefect::none},
        {"*.com", MxPatternDefect::none},  // ["*."] Domain: one label is a Domain
        {"localhost", MxPatternDefect::none},
        {"xn--bcher-kva.example", MxPatternDefect::none},
        {"a-b.example.com", MxPatternDefect::none},
        {"1mail.example.com", MxPatternDefect::none},
        {"mail.123.example", MxPatternDefect::none},
        {label63 + ".example", MxPatternDefect::none},
        {name253, MxPatternDefect::none},
        {"", MxPatternDefect::empty},
        {"192.0.2.1", MxPatternDefect::ip_literal},
        {"0.0.0.0", MxPatternDefect::ip_literal},
        {"[192.0.2.1]", MxPatternDefect::ip_literal},
        {"2001:db8::1", MxPatternDefect::ip_literal},
        {"::ffff:192.0.2.1", MxPatternDefect::ip_literal},
        {"[IPv6:2001:db8::1]", MxPatternDefect::ip_literal},
        {"mail.example.com:25", MxPatternDefect::invalid_character},
        {"*", MxPatternDefect::bare_wildcard},
        {"*.", MxPatternDefect::bare_wildcard},
        {"mail.*.example.com", MxPatternDefect::wildcard_not_leftmost},
        {"*.*.example.com", MxPatternDefect::wildcard_not_leftmost},
        {"**.example.com", MxPatternDefect::wildcard_not_leftmost},
        {"*mail.example.com", MxPatternDefect::wildcard_not_leftmost},
        {"mail.example.*", MxPatternDefect::wildcard_not_leftmost},
        {"a..example.com", MxPatternDefect::empty_label},
        {".example.com", MxPatternDefect::empty_label},
        {"*..example.com", MxPatternDefect::empty_label},
        {"example.com.", MxPatternDefect::trailing_dot},
        {"*.example.com.", MxPatternDefect::trailing_dot},
        {".", MxPatternDefect::trailing_dot},
        {label64 + ".example", MxPatternDefect::label_too_long},
        {name254, MxPatternDefect::name_too_long},
        {"mail_1.example.com", MxPatternDefect::invalid_character},
        {"mail example.com", MxPatternDefect::invalid_character},
        {"bücher.example", MxPatternDefect::invalid_character},
        {std::string("mail\0.example", 13), MxPatternDefect::invalid_character},
        {"-mail.example.com", MxPatternDefect::hyphen_at_label_edge},
        {"mail-.example.com", MxPatternDefect::hyphen_at_label_edge},
        {"mail.example.123", MxPatternDefect::numeric_top_label},
        {"*.0.2.1", MxPatternDefect::numeric_top_label},
        {"1.2.3", MxPatternDefect::numeric_top_label},
    };
    for (const auto& row : rows) {
        BOOST_TEST_CONTEXT("pattern \"" << row.pattern << "\"") {
            BOOST_TEST(to_string(check_mx_pattern(row.pattern)) == to_string(row.defect));
            BOOST_TEST(valid_mx_pattern(row.pattern) == (row.defect == MxPatternDefect::none));
        }
    }
}

BOOST_AUTO_TEST_CASE(defect_words) {
    BOOST_TEST(to_string(MxPatternDefect::ip_literal) ==
               "is an IP address, not a host name pattern");
    BOOST_TEST(to_string(MxPatternDefect::wildcard_not_leftmost) ==
               "a wildcard is only allowed as the leftmost label");
    BOOST_TEST(to_string(MxPatternDefect::none) == "valid");
}

BOOST_AUTO_TEST_CASE(match_rows) {
    struct Row {
        std::string pattern, host;
        bool match;
    };
    const std::vector<Row> rows = {
        // Exact names, case-insensitive, a trailing dot on either side.
        {"mail.example.com", "mail.example.com", true},
        {"mail.example.com", "MAIL.Example.Com", true},
        {"MAIL.EXAMPLE.COM", "mail.example.com", true},
        {"mail.example.com", "mail.example.com.", true},
        {"mail.example.com.", "mail.example.com", true},
        {"mail.example.com.", "mail.example.com.", true},
        {"mail.example.com", "mail.example.co", false},
        {"mail.example.com", "xmail.example.com", false},
        {"mail.example.com", "a.mail.example.com", false},
        {"mail.example.com", "example.com", false},
        {"mail.example.com", "mail.example.com..", false},
        {"mail.example.com", "", false},
        // §4.1: the wildcard is exactly one whole label.
        {"*.example.com", "mail.example.com", true},
        {"*.example.com", "MX1.EXAMPLE.COM.", true},
        {"*.Example.COM", "mx1.example.com", true},
        {"*.example.com.", "mx1.example.com", true},
        {"*.example.com", "example.com", false},
        {"*.example.com", "a.b.example.com", false},
        {"*.example.com", ".example.com", false},
        {"*.example.com", "mailexample.com", false},
        {"*.example.com", "mail.example.org", false},
        {"*.example.com", "mail.example.com.evil", false},
        {"*.com", "example.com", true},
        {"*.com", "a.example.com", false},
        // An invalid pattern matches nothing, not even itself.
        {"mail.*.example.com", "mail.*.example.com", false},
        {"mail.*.example.com", "mail.x.example.com", false},
        {"*", "example", false},
        {"*.", "example", false},
        {"", "", false},
        {"192.0.2.1", "192.0.2.1", false},
    };
    for (const auto& row : rows) {
        BOOST_TEST_CONTEXT("pattern \"" << row.pattern << "\" host \"" << row.host << "\"") {
            BOOST_TEST(mx_pattern_matches(row.pattern, row.host) == row.match);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
