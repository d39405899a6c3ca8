// core/dns/rdata: TXT rdata (RFC 1035 §3.3.14), character-strings
// concatenated as RFC 8461 §3.1 reads them, including truncated rdata.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dns/rdata.hpp"
#include "tests/support/dns_wire.hpp"

using dsm::dns::parse_txt_rdata;

namespace {

using Bytes = std::vector<std::uint8_t>;

// Each string becomes a length octet followed by its octets.
Bytes txt(const std::vector<std::string>& strings) {
    return dsm::test::length_prefixed(strings);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(txt_rdata)

BOOST_AUTO_TEST_CASE(rows) {
    struct Row {
        std::string name;
        Bytes in;
        std::optional<std::string> out;
    };
    const std::string s255(255, 'x');
    const std::vector<Row> rows = {
        {"one string", txt({"v=STSv1; id=1"}), "v=STSv1; id=1"},
        {"two strings, no space added", txt({"v=STSv1; ", "id=20240101"}), "v=STSv1; id=20240101"},
        {"split inside a token", txt({"v=ST", "Sv1; id", "=1"}), "v=STSv1; id=1"},
        {"one empty string", txt({""}), ""},
        {"empty strings around", txt({"", "a", ""}), "a"},
        {"255-octet string", txt({s255}), s255},
        {"two 255-octet strings", txt({s255, s255}), s255 + s255},
        {"NUL kept", Bytes{3, 'a', 0, 'b'}, std::string("a\0b", 3)},
        {"high octets kept", Bytes{2, 0xC3, 0xBC}, std::string("\xC3\xBC")},
        {"empty rdata", Bytes{}, std::nullopt},
        {"length past the end", Bytes{5, 'a', 'b'}, std::nullopt},
        {"length octet alone", Bytes{1}, std::nullopt},
        {"second string truncated", Bytes{1, 'a', 2, 'b'}, std::nullopt},
        {"255 announced, 254 present",
         [] {
             Bytes b{255};
             b.insert(b.end(), 254, 'x');
             return b;
         }(),
         std::nullopt},
    };
    for (const auto& row : rows) {
        BOOST_TEST_CONTEXT(row.name) {
            const auto got = parse_txt_rdata(row.in);
            BOOST_TEST(got.has_value() == row.out.has_value());
            if (got && row.out) {
                BOOST_TEST(*got == *row.out);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(every_prefix_of_a_two_string_record) {
    const Bytes full = txt({"v=STSv1; ", "id=1"});
    for (std::size_t n = 0; n < full.size(); ++n) {
        const Bytes prefix(full.begin(), full.begin() + static_cast<long>(n));
        // Only the prefix ending exactly after the first string is well formed.
        const bool whole_first_string = n == 10;
        BOOST_TEST_CONTEXT("prefix of " << n << " octets") {
            BOOST_TEST(parse_txt_rdata(prefix).has_value() == whole_first_string);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
