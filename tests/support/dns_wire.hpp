// DNS wire-format pieces for the rdata parsers' tests (unit/rdata_test.cpp,
// unit/txt_rdata_test.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsm::test {

// Strings one after another, each a length octet and then its octets: the
// <character-string>s of TXT rdata, or the labels of a wire name (RFC 1035
// §3.3, §3.1) without the root's empty label.
inline std::vector<std::uint8_t> length_prefixed(const std::vector<std::string>& parts) {
    std::vector<std::uint8_t> out;
    for (const auto& p : parts) {
        out.push_back(static_cast<std::uint8_t>(p.size()));
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

}  // namespace dsm::test
