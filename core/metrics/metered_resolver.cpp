#include "core/metrics/metered_resolver.hpp"

#include <strings.h>

namespace dsm::metrics {

LookupKind dns_kind(const std::string& name, dns::RrType type) {
    switch (type) {
        case dns::RrType::mx:
            return LookupKind::mx;
        case dns::RrType::a:
        case dns::RrType::aaaa:
            return LookupKind::address;
        case dns::RrType::tlsa:
            return LookupKind::tlsa;
        case dns::RrType::txt:
            return strncasecmp(name.c_str(), "_mta-sts.", 9) == 0 ? LookupKind::sts_txt
                                                                  : LookupKind::other_dns;
        case dns::RrType::cname:
            break;
    }
    return LookupKind::other_dns;
}

std::string_view dns_outcome(const dns::DnsAnswer& answer) {
    // Bogus first: the resolver reports it as a temporary failure too.
    if (answer.dnssec == dns::DnssecState::bogus) {
        return "bogus";
    }
    if (answer.outcome == dns::DnsOutcome::tempfail) {
        return answer.error.find("timeout") != std::string::npos ? "timeout" : "error";
    }
    if (answer.outcome == dns::DnsOutcome::nxdomain) {
        return "nxdomain";
    }
    switch (answer.dnssec) {
        case dns::DnssecState::secure:
            return "secure";
        case dns::DnssecState::insecure:
            return "insecure";
        default:
            return "error";
    }
}

dns::DnsAnswer MeteredResolver::query(const std::string& name, dns::RrType type) {
    const auto start = std::chrono::steady_clock::now();
    dns::DnsAnswer answer = inner_->query(name, type);
    metrics_.lookup(dns_kind(name, type), dns_outcome(answer),
                    std::chrono::steady_clock::now() - start);
    return answer;
}

}  // namespace dsm::metrics
