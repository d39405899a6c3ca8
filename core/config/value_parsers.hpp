// Checks and conversions of single milter.conf values (SPEC §2), for
// config_loader.cpp. Pure functions: no I/O, no shared state, safe from any
// thread. The text they read is whatever the file holds.
//
// Each set_* / parse_* function checks one value and, when it is fine, stores
// it into `out` and returns nullopt; otherwise it leaves `out` untouched and
// returns the "expected ..., got "..."" text that the loader prefixes with
// file, line, section and key. The is_* predicates only answer yes or no.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/config.hpp"
#include "core/config/connector.hpp"
#include "core/util/ascii.hpp"

namespace dsm::config::detail {

// ---- text helpers (ASCII only; config files are not localised) --------------

using util::ascii::iequals;
using util::ascii::lower;
std::string lowered(std::string_view s);
bool starts_with_i(std::string_view s, std::string_view prefix);
// Without leading and trailing blanks (space, \t, \r, \n, \f, \v).
std::string_view trim(std::string_view s);
bool all_of(std::string_view s, bool (*pred)(char));

using util::ascii::is_alnum;
bool is_name_char(char c);     // letters, digits, '_', '-': connector names
bool is_section_char(char c);  // ... and '.': [section] names
bool is_key_char(char c);      // letters, digits, '_'
bool is_tag_char(char c);      // letters, digits, '_', '-', '.'
bool is_ftext(char c);         // RFC 5322 §3.6.8: printable US-ASCII except ':'
bool is_graph(char c);         // printable US-ASCII except space

// Comma-separated; blanks around items and empty items (a trailing comma) ignored.
std::vector<std::string_view> split_list(std::string_view v);

// Decimal digits only (no sign, no blanks), fitting 64 bits.
std::optional<std::uint64_t> parse_uint(std::string_view v);

// ---- value checks -----------------------------------------------------------

// nullopt when a value is fine, otherwise what was expected instead.
using Problem = std::optional<std::string>;

// "expected <what>, got "<got>"" with `got` made printable and cut.
std::string expected(std::string_view what, std::string_view got);

bool is_ipv4(std::string_view s);
bool is_ipv6(std::string_view s);
bool is_port(std::string_view s);  // 1-65535
bool is_host_name(std::string_view s);
bool is_absolute_path(std::string_view s);
// HOST:PORT with HOST an IPv4 address, [IPv6] or a host name.
bool is_host_port(std::string_view s);
// unbound's address[@port] (forward-addr, stub-addr).
bool is_unbound_address(std::string_view s);
// libmilter smfi_setconn(): {unix|local}:/path, inet:port[@host], inet6:port[@host].
bool is_milter_socket(std::string_view s);
// memory | sqlite:/PATH | redis://HOST:PORT[/DB]
bool is_store(std::string_view s);
bool is_header_name(std::string_view v);
bool is_user_name(std::string_view v);
// inet:HOST:PORT | unix:/PATH
bool is_policy_map_listen(std::string_view v);
// unix:/ABSOLUTE/PATH ([control] socket).
bool is_unix_socket(std::string_view v);

// ---- setters ----------------------------------------------------------------

// yes/true/on/1 and no/false/off/0, any case.
std::optional<bool> parse_bool(std::string_view v);
Problem set_bool(std::string_view v, bool& out);

// An integer in [lo, hi]; `unit` ("seconds") goes into the problem text.
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
               std::uint64_t hi);
Problem set_seconds(std::string_view v, std::chrono::seconds& out, std::uint64_t lo,
                    std::uint64_t hi);
// `v` verbatim when `ok(v)`; the problem says "expected <what>".
Problem set_checked(std::string_view v, std::string& out, bool (*ok)(std::string_view),
                    std::string_view what);
// As set_checked, with the scheme ("INET:", "Redis://", "MEMORY") lower-cased
// so that consumers can compare it verbatim.
Problem set_scheme_checked(std::string_view v, std::string& out, bool (*ok)(std::string_view),
                           std::string_view what);
Problem set_path(std::string_view v, std::string& out);
Problem set_umask(std::string_view v, unsigned& out);  // octal 000-777
Problem set_log_level(std::string_view v, LogLevel& out);
Problem set_log_target(std::string_view v, std::string& out);  // lower-cased keyword
Problem set_refresh_ahead(std::string_view v, double& out);    // plain decimal in (0, 1)
Problem set_forwarders(std::string_view v, std::vector<std::string>& out);
// Zones normalised to A-labels with a trailing dot ("test."; the root is ".").
Problem set_stub_zones(std::string_view v, std::vector<StubZone>& out);

// Connector values: domain patterns (normalised, SPEC §2) and header tags.
Problem parse_patterns(std::string_view v, std::vector<DomainPattern>& out);
Problem parse_tags(std::string_view v, std::vector<std::string>& out);

}  // namespace dsm::config::detail
