// core/dns/rdata: MX, A, AAAA rdata and wire names from untrusted input,
// row by row, including truncated and garbage rdata.
#include <algorithm>
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dns/dns_types.hpp"
#include "core/dns/rdata.hpp"
#include "tests/support/dns_wire.hpp"

using namespace dsm::dns;

namespace {

using Bytes = std::vector<std::uint8_t>;

// "mx.example" → \x02mx\x07example\x00
Bytes wire(const std::vector<std::string>& labels) {
    Bytes out = dsm::test::length_prefixed(labels);
    out.push_back(0);
    return out;
}

Bytes mx(std::uint16_t pref, const Bytes& name) {
    // Sized up front: GCC 12 at -O2 misreads insert() into a 2-element vector
    // as an out-of-bounds memcpy (-Warray-bounds).
    Bytes out(2 + name.size());
    out[0] = static_cast<std::uint8_t>(pref >> 8);
    out[1] = static_cast<std::uint8_t>(pref & 0xFF);
    std::copy(name.begin(), name.end(), out.begin() + 2);
    return out;
}

// Every strict prefix of a valid encoding is truncated and must be refused.
template <typename Parser>
void every_prefix_refused(const Bytes& full, Parser parse) {
    for (std::size_t n = 0; n < full.size(); ++n) {
        BOOST_TEST_CONTEXT("prefix of " << n << " of " << full.size() << " octets") {
            BOOST_TEST(!parse(Bytes(full.begin(), full.begin() + static_cast<long>(n))));
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rdata)

BOOST_AUTO_TEST_CASE(wire_name_rows) {
    struct Row {
        Bytes in;
        std::optional<std::string> text;
        std::size_t length;
    };
    const std::vector<Row> rows = {
        {{0}, std::string(""), 1},                                      // the root
        {wire({"mx", "example"}), std::string("mx.example"), 12},       // plain
        {wire({"MX", "Example"}), std::string("MX.Example"), 12},       // case kept
        {wire({"_25", "_tcp", "mx"}), std::string("_25._tcp.mx"), 13},  // underscores
        {{1, 'a', 0, 0xFF}, std::string("a"), 3},                       // stops at the root
        {{3, 'a', '.', 'b', 0}, std::string("a\\.b"), 5},               // dot inside a label
        {{2, '\\', 'x', 0}, std::string("\\\\x"), 4},                   // backslash
        {{3, 'a', ' ', 0x00, 0}, std::string("a\\032\\000"), 5},        // \DDD escapes
        {{1, 0xFF, 0}, std::string("\\255"), 3},                        // high octet
        {{}, std::nullopt, 0},                                          // empty
        {{2, 'm'}, std::nullopt, 0},                                    // label past the end
        {{2, 'm', 'x'}, std::nullopt, 0},                               // no root label
        {{0xC0, 0x0C}, std::nullopt, 0},                                // compression pointer
        {{1, 'a', 0xC0, 0x00}, std::nullopt, 0},                        // pointer after a label
        {{0x40, 0}, std::nullopt, 0},                                   // extended label type
        {{0x80, 0}, std::nullopt, 0},                                   // reserved label type
    };
    for (const auto& row : rows) {
        const auto got = parse_wire_name(row.in);
        BOOST_TEST_CONTEXT("row with " << row.in.size() << " octets") {
            BOOST_TEST(got.has_value() == row.text.has_value());
            if (got && row.text) {
                BOOST_TEST(got->text == *row.text);
                BOOST_TEST(got->wire_length == row.length);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(wire_name_length_limits) {
    // A 63-octet label is the longest allowed (RFC 1035 §2.3.4); 64 is
    // not even expressible without the reserved top bits.
    const std::string l63(63, 'a');
    const auto ok = parse_wire_name(wire({l63}));
    BOOST_TEST(ok.has_value());
    BOOST_TEST(ok->text == l63);

    // 255 octets in total is the limit: 4 × (1+62) + 1 + 1 + 1 + 0 = 255.
    const std::string l62(62, 'b');
    Bytes max = wire({l62, l62, l62, l62});  // 4 × 63 + 1 = 253 octets
    BOOST_TEST(max.size() == 253u);
    BOOST_TEST(parse_wire_name(max).has_value());
    Bytes at_limit = wire({l62, l62, l62, l62, "c"});  // 253 + 2 = 255
    BOOST_TEST(at_limit.size() == 255u);
    BOOST_TEST(parse_wire_name(at_limit).has_value());
    Bytes over = wire({l62, l62, l62, l62, "cc"});  // 256
    BOOST_TEST(!parse_wire_name(over).has_value());

    // Endless labels never read past the buffer.
    Bytes garbage(4096, 0x3F);
    BOOST_TEST(!parse_wire_name(garbage).has_value());
}

BOOST_AUTO_TEST_CASE(mx_rows) {
    const auto m = parse_mx_rdata(mx(10, wire({"mx", "dane-ok", "test"})));
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(m->preference == 10);
    BOOST_TEST(m->exchange == "mx.dane-ok.test");

    const auto big = parse_mx_rdata(mx(65535, wire({"a"})));
    BOOST_TEST_REQUIRE(big.has_value());
    BOOST_TEST(big->preference == 65535);

    // RFC 7505 null MX: "0 ." → empty exchange.
    const auto null_mx = parse_mx_rdata(Bytes{0, 0, 0});
    BOOST_TEST_REQUIRE(null_mx.has_value());
    BOOST_TEST(null_mx->preference == 0);
    BOOST_TEST(null_mx->exchange.empty());

    BOOST_TEST(!parse_mx_rdata(Bytes{}).has_value());
    BOOST_TEST(!parse_mx_rdata(Bytes{0}).has_value());
    BOOST_TEST(!parse_mx_rdata(Bytes{0, 10}).has_value());                  // no name
    BOOST_TEST(!parse_mx_rdata(Bytes{0, 10, 0, 0}).has_value());            // trailing octet
    BOOST_TEST(!parse_mx_rdata(Bytes{0, 10, 0xC0, 0x0C}).has_value());      // compressed
    BOOST_TEST(!parse_mx_rdata(Bytes{0, 10, 5, 'a', 'b', 0}).has_value());  // short label
    every_prefix_refused(mx(10, wire({"mx", "example"})),
                         [](const Bytes& b) { return parse_mx_rdata(b).has_value(); });
}

BOOST_AUTO_TEST_CASE(a_rows) {
    BOOST_TEST(*parse_a_rdata(Bytes{127, 0, 20, 1}) == "127.0.20.1");
    BOOST_TEST(*parse_a_rdata(Bytes{0, 0, 0, 0}) == "0.0.0.0");
    BOOST_TEST(*parse_a_rdata(Bytes{255, 255, 255, 255}) == "255.255.255.255");
    BOOST_TEST(!parse_a_rdata(Bytes{}).has_value());
    BOOST_TEST(!parse_a_rdata(Bytes{127, 0, 0}).has_value());
    BOOST_TEST(!parse_a_rdata(Bytes{127, 0, 0, 1, 0}).has_value());
}

BOOST_AUTO_TEST_CASE(aaaa_rows) {
    Bytes loop(16, 0);
    loop[15] = 1;
    BOOST_TEST(*parse_aaaa_rdata(loop) == "::1");
    Bytes doc{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};
    BOOST_TEST(*parse_aaaa_rdata(doc) == "2001:db8::53");
    Bytes mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 127, 0, 0, 1};
    BOOST_TEST(*parse_aaaa_rdata(mapped) == "::ffff:127.0.0.1");
    BOOST_TEST(!parse_aaaa_rdata(Bytes{}).has_value());
    BOOST_TEST(!parse_aaaa_rdata(Bytes(15, 0)).has_value());
    BOOST_TEST(!parse_aaaa_rdata(Bytes(17, 0)).has_value());
    BOOST_TEST(!parse_aaaa_rdata(Bytes{127, 0, 0, 1}).has_value());
}

BOOST_AUTO_TEST_CASE(dns_type_words) {
    using namespace dsm::dns;
    BOOST_TEST(to_string(DnsOutcome::answer) == "answer");
    BOOST_TEST(to_string(DnsOutcome::nodata) == "nodata");
    BOOST_TEST(to_string(DnsOutcome::nxdomain) == "nxdomain");
    BOOST_TEST(to_string(DnsOutcome::tempfail) == "tempfail");
    BOOST_TEST(to_string(DnssecState::secure) == "secure");
    BOOST_TEST(to_string(DnssecState::insecure) == "insecure");
    BOOST_TEST(to_string(DnssecState::bogus) == "bogus");
    BOOST_TEST(to_string(DnssecState::indeterminate) == "indeterminate");
    BOOST_TEST(to_string(RrType::mx) == "MX");
    BOOST_TEST(to_string(RrType::tlsa) == "TLSA");
    BOOST_TEST(to_string(RrType::aaaa) == "AAAA");
}

BOOST_AUTO_TEST_CASE(cname_expanded_rows) {
    using dsm::dns::DnsAnswer;
    struct Row {
        std::string qname;
        std::string canonical;
        bool expanded;
    };
    const std::vector<Row> rows = {
        {"alias.cname-mx.test", "real.cname-mx.test", true},
        {"alias.cname-mx.test", "alias.cname-mx.test", false},
        {"alias.cname-mx.test.", "alias.cname-mx.test", false},  // trailing dot
        {"Alias.CNAME-mx.test", "alias.cname-mx.test.", false},  // case (RFC 4343)
        {"alias.cname-mx.test", "", false},                      // not known
        {"a.test", "b.test", true},
    };
    for (const auto& row : rows) {
        DnsAnswer a;
        a.qname = row.qname;
        a.canonical_name = row.canonical;
        BOOST_TEST_CONTEXT(row.qname << " → " << row.canonical) {
            BOOST_TEST(a.cname_expanded() == row.expanded);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
