// DNS answers as two separate axes (STYLE §2): what the lookup returned
// (DnsOutcome) and how far DNSSEC vouches for it (DnssecState, the words of
// RFC 4033 §5 / RFC 4035 §4.3).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dsm::dns {

enum class RrType : std::uint16_t {
    a = 1,
    cname = 5,
    mx = 15,
    txt = 16,
    aaaa = 28,
    tlsa = 52,
};

enum class DnsOutcome {
    answer,    // NOERROR with records of the type asked
    nodata,    // NOERROR, the name exists, no records of that type
    nxdomain,  // the name does not exist
    tempfail,  // SERVFAIL, timeout, network error: nothing is known
};

enum class DnssecState {
    secure,         // validated chain of trust from a trust anchor
    insecure,       // provably unsigned (no DS at some delegation)
    bogus,          // should be signed but validation failed
    indeterminate,  // no answer to validate (tempfail)
};

std::string_view to_string(DnsOutcome o);
std::string_view to_string(DnssecState s);
std::string_view to_string(RrType t);

// One lookup's result. `records` hold the rdata in wire format (libunbound
// hands names uncompressed). `ttl` is the TTL of the answer (the negative TTL
// for nodata/nxdomain). `canonical_name` is the name after CNAME expansion
// (equal to the query name when there was none). `why_bogus` keeps
// libunbound's explanation for the log and --check.
struct DnsAnswer {
    std::string qname;
    RrType qtype = RrType::a;
    DnsOutcome outcome = DnsOutcome::tempfail;
    DnssecState dnssec = DnssecState::indeterminate;
    std::uint32_t ttl = 0;
    std::string canonical_name;
    std::vector<std::vector<std::uint8_t>> records;
    std::string why_bogus;
    std::string error;  // resolver-level error text for tempfail (timeout, ...)

    [[nodiscard]] bool cname_expanded() const;
};

}  // namespace dsm::dns
