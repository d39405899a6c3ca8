// The walk of one recipient (STYLE "a shape to start from"): address ->
// connector -> cache (hit, or single-flight lookup) -> decision. Shared by
// the milter's RCPT callback and tests; knows nothing of libmilter.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/address/recipient.hpp"
#include "core/cache/verdict_cache.hpp"
#include "core/config/config.hpp"
#include "core/decision/decision.hpp"

namespace dsm::pipeline {

struct RecipientCheck {
    address::Recipient recipient;
    // Set for domain and address-literal recipients; null for local and
    // invalid ones (which have no connector).
    const config::Connector* connector = nullptr;  // points into the Config snapshot
    cache::VerdictCache::VerdictPtr verdict;
    decision::Decision decision;
};

// `sender_domain`: normalised domain of the envelope sender, "" for <> or a
// local sender. Local recipients are accepted untouched (decision.row 0, no
// header); invalid domains get 550 5.1.3 (SPEC §3) and are never looked up.
// Waits at most config.rcpt.lookup_timeout on a cache miss.
RecipientCheck check_recipient(const config::Config& config, cache::VerdictCache& cache,
                               std::string_view envelope_recipient, std::string_view sender_domain);

// The verdict of a domain that needs no lookup (row 1 connectors): every field
// `skipped`.
verdict::DomainVerdict skipped_verdict(std::string domain,
                                       std::chrono::system_clock::time_point now);

}  // namespace dsm::pipeline
