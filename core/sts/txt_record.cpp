#include "core/sts/txt_record.hpp"

#include <cstddef>

#include "core/address/recipient.hpp"
#include "core/util/ascii.hpp"

namespace dsm::sts {
namespace {

// §3.1, ABNF (RFC 7405 %s marks case-sensitive strings):
//   sts-text-record = sts-version 1*(sts-field-delim sts-field)
//                     [sts-field-delim]
//   sts-field       = sts-id / sts-extension
//   sts-field-delim = *WSP ";" *WSP
//   sts-version     = %s"v=STSv1"
//   sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
//   sts-extension   = sts-ext-name "=" sts-ext-value
//   sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
//   sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
constexpr std::string_view kVersion = "v=STSv1";
constexpr std::size_t kMaxIdOctets = 32;
constexpr std::size_t kMaxExtNameOctets = 32;

bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}
bool is_ext_value_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7e && c != ';' && c != '=';
}

bool valid_ext_name(std::string_view n) {
    if (n.empty() || n.size() > kMaxExtNameOctets || !util::ascii::is_alnum(n.front())) {
        return false;
    }
    for (const char c : n) {
        if (!util::ascii::is_alnum(c) && c != '_' && c != '-' && c != '.') {
            return false;
        }
    }
    return true;
}

bool valid_ext_value(std::string_view v) {
    if (v.empty()) {
        return false;
    }
    for (const char c : v) {
        if (!is_ext_value_char(c)) {
            return false;
        }
    }
    return true;
}

bool valid_id(std::string_view v) {
    if (v.empty() || v.size() > kMaxIdOctets) {
        return false;
    }
    for (const char c : v) {
        if (!util::ascii::is_alnum(c)) {
            return false;
        }
    }
    return true;
}

// The version token ends where the record does, or at a delimiter. Without
// this "v=STSv10; id=1" would pass for STSv1.
bool starts_with_version(std::string_view record) {
    if (!record.starts_with(kVersion)) {
        return false;
    }
    return record.size() == kVersion.size() || record[kVersion.size()] == ';' ||
           is_wsp(record[kVersion.size()]);
}

std::string quoted(std::string_view s) {
    return "\"" + address::printable(s, 40) + "\"";
}

bool fail(std::string* why, std::string reason) {
    if (why != nullptr) {
        *why = std::move(reason);
    }
    return false;
}

// One sts-field (between delimiters). `id` receives the first sts-id.
bool parse_field(std::string_view field, std::string& id, std::string* why) {
    if (field.empty()) {
        return fail(why, R"(empty field between two ";")");
    }
    const std::size_t eq = field.find('=');
    if (eq == std::string_view::npos) {
        return fail(why, "field " + quoted(field) + " is not name=value");
    }
    const std::string_view name = field.substr(0, eq);
    const std::string_view value = field.substr(eq + 1);
    if (name == "id") {
        // "id" is also a syntactically valid sts-ext-name; a field named id
        // that is not a valid sts-id must not slip through as an extension.
        if (!valid_id(value)) {
            return fail(why, "id " + quoted(value) + " is not 1 to 32 letters and digits");
        }
        // §3.2 (applies to both formats): a repeated field keeps its first
        // value.
        if (id.empty()) {
            id = std::string(value);
        }
        return true;
    }
    if (!valid_ext_name(name)) {
        return fail(why, "field name " + quoted(name) + " is not a valid extension name");
    }
    if (!valid_ext_value(value)) {
        return fail(why, "field " + quoted(name) + " has an invalid value " + quoted(value));
    }
    // Unknown fields are ignored (§3.2); a repeated "v" is a repeated field.
    return true;
}

// sts-field-delim at `pos`: *WSP ";" *WSP. Returns the position after it,
// or npos when there is no ";".
std::size_t skip_delim(std::string_view s, std::size_t pos) {
    while (pos < s.size() && is_wsp(s[pos])) {
        ++pos;
    }
    if (pos >= s.size() || s[pos] != ';') {
        return std::string_view::npos;
    }
    ++pos;
    while (pos < s.size() && is_wsp(s[pos])) {
        ++pos;
    }
    return pos;
}

}  // namespace

std::optional<StsTxt> parse_sts_txt(std::string_view record, std::string* why) {
    if (!starts_with_version(record)) {
        fail(why, "does not start with \"v=STSv1\"");
        return std::nullopt;
    }
    std::string id;
    std::size_t pos = kVersion.size();
    while (pos < record.size()) {
        const std::size_t next = skip_delim(record, pos);
        if (next == std::string_view::npos) {
            fail(why, "expected \";\" before " + quoted(record.substr(pos)));
            return std::nullopt;
        }
        if (next == record.size()) {
            break;  // the optional trailing sts-field-delim
        }
        // A field runs to the next WSP or ";": neither can occur inside one.
        std::size_t end = next;
        while (end < record.size() && record[end] != ';' && !is_wsp(record[end])) {
            ++end;
        }
        if (!parse_field(record.substr(next, end - next), id, why)) {
            return std::nullopt;
        }
        pos = end;
    }
    if (id.empty()) {
        fail(why, "no id field");
        return std::nullopt;
    }
    return StsTxt{std::move(id)};
}

TxtDiscovery discover_sts(const std::vector<std::string>& txt_records) {
    TxtDiscovery out;
    const std::string* candidate = nullptr;
    std::size_t candidates = 0;
    for (const auto& r : txt_records) {
        if (starts_with_version(r)) {
            candidate = &r;
            ++candidates;
        }
    }
    if (candidates == 0) {
        out.kind = TxtDiscovery::Kind::none;
        return out;
    }
    if (candidates > 1) {
        out.kind = TxtDiscovery::Kind::invalid;
        out.why = std::to_string(candidates) +
                  " TXT records start with v=STSv1; exactly one is allowed (RFC 8461 §3.1)";
        return out;
    }
    std::string why;
    auto txt = parse_sts_txt(*candidate, &why);
    if (!txt) {
        out.kind = TxtDiscovery::Kind::invalid;
        out.why = "invalid TXT record " + quoted(*candidate) + ": " + why;
        return out;
    }
    out.kind = TxtDiscovery::Kind::found;
    out.id = std::move(txt->id);
    return out;
}

}  // namespace dsm::sts
