// Value checks of milter.conf (SPEC §2); see value_parsers.hpp.
#include "core/config/value_parsers.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <system_error>
#include <utility>

#include "core/address/recipient.hpp"

namespace dsm::config::detail {

using address::printable;

// ---- text helpers -----------------------------------------------------------

std::string lowered(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = lower(c);
    }
    return out;
}

bool starts_with_i(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
    constexpr std::string_view kBlank = " \t\r\n\f\v";
    const std::size_t b = s.find_first_not_of(kBlank);
    if (b == std::string_view::npos) {
        return {};
    }
    return s.substr(b, s.find_last_not_of(kBlank) - b + 1);
}

bool all_of(std::string_view s, bool (*pred)(char)) {
    for (const char c : s) {
        if (!pred(c)) {
            return false;
        }
    }
    return true;
}

bool is_name_char(char c) {
    return is_alnum(c) || c == '_' || c == '-';
}
bool is_section_char(char c) {
    return is_name_char(c) || c == '.';
}
bool is_key_char(char c) {
    return is_alnum(c) || c == '_';
}
bool is_tag_char(char c) {
    return is_alnum(c) || c == '_' || c == '-' || c == '.';
}
// RFC 5322 §3.6.8 ftext: printable US-ASCII except ':'.
bool is_ftext(char c) {
    return c >= 33 && c <= 126 && c != ':';
}
bool is_graph(char c) {
    return c >= 33 && c <= 126;
}

// Comma-separated; blanks around items and empty items (a trailing comma) ignored.
std::vector<std::string_view> split_list(std::string_view v) {
    std::vector<std::string_view> items;
    std::size_t start = 0;
    for (;;) {
        const std::size_t comma = v.find(',', start);
        const std::string_view item = trim(v.substr(start, comma - start));
        if (!item.empty()) {
            items.push_back(item);
        }
        if (comma == std::string_view::npos) {
            return items;
        }
        start = comma + 1;
    }
}

