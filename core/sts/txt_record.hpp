// MTA-STS discovery record (RFC 8461 §3.1): TXT at _mta-sts.<domain>.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsm::sts {

struct StsTxt {
    std::string id;  // 1-32 alphanumerics
};

// Parses one TXT record (its character-strings already concatenated,
// §3.1). nullopt when it is not a valid STSv1 record: `v=STSv1` must come
// first; `id` is required; unknown fields are ignored; `why` (if given)
// receives the reason. Strictly the ABNF: case-sensitive, fields separated by
// *WSP ";" *WSP, one optional trailing ";", no leading or trailing whitespace
// otherwise; every field valid (a field named id must be 1-32 letters and
// digits, an extension's value printable ASCII without ";" or "="); a
// repeated id keeps its first value. Pure and thread-safe.
std::optional<StsTxt> parse_sts_txt(std::string_view record, std::string* why = nullptr);

struct TxtDiscovery {
    enum class Kind {
        found,    // exactly one valid STSv1 record
        none,     // no record starting with v=STSv1
        invalid,  // records start with v=STSv1 but none (or more than one) is valid
    };
    Kind kind = Kind::none;
    std::string id;
    std::string why;
};

// §3.1: records not starting with "v=STSv1;" are ignored; if the number of
// valid STSv1 records is not exactly one, the domain has no policy. A record
// counts as STSv1 when it starts with "v=STSv1" followed by its end, ";" or
// whitespace (the ABNF allows "v=STSv1 ;", RFC 8461 erratum 6285), so
// "v=STSv10" is another version and ignored. Several STSv1 records are
// `invalid` even when only one of them parses.
TxtDiscovery discover_sts(const std::vector<std::string>& txt_records);

}  // namespace dsm::sts
