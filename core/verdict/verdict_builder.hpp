// All lookups for one domain (RFC 7672 DANE walk, then RFC 8461 MTA-STS) and
// the verdict they make. Runs on lookup threads, never on the RCPT path.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/cache/clock.hpp"
#include "core/dane/dane_facts.hpp"
#include "core/dns/resolver.hpp"
#include "core/sts/sts_lookup.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::verdict {

struct DomainFacts {
    dane::DaneFacts dane;
    std::optional<sts::StsFacts> sts;  // absent: MTA-STS not looked at (`skipped`)
};

class VerdictBuilder {
public:
    // `fetcher` and `policies` must outlive the builder; `fetcher` may be null
    // (then MTA-STS is always `skipped`). Thread-safe.
    VerdictBuilder(dns::Resolver& resolver, sts::PolicyFetcher* fetcher,
                   sts::PolicyCache& policies, const cache::Clock& clock)
        : resolver_(resolver), fetcher_(fetcher), policies_(policies), clock_(clock) {}

    // `with_sts`: false when no connector covering the domain validates
    // MTA-STS, so nothing is fetched for it (SPEC §4: mta_sts = none never
    // fetches).
    [[nodiscard]] DomainFacts lookup(const std::string& domain, bool with_sts) const;
    [[nodiscard]] DomainVerdict compute(const std::string& domain, bool with_sts) const;

private:
    dns::Resolver& resolver_;
    sts::PolicyFetcher* fetcher_;
    sts::PolicyCache& policies_;
    const cache::Clock& clock_;
};

// The `dnssec`/`dane`/`sts` fields from the facts (SPEC §4).
DomainVerdict verdict_from_facts(const DomainFacts& facts,
                                 std::chrono::system_clock::time_point now);

}  // namespace dsm::verdict
