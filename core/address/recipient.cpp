#include "core/address/recipient.hpp"

#include <arpa/inet.h>
#include <idn2.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>

#include "core/util/ascii.hpp"

namespace dsm::address {
namespace {

namespace ascii = util::ascii;

constexpr std::size_t kMaxLabelOctets = 63;  // RFC 1035 §2.3.4
constexpr std::size_t kMaxNameOctets = 253;  // RFC 1035 §2.3.4, without the root's dot

bool is_ldh(char c) {
    return ascii::is_alnum(c) || c == '-';
}
bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void lower_in_place(std::string& s) {
    for (char& c : s) {
        c = ascii::lower(c);
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_blank(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::string describe_char(unsigned char c) {
    if (c == ' ') {
        return "space";
    }
    return "'" + printable(std::string_view(reinterpret_cast<const char*>(&c), 1)) + "'";
}

// RFC 1123 §2.1 host name rules on an ASCII, lower-cased name without the
// trailing dot. Labels first: their message says more than the total length.
std::optional<std::string> host_name_problem(std::string_view name) {
    if (name.empty()) {
        return "empty domain name";
    }
    std::size_t start = 0;
    for (;;) {
        const std::size_t dot = name.find('.', start);
        const std::string_view label = name.substr(
            start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty()) {
            return std::string("empty label");
        }
        if (label.size() > kMaxLabelOctets) {
            return "label \"" + printable(label, 24) + "\" is " + std::to_string(label.size()) +
                   " octets long, more than 63";
        }
        for (const char c : label) {
            if (!is_ldh(c)) {
                return "invalid character " + describe_char(static_cast<unsigned char>(c)) +
                       " in label \"" + printable(label, 24) +
                       "\": only letters, digits and hyphens";
            }
        }
        if (label.front() == '-') {
            return "label \"" + printable(label, 24) + "\" starts with a hyphen";
        }
        if (label.back() == '-') {
            return "label \"" + printable(label, 24) + "\" ends with a hyphen";
        }
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    if (name.size() > kMaxNameOctets) {
        return "name is " + std::to_string(name.size()) + " octets long, more than 253";
    }
    return std::nullopt;
}

std::string idn2_problem(int rc) {
    switch (rc) {
        case IDN2_ENCODING_ERROR:
            return "not valid UTF-8";
        case IDN2_TOO_BIG_LABEL:
            return "a label is longer than 63 octets";
        case IDN2_TOO_BIG_DOMAIN:
            return "name is longer than 253 octets";
        default:
            return std::string("not a valid internationalised domain name (IDNA2008: ") +
                   idn2_strerror(rc) + ")";
    }
}

// RFC 5321 §4.1.3: IPv4 dotted quad, or "IPv6:" and an RFC 4291 address.
// General-address-literal tags are registered nowhere, so none can be routed.
std::optional<std::string> literal_problem(std::string_view literal) {
    if (literal.size() < 3 || literal.back() != ']') {
        return std::string("address literal without a closing ']'");
    }
    const std::string inner(literal.substr(1, literal.size() - 2));
    const std::size_t colon = inner.find(':');
    std::array<unsigned char, 16> buf{};  // struct in6_addr
    if (colon == std::string::npos) {
        if (inet_pton(AF_INET, inner.c_str(), buf.data()) == 1) {
            return std::nullopt;
        }
        return "address literal \"" + printable(literal) + "\" is not an IPv4 address";
    }
    if (!ascii::iequals(std::string_view(inner).substr(0, colon), "IPv6")) {
        return "address literal \"" + printable(literal) +
               R"(" is neither an IPv4 address nor tagged "IPv6:")";
    }
    if (inet_pton(AF_INET6, inner.c_str() + colon + 1, buf.data()) == 1) {
        return std::nullopt;
    }
    return "address literal \"" + printable(literal) + "\" is not an IPv6 address";
}

Recipient make_invalid(std::string why) {
    Recipient r;
    r.kind = RecipientKind::invalid;
    r.error = std::move(why);
    return r;
}

Recipient make_local(std::string_view local_part) {
    Recipient r;
    r.kind = RecipientKind::local;
    r.local_part = std::string(local_part);
    return r;
}

// Index of the '@' that separates local part and domain: the last one outside
// a quoted string (RFC 5321 §4.1.2 Quoted-string, with quoted-pairs) and
// outside an address literal. nullopt: unterminated quoted string.
std::optional<std::size_t> find_domain_at(std::string_view mailbox) {
    enum class State { plain, quoted, literal } state = State::plain;
    std::size_t at = std::string_view::npos;
    for (std::size_t i = 0; i < mailbox.size(); ++i) {
        const char c = mailbox[i];
        switch (state) {
            case State::plain:
                if (c == '"') {
                    state = State::quoted;
                } else if (c == '@') {
                    at = i;
                    if (i + 1 < mailbox.size() && mailbox[i + 1] == '[') {
                        state = State::literal;
                        ++i;
                    }
                }
                break;
            case State::quoted:
                if (c == '\\') {
                    ++i;
                } else if (c == '"') {
                    state = State::plain;
                }
                break;
            case State::literal:
                if (c == ']') {
                    state = State::plain;
                }
                break;
        }
    }
    if (state == State::quoted) {
        return std::nullopt;
    }
    return at;
}

// End of an RFC 5321 §4.1.2 A-d-l source route ("@a,@b:"): the first ':'
// outside an address literal (which may hold colons: "@[IPv6:...]").
std::size_t source_route_end(std::string_view s) {
    bool in_literal = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '[') {
            in_literal = true;
        } else if (s[i] == ']') {
            in_literal = false;
        } else if (s[i] == ':' && !in_literal) {
            return i;
        }
    }
    return std::string_view::npos;
}

}  // namespace

std::string_view to_string(RecipientKind k) {
    switch (k) {
        case RecipientKind::local:
            return "local";
        case RecipientKind::domain:
            return "domain";
        case RecipientKind::address_literal:
            return "address_literal";
        case RecipientKind::invalid:
            return "invalid";
    }
    return "invalid";
}

std::string printable(std::string_view s, std::size_t max) {
    static constexpr std::string_view kHex = "0123456789abcdef";
    std::string out;
    out.reserve(std::min(s.size(), max) + 8);
    for (const char ch : s) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c >= 0x20 && c < 0x7f) {
            out += ch;
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        }
    }
    return out;
}

