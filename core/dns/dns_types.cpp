#include "core/dns/dns_types.hpp"

#include "core/util/ascii.hpp"

namespace dsm::dns {

namespace {

namespace ascii = util::ascii;

std::string_view without_final_dot(std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    return name;
}

// DNS names compare case-insensitively in ASCII only (RFC 4343 §3).
bool same_name(std::string_view a, std::string_view b) {
    return ascii::iequals(without_final_dot(a), without_final_dot(b));
}

}  // namespace

std::string_view to_string(DnsOutcome o) {
    switch (o) {
        case DnsOutcome::answer:
            return "answer";
        case DnsOutcome::nodata:
            return "nodata";
        case DnsOutcome::nxdomain:
            return "nxdomain";
        case DnsOutcome::tempfail:
            return "tempfail";
    }
    return "unknown";
}

std::string_view to_string(DnssecState s) {
    switch (s) {
        case DnssecState::secure:
            return "secure";
        case DnssecState::insecure:
            return "insecure";
        case DnssecState::bogus:
            return "bogus";
        case DnssecState::indeterminate:
            return "indeterminate";
    }
    return "unknown";
}

std::string_view to_string(RrType t) {
    switch (t) {
        case RrType::a:
            return "A";
        case RrType::cname:
            return "CNAME";
        case RrType::mx:
            return "MX";
        case RrType::txt:
            return "TXT";
        case RrType::aaaa:
            return "AAAA";
        case RrType::tlsa:
            return "TLSA";
    }
    return "unknown";
}

bool DnsAnswer::cname_expanded() const {
    return !canonical_name.empty() && !same_name(canonical_name, qname);
}

}  // namespace dsm::dns
