#include "core/sts/mx_pattern.hpp"

#include <cstddef>

#include "core/util/ascii.hpp"

namespace dsm::sts {
namespace {

namespace ascii = util::ascii;

constexpr std::size_t kMaxLabelOctets = 63;  // RFC 1035 §2.3.4
constexpr std::size_t kMaxNameOctets = 253;  // RFC 1035 §2.3.4, without the root's dot

bool is_hex(char c) {
    return ascii::is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool all_digits(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    for (const char c : s) {
        if (!ascii::is_digit(c)) {
            return false;
        }
    }
    return true;
}

// An RFC 5321 §4.1.3 address literal, or IPv6 text (hex digits, ':' and an
// embedded dotted quad). Recognised only to name the mistake in the error.
bool looks_like_ip_literal(std::string_view p) {
    if (p.front() == '[') {
        return true;
    }
    if (p.find(':') != std::string_view::npos) {
        for (const char c : p) {
            if (!is_hex(c) && c != ':' && c != '.') {
                return false;
            }
        }
        return true;
    }
    // A dotted quad: four all-digit labels.
    std::size_t labels = 0;
    std::size_t start = 0;
    for (;;) {
        const std::size_t dot = p.find('.', start);
        if (!all_digits(p.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
            return false;
        }
        ++labels;
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    return labels == 4;
}

MxPatternDefect check_label(std::string_view label) {
    if (label.empty()) {
        return MxPatternDefect::empty_label;
    }
    if (label.size() > kMaxLabelOctets) {
        return MxPatternDefect::label_too_long;
    }
    for (const char c : label) {
        if (c == '*') {
            return MxPatternDefect::wildcard_not_leftmost;
        }
        if (!ascii::is_alnum(c) && c != '-') {
            return MxPatternDefect::invalid_character;
        }
    }
    if (label.front() == '-' || label.back() == '-') {
        return MxPatternDefect::hyphen_at_label_edge;
    }
    return MxPatternDefect::none;
}

std::string_view strip_trailing_dot(std::string_view s) {
    if (!s.empty() && s.back() == '.') {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

std::string_view to_string(MxPatternDefect d) {
    switch (d) {
        case MxPatternDefect::none:
            return "valid";
        case MxPatternDefect::empty:
            return "empty pattern";
        case MxPatternDefect::ip_literal:
            return "is an IP address, not a host name pattern";
        case MxPatternDefect::bare_wildcard:
            return "a wildcard needs a domain after \"*.\"";
        case MxPatternDefect::wildcard_not_leftmost:
            return "a wildcard is only allowed as the leftmost label";
        case MxPatternDefect::empty_label:
            return "empty label";
        case MxPatternDefect::trailing_dot:
            return "a trailing dot is not allowed";
        case MxPatternDefect::label_too_long:
            return "a label is longer than 63 octets";
        case MxPatternDefect::name_too_long:
            return "longer than 253 octets";
        case MxPatternDefect::invalid_character:
            return "only letters, digits, hyphens and dots are allowed";
        case MxPatternDefect::hyphen_at_label_edge:
            return "a label starts or ends with a hyphen";
        case MxPatternDefect::numeric_top_label:
            return "the last label is all digits";
    }
    return "unknown";
}

MxPatternDefect check_mx_pattern(std::string_view pattern) {
    if (pattern.empty()) {
        return MxPatternDefect::empty;
    }
    if (looks_like_ip_literal(pattern)) {
        return MxPatternDefect::ip_literal;
    }
    if (pattern.size() > kMaxNameOctets) {
        return MxPatternDefect::name_too_long;
    }
    std::string_view name = pattern;
    if (name == "*" || name == "*.") {
        return MxPatternDefect::bare_wildcard;
    }
    if (name.starts_with("*.")) {
        name.remove_prefix(2);
    }
    if (name.back() == '.') {
        return MxPatternDefect::trailing_dot;
    }
    std::size_t start = 0;
    std::string_view last;
    for (;;) {
        const std::size_t dot = name.find('.', start);
        last = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (const MxPatternDefect d = check_label(last); d != MxPatternDefect::none) {
            return d;
        }
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    if (all_digits(last)) {
        return MxPatternDefect::numeric_top_label;
    }
    return MxPatternDefect::none;
}

bool valid_mx_pattern(std::string_view pattern) {
    return check_mx_pattern(pattern) == MxPatternDefect::none;
}

bool mx_pattern_matches(std::string_view pattern, std::string_view mx_host) {
    pattern = strip_trailing_dot(pattern);
    mx_host = strip_trailing_dot(mx_host);
    if (!valid_mx_pattern(pattern)) {
        return false;
    }
    if (!pattern.starts_with("*.")) {
        return ascii::iequals(pattern, mx_host);
    }
    // §4.1: the wildcard stands for exactly one whole, non-empty label.
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    if (mx_host.size() <= suffix.size()) {
        return false;
    }
    const std::size_t label_len = mx_host.size() - suffix.size();
    return mx_host.substr(0, label_len).find('.') == std::string_view::npos &&
           ascii::iequals(mx_host.substr(label_len), suffix);
}

}  // namespace dsm::sts
