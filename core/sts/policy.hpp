// The MTA-STS policy file (RFC 8461 §3.2) and its strict parser.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"

namespace dsm::sts {

enum class PolicyMode { enforce, testing, none };
std::string_view to_string(PolicyMode m);

struct Policy {
    PolicyMode mode = PolicyMode::none;
    std::uint32_t max_age = 0;    // seconds, 0..31557600 (§3.2)
    std::vector<std::string> mx;  // patterns, lower-case, no trailing dot
};

// Strict parsing (§3.2): LF or CRLF line endings; `version: STSv1` must be the
// first line; `mode` is enforce, testing or none; `max_age` a decimal in
// 0..31557600; at least one `mx` for enforce/testing; unknown keys ignored;
// a repeated key other than `mx` keeps its first value. Each `mx` must be a
// valid pattern (core/sts/mx_pattern.hpp). An error says which line and why.
//
// Read from the ABNF: keys and registered values are case-sensitive
// ("Mode: enforce" is an extension, so the policy then lacks a mode); no
// whitespace before a key or its ":", any SP/HTAB after the ":" and at the
// end of a line; the last line may lack its terminator; an empty line is
// refused anywhere, including a second terminator at the end. Every line
// must be valid, a repeated or unknown one included (an unknown key's value
// must be sts-policy-ext-value: printable ASCII or UTF-8, inner spaces).
// Linear in the size of `body`, for any octets; the 64 KiB cap is the
// fetcher's (kMaxPolicySize). Pure and thread-safe.
Result<Policy> parse_policy(std::string_view body);

// The policy as a policy file (§3.2, LF line ends) that parse_policy() reads
// back to the same Policy: how stores keep a fetched policy.
std::string format_policy(const Policy& p);

}  // namespace dsm::sts
