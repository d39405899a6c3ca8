// core/dane/tlsa: TLSA rdata (RFC 6698 §2.1) and usability for SMTP
// (RFC 7672 §3.1), row by row.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/dane/tlsa.hpp"

using dsm::dane::parse_tlsa_rdata;
using dsm::dane::TlsaRecord;

namespace {

using Bytes = std::vector<std::uint8_t>;

TlsaRecord record(std::uint8_t usage, std::uint8_t selector, std::uint8_t mtype,
                  std::size_t length) {
    TlsaRecord r;
    r.usage = usage;
    r.selector = selector;
    r.mtype = mtype;
    r.data.assign(length, 0xAB);
    return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tlsa)

BOOST_AUTO_TEST_CASE(usable_rows) {
    struct Row {
        std::uint8_t usage, selector, mtype;
        std::size_t length;
        bool usable;
    };
    const std::vector<Row> rows = {
        // DANE-EE(3) and DANE-TA(2), every selector and matching type.
        {3, 1, 1, 32, true},
        {3, 0, 1, 32, true},
        {3, 1, 2, 64, true},
        {3, 0, 0, 300, true},
        {3, 1, 0, 91, true},
        {2, 0, 1, 32, true},
        {2, 1, 2, 64, true},
        {2, 0, 0, 500, true},
        // PKIX-TA(0) and PKIX-EE(1): unusable for SMTP (RFC 7672 §3.1.3).
        {0, 0, 1, 32, false},
        {1, 1, 1, 32, false},
        {0, 1, 2, 64, false},
        // Unknown usage, selector or matching type.
        {4, 1, 1, 32, false},
        {255, 1, 1, 32, false},
        {3, 2, 1, 32, false},
        {3, 255, 1, 32, false},
        {3, 1, 3, 32, false},
        {3, 1, 255, 32, false},
        // Digest of the wrong length can never match.
        {3, 1, 1, 31, false},
        {3, 1, 1, 33, false},
        {3, 1, 1, 64, false},
        {3, 1, 2, 32, false},
        {3, 1, 2, 63, false},
        {3, 1, 2, 65, false},
        // Full(0) needs some data.
        {3, 1, 0, 0, false},
        {3, 1, 1, 0, false},
    };
    for (const auto& row : rows) {
        const TlsaRecord r = record(row.usage, row.selector, row.mtype, row.length);
        BOOST_TEST_CONTEXT(int(row.usage) << " " << int(row.selector) << " " << int(row.mtype)
                                          << " with " << row.length << " octets") {
            BOOST_TEST(r.usable() == row.usable);
        }
    }
}

BOOST_AUTO_TEST_CASE(to_string_rows) {
    TlsaRecord r;
    r.usage = 3;
    r.selector = 1;
    r.mtype = 1;
    r.data = {0x00, 0x0F, 0xA0, 0xFF};
    BOOST_TEST(r.to_string() == "3 1 1 000FA0FF");

    r.usage = 2;
    r.selector = 0;
    r.mtype = 0;
    r.data = {0xde, 0xad};
    BOOST_TEST(r.to_string() == "2 0 0 DEAD");

    TlsaRecord wide;
    wide.usage = 255;
    wide.selector = 255;
    wide.mtype = 255;
    wide.data = {0x01};
    BOOST_TEST(wide.to_string() == "255 255 255 01");

    TlsaRecord empty;
    BOOST_TEST(empty.to_string() == "0 0 0");
}

BOOST_AUTO_TEST_CASE(parse_rows) {
    Bytes full{3, 1, 1};
    for (int i = 0; i < 32; ++i) {
        full.push_back(static_cast<std::uint8_t>(i));
    }
    const auto r = parse_tlsa_rdata(full);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->usage == 3);
    BOOST_TEST(r->selector == 1);
    BOOST_TEST(r->mtype == 1);
    BOOST_TEST(r->data.size() == 32u);
    BOOST_TEST(r->data.front() == 0);
    BOOST_TEST(r->data.back() == 31);
    BOOST_TEST(r->usable());

    const auto one = parse_tlsa_rdata(Bytes{2, 0, 0, 0x42});
    BOOST_TEST_REQUIRE(one.has_value());
    BOOST_TEST(one->data == Bytes{0x42});

    // Unknown field values still parse; usable() judges them.
    const auto odd = parse_tlsa_rdata(Bytes{9, 9, 9, 9, 9});
    BOOST_TEST_REQUIRE(odd.has_value());
    BOOST_TEST(!odd->usable());

    // Truncated: fewer than the three fields and one octet of data.
    BOOST_TEST(!parse_tlsa_rdata(Bytes{}).has_value());
    BOOST_TEST(!parse_tlsa_rdata(Bytes{3}).has_value());
    BOOST_TEST(!parse_tlsa_rdata(Bytes{3, 1}).has_value());
    BOOST_TEST(!parse_tlsa_rdata(Bytes{3, 1, 1}).has_value());

    // A truncated SHA-256 digest parses but is not usable.
    const auto short_digest = parse_tlsa_rdata(Bytes(full.begin(), full.end() - 1));
    BOOST_TEST_REQUIRE(short_digest.has_value());
    BOOST_TEST(!short_digest->usable());
}

BOOST_AUTO_TEST_SUITE_END()
