// The metrics of dane-sts-milter (SPEC §8 "[metrics] listen"), all named
// dane_sts_milter_* with their unit (Prometheus naming: _total counters,
// _seconds durations). The full list with meanings is in dane-sts-milter(8).
//
// One MilterMetrics per process, owned by the runtime and handed by
// reference to what records into it (decorators, milter callbacks). Recording
// is lock-free (see registry.hpp): it is on the RCPT path.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/metrics/registry.hpp"

namespace dsm::metrics {

// What a lookup was for: the `kind` label of lookups_total and
// lookup_duration_seconds.
enum class LookupKind { mx, address, tlsa, sts_txt, other_dns, sts_fetch, probe };
std::string_view to_string(LookupKind k);

class MilterMetrics {
  public:
    MilterMetrics();

    // A RCPT decision (SPEC §4): action accept/defer/reject, the connector's
    // name, the RFC 8460 result type ("none" when there is none).
    void decision(std::string_view action, std::string_view connector, std::string_view result);
    // A RCPT that matches no connector (SPEC 3): kind "local" (no domain:
    // accepted without a verdict) or "invalid" (550 5.1.3).
    void unmatched_recipient(std::string_view kind);
    // One DNS lookup, HTTPS policy fetch or STARTTLS probe and how long it took.
    void lookup(LookupKind kind, std::string_view outcome,
                std::chrono::steady_clock::duration took);
    // A socketmap answer (SPEC §7): counted by its first word (OK, TEMP,
    // NOTFOUND, PERM, TIMEOUT).
    void policy_answer(std::string_view reply);
    // A socketmap request refused by the protocol layer (SPEC 7): "request",
    // "oversize" or "framing" (SocketmapServer::MalformedObserver).
    void policy_malformed(std::string_view kind);

    // For callback metrics read at scrape time (cache, store, prefetch).
    Registry& registry() { return registry_; }

    [[nodiscard]] std::string render() const { return registry_.render(); }

  private:
    Registry registry_;
    Family<Counter>& decisions_;
    Family<Counter>& unmatched_;
    Family<Counter>& lookups_;
    Family<Histogram>& lookup_seconds_;
    Family<Counter>& policy_map_;
    Family<Counter>& policy_malformed_;
};

}  // namespace dsm::metrics
