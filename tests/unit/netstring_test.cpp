// Netstring framing for the socketmap server (socketmap_table(5), SPEC §7):
// whole, split and back-to-back netstrings, and every way a stream breaks.
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/policymap/netstring.hpp"
#include "tests/support/enum_print.hpp"

namespace dsm::policymap {
using dsm::test::operator<<;  // NetstringStatus, printable in failed assertions
}  // namespace dsm::policymap

using namespace dsm::policymap;

namespace {

// Everything the reader yields after `input` was fed at once, and its final status.
std::pair<std::vector<std::string>, NetstringStatus> read_all(std::string_view input,
                                                              std::size_t max = 1024) {
    NetstringReader r(max);
    r.feed(input);
    std::vector<std::string> out;
    std::string_view p;
    NetstringStatus s = NetstringStatus::need_more;
    while ((s = r.next(p)) == NetstringStatus::complete) {
        out.emplace_back(p);
    }
    return {out, s};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(netstring)

BOOST_AUTO_TEST_CASE(encodes_length_colon_payload_comma) {
    BOOST_TEST(netstring_encode("hello world!") == "12:hello world!,");
    BOOST_TEST(netstring_encode("") == "0:,");
    BOOST_TEST(netstring_encode("NOTFOUND ") == "9:NOTFOUND ,");
    std::string out = "x";
    netstring_append(out, "OK may");
    netstring_append(out, std::string(1000, 'a'));
    BOOST_TEST(out.substr(0, 10) == "x6:OK may,");
    BOOST_TEST(out.substr(10, 5) == "1000:");
    BOOST_TEST(out.back() == ',');
    BOOST_TEST(out.size() == 10 + 5 + 1000 + 1);
}

BOOST_AUTO_TEST_CASE(complete_request) {
    auto [got, status] = read_all("20:postfix example.test,");
    BOOST_TEST(got.size() == 1U);
    BOOST_TEST(got.at(0) == "postfix example.test");
    BOOST_TEST(status == NetstringStatus::need_more);
}

BOOST_AUTO_TEST_CASE(empty_payload) {
    auto [got, status] = read_all("0:,");
    BOOST_TEST(got.size() == 1U);
    BOOST_TEST(got.at(0).empty());
    BOOST_TEST(status == NetstringStatus::need_more);
}

BOOST_AUTO_TEST_CASE(split_across_reads_at_every_offset) {
    const std::string wire = netstring_encode("postfix partner.example");
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
        NetstringReader r;
        std::string_view p;
        r.feed(std::string_view(wire).substr(0, cut));
        if (cut < wire.size()) {
            BOOST_TEST(r.next(p) == NetstringStatus::need_more);
            r.feed(std::string_view(wire).substr(cut));
        }
        BOOST_TEST_REQUIRE(r.next(p) == NetstringStatus::complete);
        BOOST_TEST(p == "postfix partner.example");
        BOOST_TEST(r.next(p) == NetstringStatus::need_more);
        BOOST_TEST(r.buffered() == 0U);
    }
}

BOOST_AUTO_TEST_CASE(one_octet_at_a_time) {
    const std::string wire = netstring_encode("a b") + netstring_encode("c d");
    NetstringReader r;
    std::vector<std::string> got;
    std::string_view p;
    for (const char c : wire) {
        r.feed(std::string_view(&c, 1));
        while (r.next(p) == NetstringStatus::complete) {
            got.emplace_back(p);
        }
    }
    BOOST_TEST(got == (std::vector<std::string>{"a b", "c d"}));
}

BOOST_AUTO_TEST_CASE(several_in_one_buffer_then_a_partial_one) {
    auto [got, status] = read_all("3:a b,0:,5:c d e,7:post");
    BOOST_TEST(got == (std::vector<std::string>{"a b", "", "c d e"}));
    BOOST_TEST(status == NetstringStatus::need_more);
}

BOOST_AUTO_TEST_CASE(payload_may_hold_any_octet) {
    const std::string payload("a:,\0\r\n9:", 8);
    auto [got, status] = read_all(netstring_encode(payload));
    BOOST_TEST_REQUIRE(got.size() == 1U);
    BOOST_TEST(got[0] == payload);
}

BOOST_AUTO_TEST_CASE(limit_is_inclusive) {
    auto [got, status] = read_all(netstring_encode(std::string(1024, 'k')));
    BOOST_TEST(got.size() == 1U);
    BOOST_TEST(status == NetstringStatus::need_more);
    auto [none, over] = read_all(netstring_encode(std::string(1025, 'k')));
    BOOST_TEST(none.empty());
    BOOST_TEST(over == NetstringStatus::oversize);
}

BOOST_AUTO_TEST_CASE(oversize_is_known_from_the_length_alone) {
    // Refused before the payload arrives, and before the ':' (a peer cannot
    // make us buffer a huge length or an endless digit run).
    BOOST_TEST(read_all("1025:").second == NetstringStatus::oversize);
    BOOST_TEST(read_all("99999").second == NetstringStatus::oversize);
    BOOST_TEST(read_all(std::string(5000, '9')).second == NetstringStatus::oversize);
    BOOST_TEST(read_all("11:", 10).second == NetstringStatus::oversize);
}

BOOST_AUTO_TEST_CASE(bad_length) {
    BOOST_TEST(read_all(":abc,").second == NetstringStatus::malformed);
    BOOST_TEST(read_all("x:abc,").second == NetstringStatus::malformed);
    BOOST_TEST(read_all("-1:,").second == NetstringStatus::malformed);
    BOOST_TEST(read_all(" 3:abc,").second == NetstringStatus::malformed);
    BOOST_TEST(read_all("3 :abc,").second == NetstringStatus::malformed);
    BOOST_TEST(read_all("3;abc,").second == NetstringStatus::malformed);
    BOOST_TEST(read_all("+3:abc,").second == NetstringStatus::malformed);
}

BOOST_AUTO_TEST_CASE(missing_comma) {
    BOOST_TEST(read_all("3:abcd").second == NetstringStatus::malformed);
    BOOST_TEST(read_all("3:abc\n").second == NetstringStatus::malformed);
    // "ab," is the payload so far.
    BOOST_TEST(read_all("3:ab,").second == NetstringStatus::need_more);
    BOOST_TEST(read_all("3:ab,x").second == NetstringStatus::malformed);
}

BOOST_AUTO_TEST_CASE(leading_zeros_are_prohibited) {
    // "Extra zeros at the front of [len] are prohibited" (netstrings.txt §2).
    BOOST_TEST(read_all("03:abc,").second == NetstringStatus::malformed);
    BOOST_TEST(read_all("00:,").second == NetstringStatus::malformed);
    BOOST_TEST(read_all("0").second == NetstringStatus::need_more);
    BOOST_TEST(read_all("10:0123456789,").first.size() == 1U);
}

BOOST_AUTO_TEST_CASE(errors_stick_and_later_input_is_ignored) {
    NetstringReader r;
    std::string_view p;
    r.feed("3:abc,x:");
    BOOST_TEST(r.next(p) == NetstringStatus::complete);
    BOOST_TEST(r.next(p) == NetstringStatus::malformed);
    r.feed("3:abc,");
    BOOST_TEST(r.next(p) == NetstringStatus::malformed);

    NetstringReader big;
    big.feed("2000:");
    BOOST_TEST(big.next(p) == NetstringStatus::oversize);
    big.feed(std::string(100000, 'a'));
    BOOST_TEST(big.next(p) == NetstringStatus::oversize);
    BOOST_TEST(big.buffered() <= 5U);  // nothing more is held
}

BOOST_AUTO_TEST_CASE(round_trip) {
    std::string wire;
    std::vector<std::string> sent;
    for (std::size_t n = 0; n < 300; n += 7) {
        sent.emplace_back(n, static_cast<char>('a' + n % 26));
        netstring_append(wire, sent.back());
    }
    auto [got, status] = read_all(wire);
    BOOST_TEST(got == sent);
    BOOST_TEST(status == NetstringStatus::need_more);
}

BOOST_AUTO_TEST_CASE(status_names) {
    BOOST_TEST(dsm::policymap::to_string(NetstringStatus::oversize) == "oversize");
    BOOST_TEST(dsm::policymap::to_string(NetstringStatus::malformed) == "malformed");
}

BOOST_AUTO_TEST_SUITE_END()
