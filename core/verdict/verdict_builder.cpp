#include "core/verdict/verdict_builder.hpp"

#include <algorithm>

#include "core/dane/dane_lookup.hpp"
#include "core/verdict/dane_verdict.hpp"

namespace dsm::verdict {

namespace {

StsField sts_field(sts::StsState s) {
    switch (s) {
        case sts::StsState::enforce:
            return StsField::enforce;
        case sts::StsState::testing:
            return StsField::testing;
        case sts::StsState::none:
            return StsField::none;
        case sts::StsState::fail:
            return StsField::fail;
        case sts::StsState::error:
            return StsField::error;
    }
    return StsField::error;
}

// SPEC §5: a probe that fails counts, one that finds nobody listening does
// not (the MX may be down); `fail` only when no probe verified.
bool probes_failed(const std::vector<probe::ProbeResult>& probes) {
    bool verified = false;
    bool failure = false;
    for (const auto& r : probes) {
        verified = verified || r.outcome == probe::ProbeOutcome::verified;
        failure = failure || probe::is_failure(r.outcome);
    }
    return !verified && failure;
}

// "host (result-type): detail; ..." for the probes `pick` selects: one line
// for sts_why / dane_why, so that the log, the reply text and --check say
// which MX failed and how (RFC 8460 §4.3 result types).
template <typename Pick>
std::string probe_list(const std::vector<probe::ProbeResult>& probes, Pick pick) {
    std::string out;
    for (const auto& r : probes) {
        if (!pick(r)) {
            continue;
        }
        if (!out.empty()) {
            out += "; ";
        }
        const std::string_view type = probe::result_type(r.outcome);
        out += r.host + " (" + std::string(type.empty() ? probe::to_string(r.outcome) : type) + ")";
        if (!r.detail.empty()) {
            out += ": " + r.detail;
        }
    }
    return out;
}

std::string probe_summary(const std::vector<probe::ProbeResult>& probes) {
    return probe_list(probes,
                      [](const probe::ProbeResult& r) { return probe::is_failure(r.outcome); });
}

bool any_verified(const std::vector<probe::ProbeResult>& probes) {
    return std::any_of(probes.begin(), probes.end(), [](const probe::ProbeResult& r) {
        return r.outcome == probe::ProbeOutcome::verified;
    });
}

}  // namespace

void VerdictBuilder::probe_hosts(DomainFacts& facts) const {
    if (prober_ == nullptr) {
        return;
    }
    // DANE MXs: OpenSSL's DANE verification against their TLSA records.
    for (const auto& h : facts.dane.hosts) {
        if (h.dane == dane::MxDane::dane && !h.addresses.empty()) {
            facts.dane_probes.push_back(probe::probe_dane_host(*prober_, h, h.addresses.front()));
        }
    }
    // MTA-STS-eligible MXs that DANE does not govern (RFC 8461 §2): WebPKI
    // with the MX name (§4.2). Testing policies too: §5 wants their failures
    // reported, though never enforced (verdict_from_facts keeps them testing).
    if (facts.sts && (facts.sts->state == sts::StsState::enforce ||
                      facts.sts->state == sts::StsState::testing)) {
        for (const auto& m : facts.sts->mx) {
            if (!m.eligible) {
                continue;
            }
            for (const auto& h : facts.dane.hosts) {
                if (h.name == m.host && h.dane != dane::MxDane::dane && !h.addresses.empty()) {
                    facts.sts_probes.push_back(prober_->probe_webpki(h.name, h.addresses.front()));
                }
            }
        }
    }
}

DomainFacts VerdictBuilder::lookup(const std::string& domain, bool with_sts) const {
    DomainFacts facts;
    facts.dane = dane::lookup_dane(resolver_, domain);
    // A null MX or a domain that does not exist takes no mail: no policy can
    // change that.
    if (!with_sts || fetcher_ == nullptr || facts.dane.null_mx || facts.dane.nxdomain) {
        probe_hosts(facts);
        return facts;
    }
    std::vector<std::string> hosts;
    hosts.reserve(facts.dane.hosts.size());
    for (const auto& h : facts.dane.hosts) {
        hosts.push_back(h.name);
    }
    facts.sts = sts::lookup_sts(resolver_, *fetcher_, policies_, domain, hosts, clock_.now());
    probe_hosts(facts);
    return facts;
}

DomainVerdict VerdictBuilder::compute(const std::string& domain, bool with_sts) const {
    return verdict_from_facts(lookup(domain, with_sts), clock_.wall());
}

DomainVerdict verdict_from_facts(const DomainFacts& facts,
                                 std::chrono::system_clock::time_point now) {
    DomainVerdict v = verdict_from_dane(facts.dane, now);
    if (v.dane == DaneField::pass && probes_failed(facts.dane_probes)) {
        v.dane = DaneField::fail;
        v.dane_why = "no DANE MX presented a certificate matching its TLSA records: " +
                     probe_summary(facts.dane_probes);
    }
    if (facts.sts) {
        v.sts = sts_field(facts.sts->state);
        v.sts_why = facts.sts->why;
        if (facts.sts->policy) {
            v.sts_mx = facts.sts->policy->mx;
        }
        if (v.sts == StsField::enforce && probes_failed(facts.sts_probes)) {
            v.sts = StsField::fail;
            v.sts_why =
                "no eligible MX host passed the STARTTLS probe: " + probe_summary(facts.sts_probes);
        } else if (v.sts == StsField::enforce && !facts.sts_probes.empty() &&
                   !any_verified(facts.sts_probes)) {
            // SPEC §5: a MX that does not answer may merely be down, so no
            // answer from any of them is not a failure: the domain stays
            // enforce (require=sts), and the MTA verifies the certificate
            // itself when it delivers (the policy map's "secure match=").
            // Deferring here would add nothing but a second queue.
            v.sts_why +=
                "; no eligible MX host answered the STARTTLS probe (not a failure by "
                "itself, SPEC §5): " +
                probe_list(facts.sts_probes, [](const probe::ProbeResult&) { return true; });
        } else if (v.sts == StsField::testing && probes_failed(facts.sts_probes)) {
            // RFC 8461 §5: testing mode reports failures and delivers anyway.
            v.sts_why +=
                "; testing policy, so reported only: no eligible MX host passed the "
                "STARTTLS probe: " +
                probe_summary(facts.sts_probes);
        }
        if (facts.sts->ttl.count() > 0) {
            v.ttl = v.ttl.count() > 0 ? std::min(v.ttl, facts.sts->ttl) : facts.sts->ttl;
        }
    }
    return v;
}

}  // namespace dsm::verdict
