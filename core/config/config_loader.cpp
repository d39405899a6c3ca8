// milter.conf (SPEC §2). Two passes over the file: a syntax pass of our own
// (Poco's INI parser accepts anything: a line without '=' becomes a key, text
// after ']' is dropped, a repeated key silently wins, ${name} in a value is
// expanded, and it keeps neither line numbers nor file order, which decides
// connector ties), then Poco::Util::IniFileConfiguration reads the values and
// every section and key is checked against the schema below.
#include <Poco/AutoPtr.h>
#include <Poco/Exception.h>
#include <Poco/Util/IniFileConfiguration.h>
#include <arpa/inet.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <exception>
#include <functional>
#include <sstream>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "core/address/recipient.hpp"
#include "core/config/config.hpp"

namespace dsm::config {
namespace {

using address::printable;

// A milter.conf is a few kilobytes; anything this large is the wrong file.
constexpr std::size_t kMaxFileOctets = std::size_t{1024} * 1024;
constexpr std::uint64_t kOneYear = 31557600;  // seconds; RFC 8461 §3.2 max_age bound

// ---- text helpers -----------------------------------------------------------

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowered(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = lower(c);
    }
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return lowered(a) == lowered(b);
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

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
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

using Problem = std::optional<std::string>;

std::string expected(std::string_view what, std::string_view got) {
    return "expected " + std::string(what) + ", got \"" + printable(got, 200) + "\"";
}

bool is_ipv4(std::string_view s) {
    std::array<unsigned char, 4> buf{};  // struct in_addr
    return inet_pton(AF_INET, std::string(s).c_str(), buf.data()) == 1;
}
bool is_ipv6(std::string_view s) {
    std::array<unsigned char, 16> buf{};  // struct in6_addr
    return inet_pton(AF_INET6, std::string(s).c_str(), buf.data()) == 1;
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

template <typename T>
Problem set_uint(std::string_view v, T& out, std::uint64_t lo, std::uint64_t hi,
                 std::string_view unit = {}) {
    const auto n = parse_uint(v);
    if (!n || *n < lo || *n > hi) {
        std::string what = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
        if (!unit.empty()) {
            what += " (" + std::string(unit) + ")";
        }
        return expected(what, v);
    }
    out = static_cast<T>(*n);
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

// ---- schema -----------------------------------------------------------------

using Setter = std::function<Problem(std::string_view value, Config& c)>;

struct KeySpec {
    std::string_view key;
    Setter set;
};

struct SectionSpec {
    std::string_view name;
    std::vector<KeySpec> keys;
    std::string_view required;  // a key that must be set when the section is present
};

// A key whose value `set` checks and stores into c.*section.*field.
template <typename S, typename F, typename Set>
KeySpec key(std::string_view name, S Config::*section, F S::*field, Set set) {
    return {name, [=](std::string_view v, Config& c) { return set(v, c.*section.*field); }};
}

template <typename T>
auto uint_in(std::uint64_t lo, std::uint64_t hi) {
    return [=](std::string_view v, T& out) { return set_uint(v, out, lo, hi); };
}
auto ms_in(std::uint64_t lo, std::uint64_t hi) {
    return
        [=](std::string_view v, std::chrono::milliseconds& out) { return set_ms(v, out, lo, hi); };
}
auto seconds_in(std::uint64_t lo, std::uint64_t hi) {
    return
        [=](std::string_view v, std::chrono::seconds& out) { return set_seconds(v, out, lo, hi); };
}
auto checked(bool (*ok)(std::string_view), std::string_view what) {
    return [=](std::string_view v, std::string& out) { return set_checked(v, out, ok, what); };
}
auto scheme_checked(bool (*ok)(std::string_view), std::string_view what) {
    return
        [=](std::string_view v, std::string& out) { return set_scheme_checked(v, out, ok, what); };
}

// Ranges: timeouts up to ten minutes; TTLs and windows up to a year. Postfix
// gives up on a milter after milter_command_timeout (30 s by default), so a
// longer RCPT wait would only turn into its tempfail.
const std::vector<SectionSpec>& schema() {
    using C = Config;
    static const std::vector<SectionSpec> s = {
        {"milter",
         {key("socket", &C::milter, &MilterSettings::socket,
              scheme_checked(is_milter_socket,
                             "inet:PORT@HOST, inet6:PORT@HOST, unix:/PATH or local:/PATH")),
          key("header", &C::milter, &MilterSettings::header,
              checked(is_header_name,
                      "a header field name: printable ASCII without ':' or "
                      "blanks (RFC 5322 section 3.6.8)")),
          key("user", &C::milter, &MilterSettings::user, checked(is_user_name, "a user name")),
          key("umask", &C::milter, &MilterSettings::umask, set_umask),
          key("log_level", &C::milter, &MilterSettings::log_level, set_log_level),
          key("log_target", &C::milter, &MilterSettings::log_target, set_log_target)},
         {}},
        {"resolver",
         {key("trust_anchor_file", &C::resolver, &ResolverSettings::trust_anchor_file, set_path),
          key("forwarders", &C::resolver, &ResolverSettings::forwarders, set_forwarders),
          key("stub_zones", &C::resolver, &ResolverSettings::stub_zones, set_stub_zones),
          key("unbound_config", &C::resolver, &ResolverSettings::unbound_config, set_path),
          key("timeout_ms", &C::resolver, &ResolverSettings::timeout, ms_in(1, 600000))},
         {}},
        {"sts",
         {key("ca_file", &C::sts, &StsSettings::ca_file, set_path),
          key("https_port", &C::sts, &StsSettings::https_port, uint_in<std::uint16_t>(1, 65535)),
          key("fetch_timeout_ms", &C::sts, &StsSettings::fetch_timeout, ms_in(1, 600000))},
         {}},
        {"probe",
         {key("enabled", &C::probe, &ProbeSettings::enabled, set_bool),
          key("port", &C::probe, &ProbeSettings::port, uint_in<std::uint16_t>(1, 65535)),
          key("timeout_ms", &C::probe, &ProbeSettings::timeout, ms_in(1, 600000))},
         {}},
        {"cache",
         {key("store", &C::cache, &CacheSettings::store,
              scheme_checked(is_store, "memory, sqlite:/PATH or redis://HOST:PORT[/DB]")),
          key("max_entries", &C::cache, &CacheSettings::max_entries,
              uint_in<std::size_t>(1, 1000000000)),
          key("min_ttl", &C::cache, &CacheSettings::min_ttl, seconds_in(0, kOneYear)),
          key("max_ttl", &C::cache, &CacheSettings::max_ttl, seconds_in(1, kOneYear)),
          key("error_ttl", &C::cache, &CacheSettings::error_ttl, seconds_in(0, kOneYear)),
          key("stale_ttl", &C::cache, &CacheSettings::stale_ttl, seconds_in(0, kOneYear))},
         {}},
        {"prefetch",
         {key("concurrency", &C::prefetch, &PrefetchSettings::concurrency,
              uint_in<unsigned>(1, 4096)),
          key("refresh_ahead", &C::prefetch, &PrefetchSettings::refresh_ahead, set_refresh_ahead),
          key("active_window", &C::prefetch, &PrefetchSettings::active_window,
              seconds_in(0, kOneYear)),
          key("warm_list", &C::prefetch, &PrefetchSettings::warm_list, set_path)},
         {}},
        {"rcpt",
         {key("lookup_timeout_ms", &C::rcpt, &RcptSettings::lookup_timeout, ms_in(0, 60000))},
         {}},
        // Present means on: Loader::settings() creates the optional first.
        {"policy_map",
         {{"listen",
           [](std::string_view v, Config& c) {
               return set_scheme_checked(v, c.policy_map->listen, is_policy_map_listen,
                                         "inet:HOST:PORT or unix:/PATH");
           }}},
         "listen"},
        {"metrics",
         {{"listen",
           [](std::string_view v, Config& c) {
               return set_checked(v, c.metrics->listen, is_host_port,
                                  "HOST:PORT, e.g. 127.0.0.1:9464");
           }}},
         "listen"},
    };
    return s;
}

std::string known_keys(const SectionSpec& spec) {
    std::string out;
    for (std::size_t i = 0; i < spec.keys.size(); ++i) {
        if (i > 0) {
            out += i + 1 == spec.keys.size() ? " or " : ", ";
        }
        out += spec.keys[i].key;
    }
    return out;
}

// ---- syntax pass ------------------------------------------------------------

struct Entry {
    std::string key;  // as written
    int line = 0;
};

struct Section {
    std::string name;  // as written, e.g. "connector.partners"
    int line = 0;
    std::vector<Entry> entries;
};

struct Scanned {
    std::string filtered;  // comment lines blanked, for Poco
    std::vector<Section> sections;
};

Error error_at(const std::string& path, int line, std::string_view detail) {
    return Error{path + ":" + std::to_string(line) + ": " + std::string(detail)};
}

Error error_at(const std::string& path, int line, std::string_view section, std::string_view key,
               std::string_view detail) {
    std::string where = "[" + std::string(section) + "]";
    if (!key.empty()) {
        where += " " + std::string(key);
    }
    return error_at(path, line, where + ": " + std::string(detail));
}

Result<Scanned> scan(const std::string& path, std::string_view text) {
    Scanned out;
    std::unordered_map<std::string, int> seen;  // lower-cased section or section+key → line
    int lineno = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t nl = text.find('\n', pos);
        const std::string_view raw = text.substr(pos, nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        ++lineno;
        const std::string_view line = trim(raw);
        // SPEC §2: a comment is a whole line starting with ';' or '#'.
        if (line.empty() || line.front() == '#' || line.front() == ';') {
            out.filtered += '\n';
            continue;
        }
        if (line.front() == '[') {
            const std::string_view name =
                trim(line.substr(1, line.size() - 1 - (line.back() == ']')));
            if (line.back() != ']' || name.empty() || !all_of(name, is_section_char)) {
                return error_at(path, lineno, expected("a [section] header", line));
            }
            const auto [first, fresh] = seen.emplace(lowered(name), lineno);
            if (!fresh) {
                return error_at(
                    path, lineno, name, {},
                    "section given twice (first at line " + std::to_string(first->second) + ")");
            }
            out.sections.push_back(Section{std::string(name), lineno, {}});
        } else {
            const std::size_t eq = line.find('=');
            const std::string_view key = trim(line.substr(0, eq));
            if (eq == std::string_view::npos || key.empty() || !all_of(key, is_key_char)) {
                return error_at(path, lineno, expected("key = value", line));
            }
            if (out.sections.empty()) {
                return error_at(path, lineno,
                                "key \"" + printable(key) + "\" before any [section]");
            }
            Section& s = out.sections.back();
            // Names hold no blanks, so "section key" is never a section's name.
            const auto [first, fresh] = seen.emplace(lowered(s.name) + " " + lowered(key), lineno);
            if (!fresh) {
                return error_at(
                    path, lineno, s.name, key,
                    "given twice (first at line " + std::to_string(first->second) + ")");
            }
            s.entries.push_back(Entry{std::string(key), lineno});
        }
        out.filtered.append(raw);
        out.filtered += '\n';
    }
    return out;
}

// std::strerror is not thread-safe, and a SIGHUP reload may run beside others.
std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

Result<std::string> read_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        return Error{path + ": cannot open: " + errno_text(errno)};
    }
    std::string text;
    std::array<char, 8192> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0 && text.size() <= kMaxFileOctets) {
        text.append(buf.data(), n);
    }
    const bool failed = std::ferror(f) != 0;
    const int err = errno;
    std::fclose(f);
    if (failed) {
        return Error{path + ": cannot read: " + errno_text(err)};
    }
    if (text.size() > kMaxFileOctets) {
        return Error{path + ": larger than 1 MiB, not a milter.conf"};
    }
    if (text.rfind("\xEF\xBB\xBF", 0) == 0) {
        text.erase(0, 3);  // a UTF-8 byte order mark left by some editors
    }
    return text;
}

// ---- sections ---------------------------------------------------------------

class Loader {
  public:
    Loader(const std::string& path, Poco::Util::AbstractConfiguration& ini, Config& config)
        : path_(path), ini_(ini), config_(config) {}

