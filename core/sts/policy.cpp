#include "core/sts/policy.hpp"

#include <array>
#include <cstddef>
#include <optional>

#include "core/address/recipient.hpp"
#include "core/sts/mx_pattern.hpp"
#include "core/util/ascii.hpp"

namespace dsm::sts {
namespace {

namespace ascii = util::ascii;

// §3.2, ABNF (RFC 7405 %s marks case-sensitive strings):
//   sts-policy-record        = sts-policy-field *WSP
//                              *(sts-policy-term sts-policy-field *WSP)
//                              [sts-policy-term]
//   sts-policy-field         = sts-policy-version / sts-policy-mode /
//                              sts-policy-max-age / sts-policy-mx /
//                              sts-policy-extension
//   sts-policy-field-delim   = ":" *WSP
//   sts-policy-version-value = %s"STSv1"
//   sts-policy-mode-value    = %s"testing" / %s"enforce" / %s"none"
//   sts-policy-mx-value      = ["*."] Domain
//   sts-policy-max-age-value = 1*10(DIGIT)
//   sts-policy-ext-name      = (ALPHA / DIGIT)
//                              *31(ALPHA / DIGIT / "_" / "-" / ".")
//   sts-policy-term          = LF / CRLF
//   sts-policy-ext-value     = sts-policy-vchar
//                              [*(%x20 / sts-policy-vchar) sts-policy-vchar]
//   sts-policy-vchar         = VCHAR / UTF8-2 / UTF8-3 / UTF8-4
// A field is never empty, so no line may be empty: only one terminator may
// follow the last field. No whitespace may precede a key or the ":".
constexpr std::uint32_t kMaxAgeLimit = 31557600;  // §3.2
constexpr std::size_t kMaxAgeDigits = 10;
constexpr std::size_t kMaxKeyOctets = 32;
constexpr std::size_t kQuoteOctets = 64;

bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}

std::string quoted(std::string_view s) {
    return "\"" + address::printable(s, kQuoteOctets) + "\"";
}

std::string at_line(std::size_t n, const std::string& why) {
    return "line " + std::to_string(n) + ": " + why;
}

bool valid_key(std::string_view k) {
    if (k.empty() || k.size() > kMaxKeyOctets || !ascii::is_alnum(k.front())) {
        return false;
    }
    for (const char c : k) {
        if (!ascii::is_alnum(c) && c != '_' && c != '-' && c != '.') {
            return false;
        }
    }
    return true;
}

// Length of the well-formed UTF-8 sequence (RFC 3629 §4) of two to four
// octets at s[i], or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const auto tail = [&](std::size_t k, unsigned lo, unsigned hi) {
        return i + k < s.size() && at(k) >= lo && at(k) <= hi;
    };
    const unsigned c = at(0);
    if (c >= 0xC2 && c <= 0xDF) {
        return tail(1, 0x80, 0xBF) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        const unsigned lo = c == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
        const unsigned hi = c == 0xED ? 0x9F : 0xBF;  // no surrogates
        return tail(1, lo, hi) && tail(2, 0x80, 0xBF) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        const unsigned lo = c == 0xF0 ? 0x90 : 0x80;
        const unsigned hi = c == 0xF4 ? 0x8F : 0xBF;  // nothing past U+10FFFF
        return tail(1, lo, hi) && tail(2, 0x80, 0xBF) && tail(3, 0x80, 0xBF) ? 4 : 0;
    }
    return 0;
}

// sts-policy-ext-value, trailing WSP already removed. nullopt when valid.
std::optional<std::string> ext_value_problem(std::string_view v) {
    if (v.empty()) {
        return "empty value";
    }
    std::size_t i = 0;
    while (i < v.size()) {
        const auto c = static_cast<unsigned char>(v[i]);
        if (c >= 0x20 && c <= 0x7E) {
            ++i;  // SP is inner here: the field delimiter and *WSP took the outer ones
            continue;
        }
        if (c >= 0x80) {
            const std::size_t n = utf8_sequence(v, i);
            if (n == 0) {
                return "invalid UTF-8 at octet " + std::to_string(i + 1);
            }
            i += n;
            continue;
        }
        return c == '\t' ? std::string("tab inside the value")
                         : "control character at octet " + std::to_string(i + 1);
    }
    return std::nullopt;
}

