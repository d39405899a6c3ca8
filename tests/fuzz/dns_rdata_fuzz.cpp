// Every rdata parser fed with network input (core/dns/rdata.hpp,
// dane::parse_tlsa_rdata). The first octet picks the parser (0 name, 1 MX,
// 2 A, 3 AAAA, 4 TLSA, 5 TXT); the rest is the rdata. Besides the sanitizers,
// the header contracts are checked: no parser claims more octets than it was
// given, the MX parser takes exactly its input, A/AAAA take exactly 4/16
// octets, TXT text is shorter than its rdata by one length octet per string.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "core/dane/tlsa.hpp"
#include "core/dns/rdata.hpp"

namespace {

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

void fuzz_wire_name(std::span<const std::uint8_t> in) {
    if (const auto n = dsm::dns::parse_wire_name(in)) {
        check(n->wire_length >= 1 && n->wire_length <= in.size() && n->wire_length <= 255);
        check((n->wire_length == 1) == n->text.empty());
    }
}

void fuzz_mx(std::span<const std::uint8_t> in) {
    if (const auto mx = dsm::dns::parse_mx_rdata(in)) {
        const auto name = dsm::dns::parse_wire_name(in.subspan(2));
        check(name && name->wire_length + 2 == in.size() && name->text == mx->exchange);
        check(mx->preference == ((in[0] << 8) | in[1]));
    }
}

void fuzz_a(std::span<const std::uint8_t> in) {
    const auto a = dsm::dns::parse_a_rdata(in);
    check(a.has_value() == (in.size() == 4));
    check(!a || (a->size() >= 7 && a->size() <= 15));
}

void fuzz_aaaa(std::span<const std::uint8_t> in) {
    const auto a = dsm::dns::parse_aaaa_rdata(in);
    check(a.has_value() == (in.size() == 16));
    check(!a || (a->size() >= 2 && a->size() <= 45));
}

void fuzz_tlsa(std::span<const std::uint8_t> in) {
    const auto t = dsm::dane::parse_tlsa_rdata(in);
    check(t.has_value() == (in.size() >= 4));
    if (t) {
        check(t->data.size() + 3 == in.size());
        const bool usable = t->usable();
        check(!usable || t->usage == 2 || t->usage == 3);
        check(!t->to_string().empty());
    }
}

void fuzz_txt(std::span<const std::uint8_t> in) {
    const auto t = dsm::dns::parse_txt_rdata(in);
    check(!in.empty() || !t);
    check(!t || t->size() < in.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::span<const std::uint8_t> rdata(data + 1, size - 1);
    switch (data[0] % 6) {
        case 0:
            fuzz_wire_name(rdata);
            break;
        case 1:
            fuzz_mx(rdata);
            break;
        case 2:
            fuzz_a(rdata);
            break;
        case 3:
            fuzz_aaaa(rdata);
            break;
        case 4:
            fuzz_tlsa(rdata);
            break;
        default:
            fuzz_txt(rdata);
            break;
    }
    return 0;
}
