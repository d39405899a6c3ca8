#include "core/pipeline/recipient_check.hpp"

#include <fmt/format.h>

namespace dsm::pipeline {

verdict::DomainVerdict skipped_verdict(std::string domain,
                                       std::chrono::system_clock::time_point now) {
    verdict::DomainVerdict v;
    v.domain = std::move(domain);
    v.dnssec = verdict::DnssecField::skipped;
    v.dane = verdict::DaneField::skipped;
    v.sts = verdict::StsField::skipped;
    v.at = now;
    return v;
}

RecipientCheck check_recipient(const config::Config& config, cache::VerdictCache& cache,
                               std::string_view envelope_recipient,
                               std::string_view sender_domain) {
    RecipientCheck out;
    out.recipient = address::parse_recipient(envelope_recipient);
    const auto& r = out.recipient;

    switch (r.kind) {
        case address::RecipientKind::local:
            out.decision.row = 0;
            return out;
        case address::RecipientKind::invalid:
            // SPEC §3: never looked up.
            out.decision.row = 0;
            out.decision.action = decision::Action::reject;
            out.decision.would = decision::Action::reject;
            out.decision.reply_code = "550";
            out.decision.enhanced_code = "5.1.3";
            out.decision.reply_text = fmt::format("bad recipient address syntax: {}", r.error);
            return out;
        case address::RecipientKind::address_literal:
        case address::RecipientKind::domain:
            break;
    }

    const config::Connector& c = config.connectors.select(r.domain, sender_domain);
    out.connector = &c;
    if (c.validates_nothing()) {
        out.verdict = std::make_shared<const verdict::DomainVerdict>(
            skipped_verdict(r.domain, std::chrono::system_clock::now()));
    } else if (r.kind == address::RecipientKind::address_literal) {
        out.verdict = std::make_shared<const verdict::DomainVerdict>(
            verdict::address_literal_verdict(r.domain));
    } else {
        out.verdict = cache.get(r.domain, config.rcpt.lookup_timeout);
    }
    out.decision = decision::decide(c, *out.verdict);
    return out;
}

}  // namespace dsm::pipeline
