// ASCII character classes and case folding for protocol text: DNS names
// compare case-insensitively in ASCII only (RFC 4343 §3), and so do MTA-STS
// policy keys and values (RFC 8461 §3.2), SMTP domains, HTTP header names
// and our own config values. <cctype> would follow the C locale and take
// int; these take char and never depend on the locale.
#pragma once

#include <cstddef>
#include <string_view>

namespace dsm::util::ascii {

constexpr bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

constexpr bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

constexpr bool is_alnum(char c) {
    return is_digit(c) || is_alpha(c);
}

constexpr char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

}  // namespace dsm::util::ascii
