// make_store and the verdict record format.
//
// Record, version 2: 15 fields separated by TAB, one line:
//   v2 domain destination dnssec dane sts null_mx nxdomain mx_insecure
//      dane_why sts_why sts_mx at_ns ttl_s expires_ns
// sts_mx: the enforce policy's mx patterns, space-separated (RFC 8461 §3.2
// patterns hold no blanks); the policy map answers "secure match=" from them.
// Version 1 lacked it: its records are misses (looked up again), never
// verdicts without their patterns.
// Enums are the SPEC §4 words (to_string); booleans 0/1; times are
// nanoseconds since the Unix epoch, exact for system_clock. Text fields
// escape `\` `\t` `\n` `\r` and NUL as `\\` `\t` `\n` `\r` `\0`, so a record
// never holds a raw separator, line end or NUL (SQLite TEXT, log lines).
// Changing a field means a new version: an old milter reading it must miss,
// not misread.
#include "core/cache/store.hpp"

#include <array>
#include <charconv>
#include <limits>

#include "core/cache/redis_store.hpp"
#include "core/cache/sqlite_store.hpp"

namespace dsm::cache {

namespace {

using verdict::DaneField;
using verdict::Destination;
using verdict::DnssecField;
using verdict::StsField;

constexpr std::string_view kVersion = "v2";
constexpr std::size_t kFields = 15;

constexpr std::array kDnssec = {DnssecField::secure, DnssecField::insecure, DnssecField::bogus,
                                DnssecField::error,  DnssecField::skipped,  DnssecField::pending};
constexpr std::array kDane = {DaneField::pass,   DaneField::unusable, DaneField::fail,
                              DaneField::none,   DaneField::error,    DaneField::skipped,
                              DaneField::pending};
constexpr std::array kSts = {StsField::enforce, StsField::testing, StsField::none,   StsField::fail,
                             StsField::error,   StsField::skipped, StsField::pending};

std::string_view destination_word(Destination d) {
    return d == Destination::address_literal ? "address_literal" : "dns_name";
}

void append_escaped(std::string& out, std::string_view s) {
    for (const char c : s) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\0':
                out += "\\0";
                break;
            default:
                out += c;
        }
    }
}

std::optional<std::string> unescape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' || s[i] == '\r' || s[i] == '\0') {
            return std::nullopt;  // never written raw: not a record of ours
        }
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        if (++i == s.size()) {
            return std::nullopt;
        }
        switch (s[i]) {
            case '\\':
                out += '\\';
                break;
            case 't':
                out += '\t';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case '0':
                out += '\0';
                break;
            default:
                return std::nullopt;
        }
    }
    return out;
}

// Canonical decimal only (what std::to_string writes): no sign but `-`, no
// leading zeros, no `-0`; so a record decodes to exactly one verdict.
std::optional<std::int64_t> parse_int(std::string_view s) {
    const std::string_view digits = s.starts_with('-') ? s.substr(1) : s;
    if (digits.empty() || (digits.front() == '0' && s.size() > 1)) {
        return std::nullopt;
    }
    std::int64_t v = 0;
    const auto* end = s.data() + s.size();
    const auto [ptr, ec] = std::from_chars(s.data(), end, v);
    if (ec != std::errc() || ptr != end) {
        return std::nullopt;
    }
    return v;
}

std::optional<bool> parse_bool(std::string_view s) {
    if (s == "0") {
        return false;
    }
    if (s == "1") {
        return true;
    }
    return std::nullopt;
}

template <typename Enum, std::size_t N>
std::optional<Enum> parse_enum(std::string_view s, const std::array<Enum, N>& all) {
    for (const Enum e : all) {
        if (verdict::to_string(e) == s) {
            return e;
        }
    }
    return std::nullopt;
}

std::int64_t to_ns(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_ns(std::int64_t ns) {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(ns)));
}

// HOST:PORT[/DB] after "redis://". HOST: a name, an IPv4 address or a
// bracketed IPv6 address; PORT defaults to 6379.
Result<RedisTarget> parse_redis(std::string_view rest, const std::string& spec) {
    const auto bad = [&](const std::string& why) {
        return Error{"cache store \"" + spec + "\": " + why + " (expected redis://HOST:PORT[/DB])"};
    };
    RedisTarget t;
    std::string_view hostport = rest;
    std::string_view db;
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
        hostport = rest.substr(0, slash);
        db = rest.substr(slash + 1);
        if (db.empty()) {
            return bad("empty database number");
        }
    }
    std::string_view port;
    if (!hostport.empty() && hostport.front() == '[') {
        const auto close = hostport.find(']');
        if (close == std::string_view::npos) {
            return bad("unclosed [");
        }
        t.host = std::string(hostport.substr(1, close - 1));
        const auto after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return bad("junk after ]");
            }
            port = after.substr(1);
            if (port.empty()) {
                return bad("empty port");
            }
        }
        if (t.host.empty() ||
            t.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
            return bad("bad IPv6 address");
        }
    } else {
        const auto colon = hostport.find(':');
        t.host = std::string(hostport.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = hostport.substr(colon + 1);
            if (port.empty()) {
                return bad("empty port");
            }
        }
        if (t.host.empty()) {
            return bad("no host");
        }
        if (t.host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789.-_") != std::string::npos) {
            return bad("bad host name (credentials and options are not supported)");
        }
    }
    if (!port.empty()) {
        const auto p = parse_int(port);
        if (!p || *p < 1 || *p > 65535) {
            return bad("bad port");
        }
        t.port = static_cast<std::uint16_t>(*p);
    }
    if (!db.empty()) {
        const auto n = parse_int(db);
        if (!n || *n < 0 || *n > std::numeric_limits<int>::max()) {
            return bad("bad database number");
        }
        t.db = static_cast<unsigned>(*n);
    }
    return t;
}

}  // namespace