std::optional<PolicyMode> parse_mode(std::string_view v) {
    if (v == "enforce") {
        return PolicyMode::enforce;
    }
    if (v == "testing") {
        return PolicyMode::testing;
    }
    if (v == "none") {
        return PolicyMode::none;
    }
    return std::nullopt;
}

// sts-policy-max-age-value, capped by §3.2's "maximum value of 31557600".
Result<std::uint32_t> parse_max_age(std::string_view v) {
    if (v.empty()) {
        return Error{"max_age is empty"};
    }
    for (const char c : v) {
        if (!ascii::is_digit(c)) {
            return Error{"max_age " + quoted(v) + " is not a non-negative decimal integer"};
        }
    }
    std::string_view significant = v;
    while (significant.size() > 1 && significant.front() == '0') {
        significant.remove_prefix(1);
    }
    std::uint64_t value = 0;
    if (significant.size() <= kMaxAgeDigits) {
        for (const char c : significant) {
            value = value * 10 + static_cast<std::uint64_t>(c - '0');
        }
    }
    if (significant.size() > kMaxAgeDigits || value > kMaxAgeLimit) {
        return Error{"max_age " + address::printable(v, kQuoteOctets) + " is over " +
                     std::to_string(kMaxAgeLimit)};
    }
    if (v.size() > kMaxAgeDigits) {
        return Error{"max_age " + address::printable(v, kQuoteOctets) + " has more than " +
                     std::to_string(kMaxAgeDigits) + " digits"};
    }
    return static_cast<std::uint32_t>(value);
}

std::string lowered(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = ascii::lower(c);
    }
    return out;
}

std::optional<std::string> mx_problem(std::string_view v) {
    const MxPatternDefect d = check_mx_pattern(v);
    if (d == MxPatternDefect::none) {
        return std::nullopt;
    }
    if (d == MxPatternDefect::ip_literal) {
        return "mx " + quoted(v) + " " + std::string(to_string(d));
    }
    return "mx " + quoted(v) + ": " + std::string(to_string(d));
}

// The registered keys, to point at a case variant ("Mode") when one is
// missing: the ABNF makes keys case-sensitive, so "Mode" is an extension.
constexpr std::array<std::string_view, 4> kKeys = {"version", "mode", "max_age", "mx"};

class Parser {
  public:
    std::optional<std::string> line(std::size_t n, std::string_view text);
    Result<Policy> finish();

  private:
    std::optional<std::string> field(std::size_t n, std::string_view key, std::string_view value);
    [[nodiscard]] std::string missing(std::string_view key) const;

    Policy policy_;
    bool have_mode_ = false;
    bool have_max_age_ = false;
    std::array<std::size_t, kKeys.size()> case_variant_line_{};
};

std::optional<std::string> Parser::line(std::size_t n, std::string_view text) {
    const std::size_t colon = text.find(':');
    const std::string_view key = text.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
        value = text.substr(colon + 1);
        while (!value.empty() && is_wsp(value.front())) {
            value.remove_prefix(1);
        }
        while (!value.empty() && is_wsp(value.back())) {
            value.remove_suffix(1);
        }
    }
    // Our rule, stricter than the ABNF (which does not order the fields):
    // the version comes first, so nothing is taken from a file that does not
    // announce itself as an STSv1 policy.
    if (n == 1) {
        if (colon == std::string_view::npos || key != "version" || value != "STSv1") {
            return text.empty() ? std::string("expected \"version: STSv1\", got an empty line")
                                : "expected \"version: STSv1\", got " + quoted(text);
        }
        return std::nullopt;
    }
    if (text.empty()) {
        return std::string("empty line");
    }
    if (colon == std::string_view::npos) {
        return "expected \"key: value\", got " + quoted(text);
    }
    if (!valid_key(key)) {
        return "invalid key " + quoted(key);
    }
    return field(n, key, value);
}