    [[nodiscard]] std::optional<Error> section(const Section& s);
    [[nodiscard]] std::optional<Error> cross_checks(const std::vector<Section>& sections) const;
    std::vector<Connector> take_connectors() { return std::move(connectors_); }

  private:
    [[nodiscard]] std::string value(const Section& s, const Entry& e) const {
        return ini_.getRawString(s.name + "." + e.key, "");
    }
    std::optional<Error> settings(const Section& s, const SectionSpec& spec);
    std::optional<Error> connector(const Section& s);

    const std::string& path_;
    Poco::Util::AbstractConfiguration& ini_;
    Config& config_;
    std::vector<Connector> connectors_;
};

std::optional<Error> Loader::section(const Section& s) {
    if (starts_with_i(s.name, "connector.")) {
        return connector(s);
    }
    for (const SectionSpec& spec : schema()) {
        if (iequals(s.name, spec.name)) {
            return settings(s, spec);
        }
    }
    return error_at(path_, s.line, s.name, {},
                    "unknown section; expected milter, resolver, sts, probe, cache, prefetch, "
                    "rcpt, policy_map, metrics or connector.NAME");
}

std::optional<Error> Loader::settings(const Section& s, const SectionSpec& spec) {
    // The presence of [policy_map] or [metrics] switches the feature on.
    if (spec.name == "policy_map") {
        config_.policy_map.emplace();
    } else if (spec.name == "metrics") {
        config_.metrics.emplace();
    }
    bool required_seen = spec.required.empty();
    for (const Entry& e : s.entries) {
        const KeySpec* key = nullptr;
        for (const KeySpec& k : spec.keys) {
            if (iequals(e.key, k.key)) {
                key = &k;
            }
        }
        if (key == nullptr) {
            return error_at(path_, e.line, s.name, e.key,
                            "unknown key; expected " + known_keys(spec));
        }
        const std::string v = value(s, e);
        if (v.empty()) {
            continue;  // SPEC §2: an empty optional value means "not set"
        }
        required_seen = required_seen || iequals(e.key, spec.required);
        if (Problem p = key->set(v, config_)) {
            return error_at(path_, e.line, s.name, e.key, *p);
        }
    }
    if (!required_seen) {
        return error_at(path_, s.line, s.name, spec.required,
                        "missing; required when [" + std::string(spec.name) + "] is present");
    }
    return std::nullopt;
}

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

// One connector key. `mode`, `dane` and `mta_sts` are collected, not applied:
// SPEC §2 makes the overrides win whatever their order in the section.
struct ConnectorKeys {
    Connector c;
    bool has_recipients = false;
    std::optional<DaneMode> mode, dane;
    std::optional<StsMode> mta_sts;
};

Problem connector_key(std::string_view key, std::string_view v, ConnectorKeys& k) {
    if (iequals(key, "recipient_domains")) {
        k.has_recipients = true;
        return parse_patterns(v, k.c.recipient_domains);
    }
    if (iequals(key, "sender_domains")) {
        return parse_patterns(v, k.c.sender_domains);
    }
    if (iequals(key, "mode") || iequals(key, "dane")) {
        auto m = parse_dane_mode(v);
        if (!m) {
            return expected("opportunistic, mandatory or none", v);
        }
        (iequals(key, "mode") ? k.mode : k.dane) = m;
        return std::nullopt;
    }
    if (iequals(key, "mta_sts")) {
        k.mta_sts = parse_sts_mode(v);
        if (!k.mta_sts) {
            return expected("opportunistic or none (MTA-STS has no mandatory mode)", v);
        }
        return std::nullopt;
    }
    if (iequals(key, "on_failure")) {
        auto f = parse_on_failure(v);
        if (!f) {
            return expected("defer or reject", v);
        }
        k.c.on_failure = *f;
        return std::nullopt;
    }
    if (iequals(key, "test_mode")) {
        return set_bool(v, k.c.test_mode);
    }
    if (iequals(key, "tags")) {
        return parse_tags(v, k.c.tags);
    }
    return "unknown key; expected recipient_domains, sender_domains, mode, dane, mta_sts, "
           "on_failure, test_mode or tags";
}

std::optional<Error> Loader::connector(const Section& s) {
    ConnectorKeys k;
    k.c.name = s.name.substr(std::string_view("connector.").size());
    // The name goes into the verdict header and into reply texts (SPEC §4).
    if (k.c.name.empty() || k.c.name.size() > 64 || !all_of(k.c.name, is_name_char)) {
        return error_at(path_, s.line, s.name, {},
                        "expected [connector.NAME] with a NAME of letters, digits, '-' and '_'");
    }
    for (const Entry& e : s.entries) {
        const std::string v = value(s, e);
        if (v.empty() && !iequals(e.key, "recipient_domains")) {
            continue;  // SPEC §2: an empty optional value means "not set"
        }
        if (Problem p = connector_key(e.key, v, k)) {
            return error_at(path_, e.line, s.name, e.key, *p);
        }
    }
    if (!k.has_recipients) {
        return error_at(path_, s.line, s.name, "recipient_domains",
                        "missing; expected a comma-separated list of domains, \"*.domain\" or "
                        "\"*\"");
    }
    // SPEC §2: mandatory is DANE only; MTA-STS stays opportunistic (moot
    // where DANE governs every MX).
    const DaneMode mode = k.mode.value_or(DaneMode::opportunistic);
    k.c.dane = k.dane.value_or(mode);
    k.c.mta_sts =
        k.mta_sts.value_or(mode == DaneMode::none ? StsMode::none : StsMode::opportunistic);
    connectors_.push_back(std::move(k.c));
    return std::nullopt;
}

std::optional<Error> Loader::cross_checks(const std::vector<Section>& sections) const {
    if (config_.cache.min_ttl <= config_.cache.max_ttl) {
        return std::nullopt;
    }
    int line = 0;
    std::string key = "min_ttl";
    for (const Section& s : sections) {
        if (iequals(s.name, "cache")) {
            line = s.line;
            for (const Entry& e : s.entries) {
                if (iequals(e.key, "min_ttl")) {
                    line = e.line;
                    key = e.key;
                }
            }
        }
    }
    return error_at(path_, line, "cache", key,
                    "expected at most max_ttl (" + std::to_string(config_.cache.max_ttl.count()) +
                        "), got \"" + std::to_string(config_.cache.min_ttl.count()) + "\"");
}

}  // namespace

