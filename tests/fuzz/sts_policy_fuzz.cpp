// Fuzz target: the MTA-STS policy parser (RFC 8461 §3.2). Whatever the
// octets, it must return; an accepted policy must keep the header's promises.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/sts/mx_pattern.hpp"
#include "core/sts/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const auto p = dsm::sts::parse_policy(body);
    if (!p.ok()) {
        if (p.error().empty()) {
            __builtin_trap();
        }
        return 0;
    }
    if (p->max_age > 31557600 || (p->mode != dsm::sts::PolicyMode::none && p->mx.empty())) {
        __builtin_trap();
    }
    for (const auto& mx : p->mx) {
        // Every kept pattern is valid, lower-case, and matches itself once
        // the wildcard is given a label.
        if (!dsm::sts::valid_mx_pattern(mx)) {
            __builtin_trap();
        }
        for (const char c : mx) {
            if (c >= 'A' && c <= 'Z') {
                __builtin_trap();
            }
        }
        const std::string host = mx.starts_with("*.") ? "x" + mx.substr(1) : mx;
        if (!dsm::sts::mx_pattern_matches(mx, host)) {
            __builtin_trap();
        }
    }
    return 0;
}
