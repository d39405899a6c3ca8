// MTA-STS `mx` patterns (RFC 8461 §3.2, §4.1).
#pragma once

#include <string_view>

namespace dsm::sts {

// A valid pattern is a host name, optionally with a leading "*." wildcard
// label; no other wildcard, no empty label, no IP literal.
bool valid_mx_pattern(std::string_view pattern);

// §4.1: `*.example.com` matches exactly one more label (mail.example.com, not
// example.com nor a.b.example.com); comparison is case-insensitive after
// dropping a trailing dot from either side.
bool mx_pattern_matches(std::string_view pattern, std::string_view mx_host);

// Why a pattern is not valid, for the parser's error message. §3.2 defines
// sts-policy-mx-value as ["*."] Domain, Domain being RFC 5321 §4.1.2's
// sub-domain *("." sub-domain) of LDH labels; the length limits are RFC 1035
// §2.3.4's, and an all-numeric last label is an IPv4 literal or never a real
// top-level domain (RFC 3696 §2).
enum class MxPatternDefect {
    none,
    empty,                  // ""
    ip_literal,             // 192.0.2.1, 2001:db8::1, [192.0.2.1]
    bare_wildcard,          // "*" or "*." with no name after it
    wildcard_not_leftmost,  // mail.*.example.com, *.*.example.com, *mail.example.com
    empty_label,            // a..b, .example.com
    trailing_dot,           // example.com. (Domain has none)
    label_too_long,         // over 63 octets
    name_too_long,          // over 253 octets
    invalid_character,      // anything but letters, digits, '-' and '.'
    hyphen_at_label_edge,   // -mail.example.com, mail-.example.com
    numeric_top_label,      // mail.example.123
};
std::string_view to_string(MxPatternDefect d);

// MxPatternDefect::none when `pattern` is valid (same answer as
// valid_mx_pattern). Pure; never throws.
MxPatternDefect check_mx_pattern(std::string_view pattern);

}  // namespace dsm::sts
