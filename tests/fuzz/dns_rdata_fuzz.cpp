// Every rdata parser fed with network input (core/dns/rdata.hpp,
// dane::parse_tlsa_rdata): all the record types the code reads (MX, A, AAAA,
// TLSA, TXT and the names inside them; CNAMEs are followed by libunbound and
// never parsed here). The first octet picks the parser (0 name, 1 MX, 2 A,
// 3 AAAA, 4 TLSA, 5 TXT); the rest is the rdata. Besides the sanitizers, the
// header contracts are checked: no parser claims more octets than it was
// given, the MX parser takes exactly its input, A/AAAA take exactly 4/16
// octets, TXT text is shorter than its rdata by one length octet per string.
// And against independent readings of the same octets: a name's
// presentation text unescapes (RFC 1035 §5.1) to exactly its wire labels, so
// no label octet can pose as a dot; TXT is the concatenation of its strings
// (RFC 1035 §3.3.14); TLSA keeps its fields and data (RFC 6698 §2.1) and is
// usable exactly as RFC 7672 §3.1.3 says.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dane/tlsa.hpp"
#include "core/dns/rdata.hpp"
#include "tests/support/fuzz_checks.hpp"

namespace {

using dsm::fuzz::check;

// The labels of the uncompressed name at the start of `in`, read directly
// (RFC 1035 §3.1, §2.3.4); false where parse_wire_name must refuse.
bool wire_labels(std::span<const std::uint8_t> in, std::vector<std::string>& labels,
                 std::size_t& length) {
    std::size_t pos = 0;
    while (pos < in.size()) {
        const std::size_t len = in[pos];
        if (len == 0) {
            length = pos + 1;
            return length <= 255;
        }
        if (len > 63 || pos + 1 + len > in.size()) {
            return false;  // also every pointer or reserved label type (>= 0x40)
        }
        labels.emplace_back(reinterpret_cast<const char*>(in.data()) + pos + 1, len);
        pos += 1 + len;
    }
    return false;
}

// Presentation text back to labels: '.' separates, "\X" is X, "\DDD" octet DDD.
std::vector<std::string> text_labels(std::string_view text) {
    std::vector<std::string> labels;
    if (text.empty()) {
        return labels;
    }
    labels.emplace_back();
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '.') {
            labels.emplace_back();
        } else if (c == '\\') {
            check(i + 1 < text.size());
            if (text[i + 1] >= '0' && text[i + 1] <= '9') {
                check(i + 3 < text.size() && text[i + 2] >= '0' && text[i + 2] <= '9' &&
                      text[i + 3] >= '0' && text[i + 3] <= '9');
                const int v =
                    (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
                check(v <= 255);
                labels.back() += static_cast<char>(v);
                i += 3;
            } else {
                labels.back() += text[i + 1];
                ++i;
            }
        } else {
            check(c > 0x20 && c < 0x7f);
            labels.back() += c;
        }
    }
    return labels;
}

void fuzz_wire_name(std::span<const std::uint8_t> in) {
    const auto n = dsm::dns::parse_wire_name(in);
    std::vector<std::string> labels;
    std::size_t length = 0;
    check(n.has_value() == wire_labels(in, labels, length));
    if (n) {
        check(n->wire_length >= 1 && n->wire_length <= in.size() && n->wire_length <= 255);
        check((n->wire_length == 1) == n->text.empty());
        check(n->wire_length == length && text_labels(n->text) == labels);
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
    if (a) {
        check(*a == std::to_string(in[0]) + "." + std::to_string(in[1]) + "." +
                        std::to_string(in[2]) + "." + std::to_string(in[3]));
    }
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
        check(t->usage == in[0] && t->selector == in[1] && t->mtype == in[2]);
        check(std::equal(t->data.begin(), t->data.end(), in.begin() + 3));
        // RFC 7672 §3.1.3 with RFC 6698 §2.1.3 digest lengths.
        const std::size_t n = in.size() - 3;
        const bool want = (in[0] == 2 || in[0] == 3) && in[1] <= 1 &&
                          (in[2] == 0 || (in[2] == 1 && n == 32) || (in[2] == 2 && n == 64));
        check(usable == want);
        const std::string text = t->to_string();
        const std::string head =
            std::to_string(in[0]) + " " + std::to_string(in[1]) + " " + std::to_string(in[2]) + " ";
        check(text.size() == head.size() + 2 * n && text.compare(0, head.size(), head) == 0);
    }
}

void fuzz_txt(std::span<const std::uint8_t> in) {
    const auto t = dsm::dns::parse_txt_rdata(in);
    check(!in.empty() || !t);
    check(!t || t->size() < in.size());
    // RFC 1035 §3.3.14: one or more <character-string>s, concatenated.
    std::string want;
    std::size_t pos = 0;
    bool ok = !in.empty();
    while (ok && pos < in.size()) {
        const std::size_t len = in[pos++];
        ok = in.size() - pos >= len;
        if (ok) {
            want.append(reinterpret_cast<const char*>(in.data()) + pos, len);
            pos += len;
        }
    }
    check(t.has_value() == ok && (!t || *t == want));
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
