// The MTA-STS walk for one domain (RFC 8461 §3, §4, §5): TXT discovery,
// policy from the cache or a fetch, and MX eligibility. Every step is kept
// for the log and --check.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dns/resolver.hpp"
#include "core/sts/policy.hpp"
#include "core/sts/policy_cache.hpp"
#include "core/sts/policy_fetcher.hpp"
#include "core/sts/txt_record.hpp"

namespace dsm::sts {

// The domain's MTA-STS state, in SPEC §4's words for the `sts` field.
enum class StsState {
    enforce,  // enforce policy and at least one eligible MX
    testing,  // testing policy (§5: report only, deliver anyway)
    none,     // no policy, or policy mode none
    fail,     // enforce policy and no MX matches any `mx` pattern (§4.1)
    error,    // TXT record present, policy unobtainable, nothing cached
};
std::string_view to_string(StsState s);

struct MxEligibility {
    std::string host;
    bool eligible = false;  // matches an `mx` pattern of the policy
};

struct StsFacts {
    std::string domain;
    // Discovery (§3.1).
    std::string txt_name;  // _mta-sts.<domain>
    dns::DnsOutcome txt_outcome = dns::DnsOutcome::tempfail;
    dns::DnssecState txt_dnssec = dns::DnssecState::indeterminate;
    std::vector<std::string> txt_records;
    TxtDiscovery discovery;
    // Fetch (§3.3), when one was made.
    std::optional<FetchResult> fetch;
    std::string parse_error;                   // the fetched body did not parse
    bool fetch_skipped_after_failure = false;  // same id failed < 5 minutes ago
    // The policy in force, if any.
    std::optional<Policy> policy;
    std::string policy_id;
    bool policy_from_cache = false;
    std::vector<MxEligibility> mx;
    StsState state = StsState::none;
    std::chrono::seconds ttl{0};  // the TXT record's TTL
    std::string why;              // one plain line
};

// `mx_hosts`: the domain's MX host names (lowest preference first; the domain
// itself for an implicit MX; empty when the MX lookup failed). `now` drives
// the policy cache. Blocking; thread-safe as far as its arguments are.
StsFacts lookup_sts(dns::Resolver& resolver, PolicyFetcher& fetcher, PolicyCache& cache,
                    const std::string& domain, const std::vector<std::string>& mx_hosts,
                    std::chrono::steady_clock::time_point now);

}  // namespace dsm::sts