std::string_view to_string(LogLevel l) {
    switch (l) {
        case LogLevel::trace:
            return "trace";
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warn:
            return "warn";
        case LogLevel::error:
            return "error";
    }
    return "info";
}

Result<std::shared_ptr<const Config>> load_config(const std::string& path) {
    try {
        Result<std::string> text = read_file(path);
        if (!text) {
            return Error{text.error()};
        }
        Result<Scanned> scanned = scan(path, *text);
        if (!scanned) {
            return Error{scanned.error()};
        }
        std::istringstream in(scanned->filtered);
        Poco::AutoPtr<Poco::Util::IniFileConfiguration> ini(
            new Poco::Util::IniFileConfiguration(in));

        auto config = std::make_shared<Config>();
        config->path = path;
        Loader loader(path, *ini, *config);
        for (const Section& s : scanned->sections) {
            if (auto e = loader.section(s)) {
                return *e;
            }
        }
        if (auto e = loader.cross_checks(scanned->sections)) {
            return *e;
        }
        config->connectors = ConnectorTable(loader.take_connectors());
        return std::shared_ptr<const Config>(std::move(config));
    } catch (const Poco::Exception& e) {
        return Error{path + ": " + e.displayText()};
    } catch (const std::exception& e) {
        return Error{path + ": " + e.what()};
    }
}

}  // namespace dsm::config