Result<std::string> normalize_domain(std::string_view domain) {
    if (domain.size() > kMaxInputOctets) {
        return Error{"name is " + std::to_string(domain.size()) + " octets long, more than 253"};
    }
    bool dropped_dot = false;
    if (!domain.empty() && domain.back() == '.') {
        domain.remove_suffix(1);
        dropped_dot = true;
    }
    if (domain.empty()) {
        return Error{"empty domain name"};
    }
    bool ascii = true;
    for (const char ch : domain) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x80) {
            ascii = false;
        } else if (!is_ldh(c) && c != '.') {
            // Caught before libidn2: a NUL would silently cut its C string.
            return Error{"invalid character " + describe_char(c) +
                         ": only letters, digits, hyphens and dots"};
        }
    }
    std::string name;
    if (ascii) {
        name.assign(domain);
    } else {
        const std::string input(domain);
        uint8_t* out = nullptr;
        const int rc = idn2_lookup_u8(reinterpret_cast<const uint8_t*>(input.c_str()), &out,
                                      IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
        if (rc != IDN2_OK) {
            return Error{idn2_problem(rc)};
        }
        const std::unique_ptr<uint8_t, void (*)(void*)> owner(out, idn2_free);
        name.assign(reinterpret_cast<const char*>(out));
        // UTS #46 maps U+3002 and kin to '.', so a trailing one survives until here.
        if (!dropped_dot && !name.empty() && name.back() == '.') {
            name.pop_back();
        }
    }
    lower_in_place(name);
    if (auto problem = host_name_problem(name)) {
        return Error{std::move(*problem)};
    }
    return name;
}

Recipient parse_recipient(std::string_view address) {
    if (address.size() > kMaxInputOctets) {
        return make_invalid("address is " + std::to_string(address.size()) +
                            " octets long, more than " + std::to_string(kMaxInputOctets));
    }
    address = trim(address);
    const bool opens = !address.empty() && address.front() == '<';
    const bool closes = !address.empty() && address.back() == '>';
    if (opens != closes || (opens && address.size() < 2)) {
        return make_invalid("unbalanced angle brackets in \"" + printable(address) + "\"");
    }
    if (opens) {
        address = trim(address.substr(1, address.size() - 2));
    }
    if (address.empty()) {
        return make_local({});  // the null path <>: no domain to judge
    }
    // RFC 5321 §4.1.1.3 and Appendix C: the source route SHOULD be ignored.
    if (address.front() == '@') {
        const std::size_t end = source_route_end(address);
        if (end == std::string_view::npos) {
            return make_invalid("no local part before '@' in \"" + printable(address) + "\"");
        }
        address.remove_prefix(end + 1);
        if (address.empty()) {
            return make_invalid("nothing after the source route");
        }
    }
    const std::optional<std::size_t> at = find_domain_at(address);
    if (!at) {
        return make_invalid("unterminated quoted string in \"" + printable(address) + "\"");
    }
    if (*at == std::string_view::npos) {
        return make_local(address);
    }
    if (*at + 1 == address.size()) {
        // "user@": a domain was announced and is empty, a name with one
        // empty label (SPEC §3: 550 5.1.3), not a recipient without domain.
        return make_invalid("empty domain after '@' in \"" + printable(address) + "\"");
    }
    const std::string_view domain = address.substr(*at + 1);
    Recipient r;
    r.local_part = std::string(address.substr(0, *at));
    if (domain.front() == '[') {
        if (auto problem = literal_problem(domain)) {
            return make_invalid(std::move(*problem));
        }
        r.kind = RecipientKind::address_literal;
        r.domain = std::string(domain);
        lower_in_place(r.domain);
        return r;
    }
    Result<std::string> normalized = normalize_domain(domain);
    if (!normalized) {
        return make_invalid("\"" + printable(domain) +
                            "\" is not a valid domain name: " + normalized.error());
    }
    r.kind = RecipientKind::domain;
    r.domain = std::move(normalized).value();
    return r;
}

}  // namespace dsm::address
