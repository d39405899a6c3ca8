// All lookups for one domain (RFC 7672 DANE walk, then RFC 8461 MTA-STS) and
// the verdict they make. Runs on lookup threads, never on the RCPT path.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/dane/dane_facts.hpp"
#include "core/dns/resolver.hpp"
#include "core/probe/probe.hpp"
#include "core/sts/sts_lookup.hpp"
#include "core/util/clock.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::verdict {

struct DomainFacts {
    dane::DaneFacts dane;
    std::optional<sts::StsFacts> sts;  // absent: MTA-STS not looked at (`skipped`)
    // STARTTLS probes (SPEC §5), when [probe] is enabled.
    std::vector<probe::ProbeResult> dane_probes;  // one per DANE MX
    std::vector<probe::ProbeResult> sts_probes;   // one per MTA-STS-eligible MX
};

class VerdictBuilder {
  public:
    // `fetcher` and `policies` must outlive the builder; `fetcher` may be null
    // (then MTA-STS is always `skipped`). Thread-safe.
    // `prober` may be null: no STARTTLS probes ([probe] enabled = no).
    VerdictBuilder(dns::Resolver& resolver, sts::PolicyFetcher* fetcher, sts::PolicyCache& policies,
                   const util::Clock& clock, probe::Prober* prober = nullptr)
        : resolver_(resolver),
          fetcher_(fetcher),
          policies_(policies),
          clock_(clock),
          prober_(prober) {}

    // `with_sts`: false when no connector covering the domain validates
    // MTA-STS, so nothing is fetched for it (SPEC §4: mta_sts = none never
    // fetches).
    [[nodiscard]] DomainFacts lookup(const std::string& domain, bool with_sts) const;
    [[nodiscard]] DomainVerdict compute(const std::string& domain, bool with_sts) const;

  private:
    void probe_hosts(DomainFacts& facts) const;

    dns::Resolver& resolver_;
    sts::PolicyFetcher* fetcher_;
    sts::PolicyCache& policies_;
    const util::Clock& clock_;
    probe::Prober* prober_;
};

// The `dnssec`/`dane`/`sts` fields from the facts (SPEC §4).
DomainVerdict verdict_from_facts(const DomainFacts& facts,
                                 std::chrono::system_clock::time_point now);

}  // namespace dsm::verdict