std::optional<std::uint64_t> parse_uint(std::string_view v) {
    if (v.empty() || !all_of(v, [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size()) {
        return std::nullopt;
    }
    return n;
}

// ---- value checks: nullopt when fine, otherwise the "expected ..." text ------

std::string expected(std::string_view what, std::string_view got) {
    return "expected " + std::string(what) + ", got \"" + printable(got, 200) + "\"";
}

// inet_pton() reads a C string: an embedded NUL would hide what follows it.
bool is_ipv4(std::string_view s) {
    std::array<unsigned char, 4> buf{};  // struct in_addr
    return s.find('\0') == std::string_view::npos &&
           inet_pton(AF_INET, std::string(s).c_str(), buf.data()) == 1;
}
bool is_ipv6(std::string_view s) {
    std::array<unsigned char, 16> buf{};  // struct in6_addr
    return s.find('\0') == std::string_view::npos &&
           inet_pton(AF_INET6, std::string(s).c_str(), buf.data()) == 1;
}
bool is_port(std::string_view s) {
    const auto n = parse_uint(s);
    return n && *n >= 1 && *n <= 65535;
}
bool is_host_name(std::string_view s) {
    return address::normalize_domain(s).ok();
}
bool is_absolute_path(std::string_view s) {
    return !s.empty() && s.front() == '/';
}

// HOST:PORT with HOST an IPv4 address, [IPv6] or a host name.
bool is_host_port(std::string_view s) {
    if (!s.empty() && s.front() == '[') {
        const std::size_t close = s.find(']');
        return close != std::string_view::npos && close + 1 < s.size() && s[close + 1] == ':' &&
               is_ipv6(s.substr(1, close - 1)) && is_port(s.substr(close + 2));
    }
    const std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        return false;
    }
    const std::string_view host = s.substr(0, colon);
    return host.find(':') == std::string_view::npos && (is_ipv4(host) || is_host_name(host)) &&
           is_port(s.substr(colon + 1));
}

// unbound's address[@port] (forward-addr, stub-addr).
bool is_unbound_address(std::string_view s) {
    const std::size_t at = s.rfind('@');
    const std::string_view addr = s.substr(0, at);
    if (!is_ipv4(addr) && !is_ipv6(addr)) {
        return false;
    }
    return at == std::string_view::npos || is_port(s.substr(at + 1));
}

// libmilter smfi_setconn(): {unix|local}:/path, inet:port[@host], inet6:port[@host];
// the host may be bracketed, an address or a name.
bool is_milter_socket(std::string_view s) {
    if (starts_with_i(s, "unix:") || starts_with_i(s, "local:")) {
        return is_absolute_path(s.substr(s.find(':') + 1));
    }
    const bool v6 = starts_with_i(s, "inet6:");
    if (!v6 && !starts_with_i(s, "inet:")) {
        return false;
    }
    const std::string_view rest = s.substr(s.find(':') + 1);
    const std::size_t at = rest.find('@');
    if (!is_port(rest.substr(0, at))) {
        return false;
    }
    if (at == std::string_view::npos) {
        return true;  // libmilter binds the wildcard address
    }
    std::string_view host = rest.substr(at + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    return v6 ? (is_ipv6(host) || is_host_name(host)) : (is_ipv4(host) || is_host_name(host));
}

bool is_store(std::string_view s) {
    if (iequals(s, "memory")) {
        return true;
    }
    if (starts_with_i(s, "sqlite:")) {
        return is_absolute_path(s.substr(7));
    }
    if (!starts_with_i(s, "redis://")) {
        return false;
    }
    const std::string_view rest = s.substr(8);
    const std::size_t slash = rest.find('/');
    if (slash != std::string_view::npos) {
        const auto db = parse_uint(rest.substr(slash + 1));
        if (!db || *db > 65535) {
            return false;
        }
    }
    return is_host_port(rest.substr(0, slash));
}

// ---- setters ----------------------------------------------------------------

std::optional<bool> parse_bool(std::string_view v) {
    for (const char* t : {"yes", "true", "on", "1"}) {
        if (iequals(v, t)) {
            return true;
        }
    }
    for (const char* f : {"no", "false", "off", "0"}) {
        if (iequals(v, f)) {
            return false;
        }
    }
    return std::nullopt;
}

Problem set_bool(std::string_view v, bool& out) {
    const auto b = parse_bool(v);
    if (!b) {
        return expected("yes or no (or true/false, on/off, 1/0)", v);
    }
    out = *b;
    return std::nullopt;
}

Problem set_ms(std::string_view v, std::chrono::milliseconds& out, std::uint64_t lo,
               std::uint64_t hi) {
    std::uint64_t n = 0;
    if (auto p = set_uint(v, n, lo, hi, "milliseconds")) {
        return p;
    }
    out = std::chrono::milliseconds(n);
    return std::nullopt;
}

Problem set_seconds(std::string_view v, std::chrono::seconds& out, std::uint64_t lo,
                    std::uint64_t hi) {
    std::uint64_t n = 0;
    if (auto p = set_uint(v, n, lo, hi, "seconds")) {
        return p;
    }
    out = std::chrono::seconds(n);
    return std::nullopt;
}

Problem set_checked(std::string_view v, std::string& out, bool (*ok)(std::string_view),
                    std::string_view what) {
    if (!ok(v)) {
        return expected(what, v);
    }
    out = std::string(v);
    return std::nullopt;
}

// As set_checked, with the scheme ("INET:", "Redis://", "MEMORY") lower-cased
// so that consumers can compare it verbatim.
Problem set_scheme_checked(std::string_view v, std::string& out, bool (*ok)(std::string_view),
                           std::string_view what) {
    Problem p = set_checked(v, out, ok, what);
    if (!p) {
        const std::size_t colon = out.find(':');
        for (std::size_t i = 0; i < out.size() && i < colon; ++i) {
            out[i] = lower(out[i]);
        }
    }
    return p;
}

Problem set_path(std::string_view v, std::string& out) {
    return set_checked(v, out, is_absolute_path, "an absolute path");
}

Problem set_umask(std::string_view v, unsigned& out) {
    const bool octal =
        !v.empty() && v.size() <= 4 && all_of(v, [](char c) { return c >= '0' && c <= '7'; });
    unsigned n = 0;
    for (const char c : v) {
        n = n * 8 + static_cast<unsigned>(c - '0');
    }
    if (!octal || n > 0777) {
        return expected("an octal file mode mask from 000 to 777", v);
    }
    out = n;
    return std::nullopt;
}

Problem set_log_level(std::string_view v, LogLevel& out) {
    for (const LogLevel l :
         {LogLevel::trace, LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error}) {
        if (iequals(v, to_string(l))) {
            out = l;
            return std::nullopt;
        }
    }
    return expected("trace, debug, info, warn or error", v);
}

Problem set_log_target(std::string_view v, std::string& out) {
    if (iequals(v, "stderr") || iequals(v, "syslog")) {
        out = lowered(v);
        return std::nullopt;
    }
    if (starts_with_i(v, "file:") && is_absolute_path(v.substr(5))) {
        out = "file:" + std::string(v.substr(5));
        return std::nullopt;
    }
    return expected("stderr, syslog or file:/absolute/path", v);
}

Problem set_refresh_ahead(std::string_view v, double& out) {
    // Plain decimals only: from_chars would also take "nan", "inf" and "8e-1".
    double d = 0;
    const bool plain =
        !v.empty() && all_of(v, [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
    const auto [end, ec] =
        plain ? std::from_chars(v.data(), v.data() + v.size(), d) : std::from_chars_result{};
    if (!plain || ec != std::errc() || end != v.data() + v.size() || !(d > 0.0 && d < 1.0)) {
        return expected("a decimal fraction between 0 and 1, such as 0.8", v);
    }
    out = d;
    return std::nullopt;
}

Problem set_forwarders(std::string_view v, std::vector<std::string>& out) {
    std::vector<std::string> list;
    for (const std::string_view item : split_list(v)) {
        if (!is_unbound_address(item)) {
            return expected("a comma-separated list of IPv4 or IPv6 address[@port 1-65535]", item);
        }
        list.emplace_back(item);
    }
    out = std::move(list);
    return std::nullopt;
}

Problem set_stub_zones(std::string_view v, std::vector<StubZone>& out) {
    constexpr std::string_view kWhat =
        "a comma-separated list of zone=address[@port], e.g. test.=127.0.0.1@5353";
    std::vector<StubZone> list;
    for (const std::string_view item : split_list(v)) {
        const std::size_t eq = item.find('=');
        if (eq == std::string_view::npos) {
            return expected(kWhat, item);
        }
        const std::string_view zone = trim(item.substr(0, eq));
        const std::string_view addr = trim(item.substr(eq + 1));
        StubZone z;
        if (zone == ".") {
            z.zone = ".";
        } else {
            auto normalized = address::normalize_domain(zone);
            if (!normalized) {
                return expected(kWhat, item) + " (zone: " + normalized.error() + ")";
            }
            z.zone = std::move(normalized).value() + ".";
        }
        if (!is_unbound_address(addr)) {
            return expected(kWhat, item) + " (not an IPv4 or IPv6 address[@port])";
        }
        z.address = std::string(addr);
        list.push_back(std::move(z));
    }
    out = std::move(list);
    return std::nullopt;
}

bool is_header_name(std::string_view v) {
    return v.size() <= 76 && all_of(v, is_ftext);
}
bool is_user_name(std::string_view v) {
    return all_of(v, is_graph) && v.find(':') == v.npos;
}
bool is_policy_map_listen(std::string_view v) {
    if (starts_with_i(v, "unix:")) {
        return is_absolute_path(v.substr(5));
    }
    return starts_with_i(v, "inet:") && is_host_port(v.substr(5));
}

bool is_unix_socket(std::string_view v) {
    return starts_with_i(v, "unix:") && is_absolute_path(v.substr(5));
}

// ---- connector values -------------------------------------------------------

Problem parse_patterns(std::string_view v, std::vector<DomainPattern>& out) {
    constexpr std::string_view kWhat =
        R"(a comma-separated list of domains, "*.domain" (sub-domains) or "*")";
    std::vector<DomainPattern> list;
    for (const std::string_view item : split_list(v)) {
        DomainPattern p;
        std::string_view domain = item;
        if (item == "*") {
            list.push_back(p);
            continue;
        }
        p.kind = DomainPattern::Kind::exact;
        if (item.rfind("*.", 0) == 0) {
            p.kind = DomainPattern::Kind::suffix;
            domain.remove_prefix(2);
        }
        if (domain.find('*') != std::string_view::npos) {
            return expected(kWhat, item) + R"( ('*' only as "*" or a leading "*."))";
        }
        if (!domain.empty() && domain.front() == '[') {
            return expected(kWhat, item) + " (address literals are matched only by \"*\")";
        }
        auto normalized = address::normalize_domain(domain);
        if (!normalized) {
            return expected(kWhat, item) + " (" + normalized.error() + ")";
        }
        p.domain = std::move(normalized).value();
        list.push_back(std::move(p));
    }
    if (list.empty()) {
        return expected(kWhat, v);
    }
    out = std::move(list);
    return std::nullopt;
}

Problem parse_tags(std::string_view v, std::vector<std::string>& out) {
    std::vector<std::string> tags;
    for (const std::string_view t : split_list(v)) {
        // Tags are written into the verdict header as tags=a,b (SPEC §4).
        if (!all_of(t, is_tag_char)) {
            return expected("a comma-separated list of tags (letters, digits, '-', '_', '.')", t);
        }
        tags.emplace_back(t);
    }
    out = std::move(tags);
    return std::nullopt;
}

}  // namespace dsm::config::detail
