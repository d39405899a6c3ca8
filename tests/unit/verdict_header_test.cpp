// The verdict header format (SPEC §4) and the decision log line.
#include <boost/test/unit_test.hpp>

#include <sstream>

#include "core/decision/verdict_header.hpp"

using namespace dsm;

namespace {

config::Connector partners() {
    config::Connector c;
    c.name = "partners";
    c.dane = config::DaneMode::mandatory;
    c.mta_sts = config::StsMode::opportunistic;
    c.tags = {"partner", "eu"};
    return c;
}

verdict::DomainVerdict secure_pass() {
    verdict::DomainVerdict v;
    v.domain = "partner.example";
    v.dnssec = verdict::DnssecField::secure;
    v.dane = verdict::DaneField::pass;
    v.sts = verdict::StsField::skipped;
    // 2026-11-28T12:00:00Z
    v.at = std::chrono::system_clock::time_point(std::chrono::seconds(1795867200));
    return v;
}

std::string unfold(std::string s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' && i + 1 < s.size() && s[i + 1] == '\t') {
            out += ' ';
            ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(header_matches_spec_example) {
    auto c = partners();
    auto v = secure_pass();
    auto d = decision::decide(c, v);
    auto h = decision::format_verdict_header("X-DANE-STS-Verdict", c, v, d);
    BOOST_TEST(unfold(h) ==
               "partner.example; connector=partners; dane_mode=mandatory; "
               "sts_mode=opportunistic; dnssec=secure; dane=pass; sts=skipped; require=dane; "
               "tags=partner,eu; at=2026-11-28T12:00:00Z");
    // Folded: no line longer than 78 with "X-DANE-STS-Verdict: " in front.
    std::istringstream lines("X-DANE-STS-Verdict: " + h);
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
        ++n;
        BOOST_TEST(line.size() <= 78U);
        if (n > 1) {
            BOOST_TEST(line[0] == '\t');
        }
    }
    BOOST_TEST(n >= 2);
}

BOOST_AUTO_TEST_CASE(header_in_test_mode_reports_would_and_result) {
    auto c = partners();
    c.test_mode = true;
    c.tags.clear();
    auto v = secure_pass();
    v.dane = verdict::DaneField::none;
    auto d = decision::decide(c, v);
    auto h = unfold(decision::format_verdict_header("X-DANE-STS-Verdict", c, v, d));
    BOOST_TEST(h.find("test_mode=yes; would=defer; result=dane-required") != std::string::npos);
    BOOST_TEST(h.find("tags=") == std::string::npos);
    BOOST_TEST(h.find("require=none") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(log_line_is_key_value) {
    auto c = partners();
    auto v = secure_pass();
    v.dane = verdict::DaneField::none;
    auto d = decision::decide(c, v);
    auto line = decision::format_decision_log({"4XyZ1", "<a@partner.example>"}, c, v, d);
    BOOST_TEST(line.rfind("4XyZ1: rcpt=<a@partner.example> domain=partner.example "
                          "connector=partners dane_mode=mandatory",
                          0) == 0);
    BOOST_TEST(line.find(" action=defer") != std::string::npos);
    BOOST_TEST(line.find(" result=dane-required") != std::string::npos);
    BOOST_TEST(line.find(" reply=\"450 4.7.4 partner.example: connector \\\"partners\\\"") !=
               std::string::npos);
    BOOST_TEST(line.find('\n') == std::string::npos);
}

// A value of a key=value log line, as the RCPT log lines quote the argument
// the SMTP client sent: row by row.
BOOST_AUTO_TEST_CASE(log_value_quotes_and_escapes) {
    const struct {
        std::string in, out;
    } rows[] = {
        {"<user@a.test>", "<user@a.test>"},                          // nothing to quote
        {"", "\"\""},                                                // empty: still a value
        {"<a b@c.test>", "\"<a b@c.test>\""},                        // a space
        {"<x=y@c.test>", "\"<x=y@c.test>\""},                        // '=' would split the pair
        {"<\"q\"@c.test>", "\"<\\\"q\\\"@c.test>\""},                // quotes escaped
        {"<a@c.test>\r\nfake=1", "\"<a@c.test>\\x0d\\x0afake=1\""},  // no new log line
    };
    for (const auto& r : rows) {
        BOOST_TEST(decision::log_value(r.in) == r.out, "input " << r.in);
    }
}