Result<std::unique_ptr<Store>> make_store(const std::string& spec) {
    if (spec == "memory") {
        return std::unique_ptr<Store>();
    }
    constexpr std::string_view kSqlite = "sqlite:";
    constexpr std::string_view kRedis = "redis://";
    const std::string_view s = spec;
    if (s.starts_with(kSqlite)) {
        const std::string path(s.substr(kSqlite.size()));
        if (path.empty() || path.front() != '/' || path.back() == '/') {
            return Error{"cache store \"" + spec + "\": expected sqlite:/absolute/path/to/file"};
        }
        return std::unique_ptr<Store>(std::make_unique<SqliteStore>(path));
    }
    if (s.starts_with(kRedis)) {
        auto target = parse_redis(s.substr(kRedis.size()), spec);
        if (!target) {
            return Error{target.error()};
        }
        return std::unique_ptr<Store>(std::make_unique<RedisStore>(std::move(target).value()));
    }
    return Error{"cache store \"" + spec +
                 "\": expected memory, sqlite:/PATH or redis://HOST:PORT[/DB]"};
}

std::string encode_verdict(const StoredVerdict& v) {
    const auto& d = v.verdict;
    std::string out;
    out.reserve(128 + d.domain.size() + d.dane_why.size() + d.sts_why.size());
    const auto field = [&out](std::string_view s) {
        out += '\t';
        out += s;
    };
    out += kVersion;
    out += '\t';
    append_escaped(out, d.domain);
    field(destination_word(d.destination));
    field(verdict::to_string(d.dnssec));
    field(verdict::to_string(d.dane));
    field(verdict::to_string(d.sts));
    field(d.null_mx ? "1" : "0");
    field(d.nxdomain ? "1" : "0");
    field(d.mx_insecure ? "1" : "0");
    out += '\t';
    append_escaped(out, d.dane_why);
    out += '\t';
    append_escaped(out, d.sts_why);
    std::string patterns;
    for (const auto& p : d.sts_mx) {
        if (!patterns.empty()) {
            patterns += ' ';
        }
        patterns += p;
    }
    out += '\t';
    append_escaped(out, patterns);
    field(std::to_string(to_ns(d.at)));
    field(std::to_string(d.ttl.count()));
    field(std::to_string(to_ns(v.expires)));
    return out;
}

std::optional<StoredVerdict> decode_verdict(const std::string& text) {
    std::array<std::string_view, kFields> f{};
    std::size_t n = 0;
    std::size_t start = 0;
    for (;;) {
        const auto tab = text.find('\t', start);
        if (n == kFields) {
            return std::nullopt;  // more fields than this version has
        }
        f.at(n++) = std::string_view(text).substr(
            start, tab == std::string::npos ? std::string::npos : tab - start);
        if (tab == std::string::npos) {
            break;
        }
        start = tab + 1;
    }
    if (n != kFields || f[0] != kVersion) {
        return std::nullopt;
    }
    auto domain = unescape(f[1]);
    const auto dnssec = parse_enum(f[3], kDnssec);
    const auto dane = parse_enum(f[4], kDane);
    const auto sts = parse_enum(f[5], kSts);
    const auto null_mx = parse_bool(f[6]);
    const auto nxdomain = parse_bool(f[7]);
    const auto mx_insecure = parse_bool(f[8]);
    auto dane_why = unescape(f[9]);
    auto sts_why = unescape(f[10]);
    auto sts_mx = unescape(f[11]);
    const auto at = parse_int(f[12]);
    const auto ttl = parse_int(f[13]);
    const auto expires = parse_int(f[14]);
    const bool literal = f[2] == destination_word(Destination::address_literal);
    if (!literal && f[2] != destination_word(Destination::dns_name)) {
        return std::nullopt;
    }
    if (!domain || !dnssec || !dane || !sts || !null_mx || !nxdomain || !mx_insecure || !dane_why ||
        !sts_why || !at || !ttl || !expires || !sts_mx) {
        return std::nullopt;
    }
    StoredVerdict out;
    auto& d = out.verdict;
    d.domain = std::move(*domain);
    d.destination = literal ? Destination::address_literal : Destination::dns_name;
    d.dnssec = *dnssec;
    d.dane = *dane;
    d.sts = *sts;
    d.null_mx = *null_mx;
    d.nxdomain = *nxdomain;
    d.mx_insecure = *mx_insecure;
    d.dane_why = std::move(*dane_why);
    d.sts_why = std::move(*sts_why);
    d.at = from_ns(*at);
    d.ttl = std::chrono::seconds(*ttl);
    out.expires = from_ns(*expires);
    for (std::size_t pos = 0; pos < sts_mx->size();) {
        const auto space = sts_mx->find(' ', pos);
        const auto end = space == std::string::npos ? sts_mx->size() : space;
        if (end == pos) {
            return std::nullopt;  // an empty pattern: not a record this writes
        }
        d.sts_mx.emplace_back(sts_mx->substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

}  // namespace dsm::cache
