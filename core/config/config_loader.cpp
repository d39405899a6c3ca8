// milter.conf (SPEC §2). Two passes over the file: a syntax pass of our own
// (Poco's INI parser accepts anything: a line without '=' becomes a key, text
// after ']' is dropped, a repeated key silently wins, ${name} in a value is
// expanded, and it keeps neither line numbers nor file order, which decides
// connector ties), then Poco::Util::IniFileConfiguration reads the values and
// every section and key is checked against the schema below. The checks of
// single values live in value_parsers.cpp.
#include <Poco/AutoPtr.h>
#include <Poco/Exception.h>
#include <Poco/Util/IniFileConfiguration.h>

#include <array>
#include <cerrno>
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
#include "core/config/value_parsers.hpp"

namespace dsm::config {
namespace {

using address::printable;
using namespace detail;  // NOLINT(google-build-using-namespace): the loader's vocabulary

// A milter.conf is a few kilobytes; anything this large is the wrong file.
constexpr std::size_t kMaxFileOctets = std::size_t{1024} * 1024;
constexpr std::uint64_t kOneYear = 31557600;  // seconds; RFC 8461 §3.2 max_age bound

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
// As checked(), and an empty value unsets the key.
auto checked_or_empty(bool (*ok)(std::string_view), std::string_view what) {
    return [=](std::string_view v, std::string& out) -> Problem {
        if (v.empty()) {
            out.clear();
            return std::nullopt;
        }
        return set_checked(v, out, ok, what);
    };
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
          key("timeout_ms", &C::probe, &ProbeSettings::timeout, ms_in(1, 600000)),
          key("bind_address", &C::probe, &ProbeSettings::bind_address,
              checked_or_empty(is_ipv4, "an IPv4 address of this host, or nothing")),
          key("bind_address6", &C::probe, &ProbeSettings::bind_address6,
              checked_or_empty(is_ipv6, "an IPv6 address of this host, or nothing"))},
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
        // SPEC §11: a year and a day at most (a leap year's report).
        {"report", {key("days", &C::report, &ReportSettings::days, uint_in<unsigned>(1, 366))}, {}},
        // Present means on: Loader::settings() creates the optional first.
        {"policy_map",
         {{"listen",
           [](std::string_view v, Config& c) {
               return set_scheme_checked(v, c.policy_map->listen, is_policy_map_listen,
                                         "inet:HOST:PORT or unix:/PATH");
           }},
          {"max_connections",
           [](std::string_view v, Config& c) {
               return set_uint(v, c.policy_map->max_connections, 16, 1000000);
           }}},
         "listen"},
        {"metrics",
         {{"listen",
           [](std::string_view v, Config& c) {
               return set_checked(v, c.metrics->listen, is_host_port,
                                  "HOST:PORT, e.g. 127.0.0.1:9464");
           }}},
         "listen"},
        {"control",
         {{"socket",
           [](std::string_view v, Config& c) {
               return set_scheme_checked(v, c.control->socket, is_unix_socket,
                                         "unix:/PATH, e.g. unix:/run/dane-sts-milter/control.sock");
           }}},
         "socket"},
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
            // Every consumer (libmilter, libunbound, fopen) reads values as C
            // strings: a NUL would cut the value after it was checked.
            const std::string_view value = trim(line.substr(eq + 1));
            if (value.find('\0') != std::string_view::npos) {
                return error_at(path, lineno, s.name, key,
                                expected("text without NUL octets", value));
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
                    "rcpt, report, policy_map, metrics, control or connector.NAME");
}

std::optional<Error> Loader::settings(const Section& s, const SectionSpec& spec) {
    // The presence of [policy_map], [metrics] or [control] switches the
    // feature on.
    if (spec.name == "policy_map") {
        config_.policy_map.emplace();
    } else if (spec.name == "metrics") {
        config_.metrics.emplace();
    } else if (spec.name == "control") {
        config_.control.emplace();
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
