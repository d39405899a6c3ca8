#include "core/verdict/verdict_builder.hpp"

#include <algorithm>

#include "core/dane/dane_lookup.hpp"
#include "core/verdict/dane_verdict.hpp"

namespace dsm::verdict {

namespace {

StsField sts_field(sts::StsState s) {
    switch (s) {
        case sts::StsState::enforce: return StsField::enforce;
        case sts::StsState::testing: return StsField::testing;
        case sts::StsState::none: return StsField::none;
        case sts::StsState::fail: return StsField::fail;
        case sts::StsState::error: return StsField::error;
    }
    return StsField::error;
}

}  // namespace

DomainFacts VerdictBuilder::lookup(const std::string& domain, bool with_sts) const {
    DomainFacts facts;
    facts.dane = dane::lookup_dane(resolver_, domain);
    // A null MX or a domain that does not exist takes no mail: no policy can
    // change that.
    if (!with_sts || fetcher_ == nullptr || facts.dane.null_mx || facts.dane.nxdomain) {
        return facts;
    }
    std::vector<std::string> hosts;
    hosts.reserve(facts.dane.hosts.size());
    for (const auto& h : facts.dane.hosts) {
        hosts.push_back(h.name);
    }
    facts.sts = sts::lookup_sts(resolver_, *fetcher_, policies_, domain, hosts, clock_.now());
    return facts;
}

DomainVerdict VerdictBuilder::compute(const std::string& domain, bool with_sts) const {
    return verdict_from_facts(lookup(domain, with_sts), clock_.wall());
}

DomainVerdict verdict_from_facts(const DomainFacts& facts,
                                 std::chrono::system_clock::time_point now) {
    DomainVerdict v = verdict_from_dane(facts.dane, now);
    if (facts.sts) {
        v.sts = sts_field(facts.sts->state);
        v.sts_why = facts.sts->why;
        if (facts.sts->policy) {
            v.sts_mx = facts.sts->policy->mx;
        }
        if (facts.sts->ttl.count() > 0) {
            v.ttl = v.ttl.count() > 0 ? std::min(v.ttl, facts.sts->ttl) : facts.sts->ttl;
        }
    }
    return v;
}

}  // namespace dsm::verdict