std::optional<std::string> Parser::field(std::size_t n, std::string_view key,
                                         std::string_view value) {
    // Each occurrence must be valid; of a repeated field other than mx only
    // the first counts (§3.2).
    if (key == "version") {
        if (value != "STSv1") {
            return "version " + quoted(value) + " is not STSv1";
        }
        return std::nullopt;
    }
    if (key == "mode") {
        const auto mode = parse_mode(value);
        if (!mode) {
            return "mode " + quoted(value) + " is not enforce, testing or none";
        }
        if (!have_mode_) {
            policy_.mode = *mode;
            have_mode_ = true;
        }
        return std::nullopt;
    }
    if (key == "max_age") {
        auto age = parse_max_age(value);
        if (!age) {
            return age.error();
        }
        if (!have_max_age_) {
            policy_.max_age = *age;
            have_max_age_ = true;
        }
        return std::nullopt;
    }
    if (key == "mx") {
        if (auto why = mx_problem(value)) {
            return why;
        }
        policy_.mx.push_back(lowered(value));
        return std::nullopt;
    }
    // Unknown fields are ignored once they are syntactically valid (§3.2).
    if (auto why = ext_value_problem(value)) {
        return "value of " + quoted(key) + ": " + *why;
    }
    const std::string lower = lowered(key);
    for (std::size_t i = 0; i < kKeys.size(); ++i) {
        if (lower == kKeys[i] && case_variant_line_[i] == 0) {
            case_variant_line_[i] = n;
        }
    }
    return std::nullopt;
}

std::string Parser::missing(std::string_view key) const {
    std::string out = "missing " + std::string(key);
    for (std::size_t i = 0; i < kKeys.size(); ++i) {
        if (kKeys[i] == key && case_variant_line_[i] != 0) {
            out += " (line " + std::to_string(case_variant_line_[i]) +
                   " spells it differently; keys are case-sensitive)";
        }
    }
    return out;
}

Result<Policy> Parser::finish() {
    if (!have_mode_) {
        return Error{missing("mode")};
    }
    if (!have_max_age_) {
        return Error{missing("max_age")};
    }
    if (policy_.mode != PolicyMode::none && policy_.mx.empty()) {
        return Error{"mode " + std::string(to_string(policy_.mode)) + " requires at least one mx"};
    }
    return std::move(policy_);
}

}  // namespace

std::string_view to_string(PolicyMode m) {
    switch (m) {
        case PolicyMode::enforce:
            return "enforce";
        case PolicyMode::testing:
            return "testing";
        case PolicyMode::none:
            return "none";
    }
    return "unknown";
}

std::string format_policy(const Policy& p) {
    std::string out = "version: STSv1\nmode: ";
    out += to_string(p.mode);
    out += '\n';
    for (const auto& mx : p.mx) {
        out += "mx: " + mx + '\n';
    }
    out += "max_age: " + std::to_string(p.max_age) + '\n';
    return out;
}

Result<Policy> parse_policy(std::string_view body) {
    if (body.empty()) {
        return Error{"empty policy: expected \"version: STSv1\" on line 1"};
    }
    Parser parser;
    std::size_t pos = 0;
    for (std::size_t n = 1; pos < body.size(); ++n) {
        const std::size_t lf = body.find('\n', pos);
        std::string_view text = body.substr(pos, lf == std::string_view::npos ? lf : lf - pos);
        // sts-policy-term = LF / CRLF; a CR anywhere else is no WSP and no
        // vchar, so the value check refuses it.
        if (lf != std::string_view::npos && !text.empty() && text.back() == '\r') {
            text.remove_suffix(1);
        }
        if (auto why = parser.line(n, text)) {
            return Error{at_line(n, *why)};
        }
        pos = lf == std::string_view::npos ? body.size() : lf + 1;
    }
    return parser.finish();
}

}  // namespace dsm::sts
