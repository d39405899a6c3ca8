// The readiness report (SPEC §11) computed from stored counts: pure, rows in,
// report out. "Would it be queued if I switched this connector to
// mandatory?" is read from the `mandatory` rows (report/decision_keys.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config/connector.hpp"
#include "core/report/count_key.hpp"

namespace dsm::report {

// One domain refused (or that would be) for one cause.
struct RefusedDomain {
    std::string domain;
    std::string action;  // "defer" or "reject"
    std::string cause;   // dane-required, dnssec-invalid, ..., null-mx
    std::uint64_t recipients = 0;
};

// What a set of connector settings did (or would do) to the counted mail.
struct Scenario {
    std::string dane_mode;         // the DANE mode this scenario is about
    bool test_mode = false;        // counted as "would" (test mode), nothing was refused
    std::uint64_t domains = 0;     // distinct domains refused
    std::uint64_t recipients = 0;  // recipients refused (deferred + rejected)
    std::uint64_t deferred = 0;
    std::uint64_t rejected = 0;
    double share_percent = 0;            // of the connector's recipients, one decimal
    std::vector<RefusedDomain> refused;  // most recipients first
};

struct ConnectorReadiness {
    std::string name;
    std::string dane_mode;
    std::string sts_mode;
    bool test_mode = false;
    std::uint64_t domains = 0;     // distinct recipient domains seen
    std::uint64_t recipients = 0;  // recipients decided
    Scenario configured;
    // Absent when the connector is already mandatory, or validates nothing
    // (mode none looks nothing up, so mandatory cannot be known).
    std::optional<Scenario> mandatory;
};

struct ReadinessReport {
    std::string first_day;
    std::string last_day;
    unsigned days = 0;
    std::string store;
    std::vector<ConnectorReadiness> connectors;
};

// The connectors in their configuration order (only `only` when not
// empty); rows of other connectors are ignored.
ReadinessReport compute_readiness(const std::vector<report::CountRow>& rows,
                                  const std::vector<config::Connector>& connectors,
                                  const std::string& only, std::string first_day,
                                  std::string last_day, unsigned days, std::string store);

}  // namespace dsm::report
