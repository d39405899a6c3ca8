// A dns::Resolver that counts and times every lookup of the one it wraps
// (dane_sts_milter_lookups_total, dane_sts_milter_lookup_duration_seconds),
// so the real resolver stays free of metrics.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/dns/resolver.hpp"
#include "core/metrics/milter_metrics.hpp"

namespace dsm::metrics {

// The `kind` of a lookup: MX -> mx, A/AAAA -> address, TLSA -> tlsa, TXT at
// _mta-sts.* -> sts_txt (RFC 8461 §3.1), anything else -> other_dns.
LookupKind dns_kind(const std::string& name, dns::RrType type);
// The `outcome`: bogus (validation failed), timeout, error (other temporary
// failures), nxdomain, else the DNSSEC state of the answer (secure, insecure).
std::string_view dns_outcome(const dns::DnsAnswer& answer);

class MeteredResolver final : public dns::Resolver {
  public:
    // `metrics` must outlive this resolver.
    MeteredResolver(std::unique_ptr<dns::Resolver> inner, MilterMetrics& metrics)
        : inner_(std::move(inner)), metrics_(metrics) {}

    dns::DnsAnswer query(const std::string& name, dns::RrType type) override;
    std::size_t shutdown() override { return inner_->shutdown(); }

  private:
    std::unique_ptr<dns::Resolver> inner_;
    MilterMetrics& metrics_;
};

}  // namespace dsm::metrics
