#include "core/sts/sts_lookup.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/dns/rdata.hpp"
#include "core/sts/mx_pattern.hpp"

namespace dsm::sts {

std::string_view to_string(StsState s) {
    switch (s) {
        case StsState::enforce:
            return "enforce";
        case StsState::testing:
            return "testing";
        case StsState::none:
            return "none";
        case StsState::fail:
            return "fail";
        case StsState::error:
            return "error";
    }
    return "?";
}

namespace {

void discover(dns::Resolver& resolver, StsFacts& f) {
    f.txt_name = "_mta-sts." + f.domain;
    const auto answer = resolver.query(f.txt_name, dns::RrType::txt);
    f.txt_outcome = answer.outcome;
    f.txt_dnssec = answer.dnssec;
    f.ttl = std::chrono::seconds(answer.ttl);
    if (answer.outcome == dns::DnsOutcome::answer && answer.dnssec != dns::DnssecState::bogus) {
        for (const auto& rdata : answer.records) {
            if (auto txt = dns::parse_txt_rdata(rdata)) {
                f.txt_records.push_back(std::move(*txt));
            }
        }
    }
    if (answer.outcome == dns::DnsOutcome::tempfail || answer.dnssec == dns::DnssecState::bogus) {
        f.discovery.kind = TxtDiscovery::Kind::none;
        f.discovery.why = fmt::format("TXT lookup for {} failed: {}", f.txt_name,
                                      !answer.why_bogus.empty() ? answer.why_bogus
                                      : !answer.error.empty()   ? answer.error
                                                                : "no answer");
        return;
    }
    f.discovery = discover_sts(f.txt_records);
}

// §3.3: fetch, parse, and on success make it the policy in force.
bool fetch_policy(PolicyFetcher& fetcher, PolicyCache& cache, StsFacts& f,
                  std::chrono::steady_clock::time_point now) {
    f.fetch = fetcher.fetch(f.domain);
    if (f.fetch->outcome != FetchOutcome::ok) {
        cache.note_failure(f.domain, f.discovery.id, now);
        return false;
    }
    auto parsed = parse_policy(f.fetch->body);
    if (!parsed) {
        f.parse_error = parsed.error();
        cache.note_failure(f.domain, f.discovery.id, now);
        return false;
    }
    PolicyCache::Entry e;
    e.policy = *parsed;
    e.id = f.discovery.id;
    e.fetched = now;
    e.fetched_wall = std::chrono::system_clock::now();
    cache.put(f.domain, e);
    f.policy = std::move(*parsed);
    f.policy_id = f.discovery.id;
    return true;
}

std::string fetch_failure(const StsFacts& f) {
    if (f.fetch_skipped_after_failure) {
        return fmt::format("fetching policy id {} failed less than 5 minutes ago", f.discovery.id);
    }
    if (!f.parse_error.empty()) {
        return "the policy of " + f.domain + " is invalid: " + f.parse_error;
    }
    if (f.fetch) {
        return fmt::format("fetching {} failed ({}): {}", f.fetch->url, to_string(f.fetch->outcome),
                           f.fetch->error);
    }
    return "no policy";
}

// §3.3: the administrator hears of a failed refresh of a policy in force
// (one line per failed fetch; retries are 5 minutes apart), unless the policy
// is mode none, which protects nothing.
void warn_failed_refresh(const StsFacts& f, const PolicyCache::Entry& cached,
                         std::chrono::steady_clock::time_point now) {
    if (cached.policy.mode == PolicyMode::none) {
        return;
    }
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(cached.expires() - now);
    spdlog::warn(
        "sts_refresh=failed domain={} mode={} cached_id={} txt_id={} expires_in={}s "
        "error=\"{}\"",
        f.domain, to_string(cached.policy.mode), cached.id,
        f.discovery.kind == TxtDiscovery::Kind::found ? f.discovery.id : "-", left.count(),
        fetch_failure(f));
}

void classify(StsFacts& f, const std::vector<std::string>& mx_hosts) {
    const Policy& p = *f.policy;
    for (const auto& host : mx_hosts) {
        MxEligibility m{host, false};
        for (const auto& pattern : p.mx) {
            if (mx_pattern_matches(pattern, host)) {
                m.eligible = true;
                break;
            }
        }
        f.mx.push_back(std::move(m));
    }
    const std::string source =
        f.policy_from_cache ? fmt::format(" (cached policy id {})", f.policy_id) : "";
    switch (p.mode) {
        case PolicyMode::none:
            f.state = StsState::none;
            f.why = "policy mode none" + source;
            return;
        case PolicyMode::testing:
            // §5: a testing policy is reported, never enforced.
            f.state = StsState::testing;
            f.why = "policy mode testing" + source;
            return;
        case PolicyMode::enforce:
            break;
    }
    if (mx_hosts.empty()) {
        f.state = StsState::error;
        f.why = "enforce policy, but the MX hosts are unknown (MX lookup failed)" + source;
        return;
    }
    for (const auto& m : f.mx) {
        if (m.eligible) {
            f.state = StsState::enforce;
            f.why = fmt::format("enforce policy{}; MX {} matches", source, m.host);
            return;
        }
    }
    // §4.1: MX hosts matching no pattern are not eligible; with none left
    // the message cannot be delivered under the policy.
    f.state = StsState::fail;
    f.why = fmt::format("no MX host of {} matches the mx patterns of its enforce policy{}",
                        f.domain, source);
}

}  // namespace

StsFacts lookup_sts(dns::Resolver& resolver, PolicyFetcher& fetcher, PolicyCache& cache,
                    const std::string& domain, const std::vector<std::string>& mx_hosts,
                    std::chrono::steady_clock::time_point now) {
    StsFacts f;
    f.domain = domain;
    discover(resolver, f);

    const auto cached = cache.get(domain, now);
    auto use_cached = [&] {
        f.policy = cached->policy;
        f.policy_id = cached->id;
        f.policy_from_cache = true;
    };

    if (f.discovery.kind != TxtDiscovery::Kind::found) {
        // §5.1: a missing TXT record does not end a cached policy early; an
        // attacker could strip it (§10.2).
        if (cached) {
            use_cached();
        } else {
            f.state = StsState::none;
            f.why = f.discovery.why.empty() ? "no MTA-STS TXT record" : f.discovery.why;
            return f;
        }
    } else if (cached && cached->id == f.discovery.id && !cached->refresh_due(now)) {
        use_cached();  // §3.3: same id, the cached policy is current
    } else if (cache.failed_recently(domain, f.discovery.id, now)) {
        f.fetch_skipped_after_failure = true;
        if (cached) {
            use_cached();
        }
    } else if (!fetch_policy(fetcher, cache, f, now) && cached) {
        // §5.1: a failed refresh keeps the unexpired cached policy in force.
        use_cached();
    }

    if (!f.policy) {
        f.state = StsState::error;
        f.why = fetch_failure(f);
        if (f.fetch && f.fetch->outcome != FetchOutcome::ok) {
            // The administrator hears why a published policy could not be
            // had (RFC 8461 §3.3 failures: timeout, size, status...), once
            // per fetch (retries are 5 minutes apart), key=value like the
            // decision lines (SPEC §4).
            std::string error = f.fetch->error;  // one quoted value: no '"' inside
            std::replace(error.begin(), error.end(), '"', '\'');
            spdlog::warn("sts_fetch=failed domain={} url={} outcome={} took_ms={} error=\"{}\"",
                         f.domain, f.fetch->url, to_string(f.fetch->outcome), f.fetch->took.count(),
                         error);
        }
        return f;
    }
    classify(f, mx_hosts);
    if (f.policy_from_cache && (f.fetch || f.fetch_skipped_after_failure)) {
        f.why += "; refreshing it failed: " + fetch_failure(f);
        if (f.fetch) {
            warn_failed_refresh(f, *cached, now);
        }
    }
    return f;
}

}  // namespace dsm::sts
