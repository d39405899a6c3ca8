// core/sts/policy: the MTA-STS policy file (RFC 8461 §3.2), its strict
// parser and its error messages, row by row.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "core/sts/policy.hpp"

using dsm::sts::parse_policy;
using dsm::sts::Policy;
using dsm::sts::PolicyMode;

namespace {

struct Good {
    std::string name;
    std::string body;
    PolicyMode mode;
    std::uint32_t max_age;
    std::vector<std::string> mx;
};

struct Bad {
    std::string name;
    std::string body;
    std::string error;  // the whole message
};

const std::string kHead = "version: STSv1\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(sts_policy)

BOOST_AUTO_TEST_CASE(to_string_rows) {
    BOOST_TEST(to_string(PolicyMode::enforce) == "enforce");
    BOOST_TEST(to_string(PolicyMode::testing) == "testing");
    BOOST_TEST(to_string(PolicyMode::none) == "none");
}

BOOST_AUTO_TEST_CASE(valid_rows) {
    const std::vector<Good> rows = {
        {"LF",
         "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n",
         PolicyMode::enforce,
         86400,
         {"mail.example.com"}},
        {"CRLF",
         "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 86400\r\n",
         PolicyMode::enforce,
         86400,
         {"mail.example.com"}},
        {"mixed LF and CRLF",
         "version: STSv1\r\nmode: testing\nmx: a.example\r\nmax_age: 1\n",
         PolicyMode::testing,
         1,
         {"a.example"}},
        {"last line unterminated",
         "version: STSv1\nmode: none\nmax_age: 604800",
         PolicyMode::none,
         604800,
         {}},
        {"RFC 8461 §3.2 example",
         "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
         "mx: backupmx.example.com\r\nmax_age: 604800\r\n",
         PolicyMode::enforce,
         604800,
         {"mail.example.com", "*.example.net", "backupmx.example.com"}},
        {"no space after the colon",
         "version:STSv1\nmode:testing\nmx:a.example\nmax_age:0\n",
         PolicyMode::testing,
         0,
         {"a.example"}},
        {"tabs and spaces after the colon and at the end",
         "version:\t STSv1 \t\nmode:  enforce\t\nmx:\ta.example \nmax_age: 86400  \n",
         PolicyMode::enforce,
         86400,
         {"a.example"}},
        {"max_age at the limit",
         kHead + "mode: none\nmax_age: 31557600\n",
         PolicyMode::none,
         31557600,
         {}},
        {"max_age with 10 digits",
         kHead + "mode: none\nmax_age: 0031557600\n",
         PolicyMode::none,
         31557600,
         {}},
        {"mx with mode none",
         kHead + "mode: none\nmx: mail.example.com\nmax_age: 86400\n",
         PolicyMode::none,
         86400,
         {"mail.example.com"}},
        {"several mx in order, lower-cased",
         kHead + "mode: enforce\nmx: B.Example.COM\nmx: *.A.example\nmax_age: 9\nmx: c.example\n",
         PolicyMode::enforce,
         9,
         {"b.example.com", "*.a.example", "c.example"}},
        {"duplicate mode keeps the first",
         kHead + "mode: testing\nmode: enforce\nmx: a.example\nmax_age: 5\n",
         PolicyMode::testing,
         5,
         {"a.example"}},
        {"duplicate max_age keeps the first",
         kHead + "mode: none\nmax_age: 5\nmax_age: 7\n",
         PolicyMode::none,
         5,
         {}},
        {"duplicate version line",
         kHead + "mode: none\nversion: STSv1\nmax_age: 5\n",
         PolicyMode::none,
         5,
         {}},
        {"unknown keys ignored",
         kHead + "mode: none\nfoo: bar\nX-Ext.1_a: a value with = and ; and spaces\n"
                 "max_age: 5\nunicode: \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\n",
         PolicyMode::none,
         5,
         {}},
        {"key of 32 octets",
         kHead + "mode: none\n" + std::string(32, 'k') + ": v\nmax_age: 5\n",
         PolicyMode::none,
         5,
         {}},
        {"case variants of keys are extensions",
         kHead + "mode: none\nMode: enforce\nMAX_AGE: 99999999999\nmax_age: 5\n",
         PolicyMode::none,
         5,
         {}},
        {"fields in any order after version",
         kHead + "max_age: 5\nmx: a.example\nmode: enforce",
         PolicyMode::enforce,
         5,
         {"a.example"}},
        {"*.com is a valid pattern",
         kHead + "mode: enforce\nmx: *.com\nmax_age: 5\n",
         PolicyMode::enforce,
         5,
         {"*.com"}},
    };
    for (const auto& row : rows) {
        BOOST_TEST_CONTEXT(row.name) {
            const auto p = parse_policy(row.body);
            BOOST_TEST_REQUIRE(p.ok(), (p.ok() ? std::string() : p.error()));
            BOOST_TEST(static_cast<int>(p->mode) == static_cast<int>(row.mode));
            BOOST_TEST(p->max_age == row.max_age);
            BOOST_TEST(p->mx == row.mx, boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(invalid_rows) {
    const std::string long_value(100000, 'a');
    const std::vector<Bad> rows = {
        {"empty body", "", "empty policy: expected \"version: STSv1\" on line 1"},
        {"only a newline", "\n", "line 1: expected \"version: STSv1\", got an empty line"},
        {"missing version", "mode: enforce\nmx: a.example\nmax_age: 5\n",
         "line 1: expected \"version: STSv1\", got \"mode: enforce\""},
        {"version not first", "mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 5\n",
         "line 1: expected \"version: STSv1\", got \"mode: enforce\""},
        {"wrong version", "version: STSv2\nmode: none\nmax_age: 5\n",
         "line 1: expected \"version: STSv1\", got \"version: STSv2\""},
        {"version case", "Version: STSv1\nmode: none\nmax_age: 5\n",
         "line 1: expected \"version: STSv1\", got \"Version: STSv1\""},
        {"version value case", "version: stsv1\nmode: none\nmax_age: 5\n",
         "line 1: expected \"version: STSv1\", got \"version: stsv1\""},
        {"leading whitespace", " version: STSv1\nmode: none\nmax_age: 5\n",
         "line 1: expected \"version: STSv1\", got \" version: STSv1\""},
        {"space before the colon", "version : STSv1\nmode: none\nmax_age: 5\n",
         "line 1: expected \"version: STSv1\", got \"version : STSv1\""},
        {"UTF-8 BOM", "\xef\xbb\xbfversion: STSv1\nmode: none\nmax_age: 5\n",
         "line 1: expected \"version: STSv1\", got \"\\xef\\xbb\\xbfversion: STSv1\""},
        {"later version line differs", kHead + "mode: none\nversion: STSv2\nmax_age: 5\n",
         "line 3: version \"STSv2\" is not STSv1"},
        {"bad mode", kHead + "mode: report\nmax_age: 5\n",
         "line 2: mode \"report\" is not enforce, testing or none"},
        {"mode is case-sensitive", kHead + "mode: Enforce\nmx: a.example\nmax_age: 5\n",
         "line 2: mode \"Enforce\" is not enforce, testing or none"},
        {"empty mode", kHead + "mode:\nmax_age: 5\n",
         "line 2: mode \"\" is not enforce, testing or none"},
        {"invalid duplicate mode", kHead + "mode: none\nmode: bogus\nmax_age: 5\n",
         "line 3: mode \"bogus\" is not enforce, testing or none"},
        {"missing mode", kHead + "max_age: 5\n", "missing mode"},
        {"missing mode, case variant", kHead + "Mode: enforce\nmx: a.example\nmax_age: 5\n",
         "missing mode (line 2 spells it differently; keys are case-sensitive)"},
        {"missing max_age", kHead + "mode: none\n", "missing max_age"},
        {"max_age over the limit", kHead + "mode: none\nmax_age: 31557601\n",
         "line 3: max_age 31557601 is over 31557600"},
        {"max_age of 11 digits", kHead + "mode: none\nmax_age: 99999999999\n",
         "line 3: max_age 99999999999 is over 31557600"},
        {"max_age 2^64", kHead + "mode: none\nmax_age: 18446744073709551616\n",
         "line 3: max_age 18446744073709551616 is over 31557600"},
        {"max_age with 11 digits, small value", kHead + "mode: none\nmax_age: 00000000001\n",
         "line 3: max_age 00000000001 has more than 10 digits"},
        {"negative max_age", kHead + "mode: none\nmax_age: -1\n",
         "line 3: max_age \"-1\" is not a non-negative decimal integer"},
        {"plus sign", kHead + "mode: none\nmax_age: +5\n",
         "line 3: max_age \"+5\" is not a non-negative decimal integer"},
        {"non-numeric max_age", kHead + "mode: none\nmax_age: 1d\n",
         "line 3: max_age \"1d\" is not a non-negative decimal integer"},
        {"max_age with inner space", kHead + "mode: none\nmax_age: 86 400\n",
         "line 3: max_age \"86 400\" is not a non-negative decimal integer"},
        {"empty max_age", kHead + "mode: none\nmax_age: \n", "line 3: max_age is empty"},
        {"no mx for enforce", kHead + "mode: enforce\nmax_age: 5\n",
         "mode enforce requires at least one mx"},
        {"no mx for testing", kHead + "mode: testing\nmax_age: 5\n",
         "mode testing requires at least one mx"},
        {"IP literal mx", kHead + "mode: enforce\nmax_age: 5\nmx: 192.0.2.1\n",
         "line 4: mx \"192.0.2.1\" is an IP address, not a host name pattern"},
        {"IPv6 mx", kHead + "mode: enforce\nmax_age: 5\nmx: 2001:db8::25\n",
         "line 4: mx \"2001:db8::25\" is an IP address, not a host name pattern"},
        {"wildcard in the middle", kHead + "mode: enforce\nmax_age: 5\nmx: mail.*.example.com\n",
         "line 4: mx \"mail.*.example.com\": a wildcard is only allowed as the leftmost label"},
        {"*. alone", kHead + "mode: enforce\nmax_age: 5\nmx: *.\n",
         "line 4: mx \"*.\": a wildcard needs a domain after \"*.\""},
        {"empty mx", kHead + "mode: enforce\nmax_age: 5\nmx:\n", "line 4: mx \"\": empty pattern"},
        {"mx with trailing dot", kHead + "mode: enforce\nmax_age: 5\nmx: a.example.\n",
         "line 4: mx \"a.example.\": a trailing dot is not allowed"},
        {"mx with a port", kHead + "mode: enforce\nmax_age: 5\nmx: a.example:25\n",
         "line 4: mx \"a.example:25\": only letters, digits, hyphens and dots are allowed"},
        {"invalid mx with mode none", kHead + "mode: none\nmax_age: 5\nmx: -a.example\n",
         "line 4: mx \"-a.example\": a label starts or ends with a hyphen"},
        {"empty line in the middle", kHead + "mode: none\n\nmax_age: 5\n", "line 3: empty line"},
        {"empty CRLF line in the middle", "version: STSv1\r\nmode: none\r\n\r\nmax_age: 5\r\n",
         "line 3: empty line"},
        {"empty line at the end", kHead + "mode: none\nmax_age: 5\n\n", "line 4: empty line"},
        {"whitespace-only line", kHead + "mode: none\n  \nmax_age: 5\n",
         "line 3: expected \"key: value\", got \"  \""},
        {"no colon", kHead + "mode none\nmax_age: 5\n",
         "line 2: expected \"key: value\", got \"mode none\""},
        {"leading whitespace on a later line", kHead + " mode: none\nmax_age: 5\n",
         "line 2: invalid key \" mode\""},
        {"key of 33 octets", kHead + std::string(33, 'k') + ": v\n",
         "line 2: invalid key \"" + std::string(33, 'k') + "\""},
        {"key starting with _", kHead + "_x: v\n", "line 2: invalid key \"_x\""},
        {"empty key", kHead + ": v\n", "line 2: invalid key \"\""},
        {"unknown key with empty value", kHead + "mode: none\nfoo:\nmax_age: 5\n",
         "line 3: value of \"foo\": empty value"},
        {"unknown key with a tab inside", kHead + "mode: none\nfoo: a\tb\nmax_age: 5\n",
         "line 3: value of \"foo\": tab inside the value"},
        {"unknown key with bad UTF-8", kHead + "mode: none\nfoo: a\xc3(\nmax_age: 5\n",
         "line 3: value of \"foo\": invalid UTF-8 at octet 2"},
        {"overlong UTF-8", kHead + "mode: none\nfoo: \xc0\xaf\nmax_age: 5\n",
         "line 3: value of \"foo\": invalid UTF-8 at octet 1"},
        {"UTF-8 surrogate", kHead + "mode: none\nfoo: \xed\xa0\x80\nmax_age: 5\n",
         "line 3: value of \"foo\": invalid UTF-8 at octet 1"},
        {"bare CR inside a line", kHead + "mode: none\nfoo: a\rb\nmax_age: 5\n",
         "line 3: value of \"foo\": control character at octet 2"},
        {"CR ends the unterminated last line", kHead + "max_age: 5\nmode: none\r",
         "line 3: mode \"none\\x0d\" is not enforce, testing or none"},
        {"CR line terminator alone", "version: STSv1\rmode: none\rmax_age: 5\r",
         "line 1: expected \"version: STSv1\", got \"version: STSv1\\x0dmode: none\\x0dmax_age: "
         "5\\x0d\""},
        {"NUL in the version line", std::string("version: STSv1\0\nmode: none\nmax_age: 5\n", 38),
         "line 1: expected \"version: STSv1\", got \"version: STSv1\\x00\""},
        {"NUL in a value", kHead + std::string("mode: no\0ne\nmax_age: 5\n", 23),
         "line 2: mode \"no\\x00ne\" is not enforce, testing or none"},
        {"NUL in an unknown value", kHead + std::string("mode: none\nx: \0\nmax_age: 5\n", 27),
         "line 3: value of \"x\": control character at octet 1"},
        {"NUL in a key", kHead + std::string("mo\0de: none\n", 12),
         "line 2: invalid key \"mo\\x00de\""},
        {"very long mx", kHead + "mode: enforce\nmax_age: 5\nmx: " + long_value + "\n",
         "line 4: mx \"" + std::string(64, 'a') + "...\": longer than 253 octets"},
        {"very long first line", long_value,
         "line 1: expected \"version: STSv1\", got \"" + std::string(64, 'a') + "...\""},
    };
    for (const auto& row : rows) {
        BOOST_TEST_CONTEXT(row.name) {
            const auto p = parse_policy(row.body);
            BOOST_TEST_REQUIRE(!p.ok());
            BOOST_TEST(p.error() == row.error);
        }
    }
}

BOOST_AUTO_TEST_CASE(many_lines_stay_linear) {
    // 64 KiB of mx lines: every one kept, and the parser returns promptly.
    std::string body = kHead + "mode: enforce\nmax_age: 86400\n";
    std::size_t n = 0;
    while (body.size() < 64 * 1024) {
        body += "mx: mx" + std::to_string(n++) + ".example.com\n";
    }
    const auto p = parse_policy(body);
    BOOST_TEST_REQUIRE(p.ok());
    BOOST_TEST(p->mx.size() == n);
    BOOST_TEST(p->mx.back() == "mx" + std::to_string(n - 1) + ".example.com");
}

BOOST_AUTO_TEST_CASE(megabytes_of_one_line) {
    const std::string body = kHead + "mode: none\nmax_age: 5\nx: " + std::string(8 << 20, 'v');
    BOOST_TEST(parse_policy(body).ok());
    const std::string nul(1 << 20, '\0');
    BOOST_TEST(!parse_policy(nul).ok());
}

BOOST_AUTO_TEST_SUITE_END()
