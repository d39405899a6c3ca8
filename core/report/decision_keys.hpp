// What one decided recipient adds to the readiness counts (SPEC §11). Pure:
// no clock, no I/O; the RCPT path adds the keys to a DecisionCounter.
#pragma once

#include <string>
#include <vector>

#include "core/config/connector.hpp"
#include "core/decision/decision.hpp"
#include "core/report/count_key.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::report {

// `c` as `mode = mandatory` would set it (SPEC §2: dane mandatory, mta_sts
// opportunistic), out of test mode: what switching would queue.
config::Connector as_mandatory(const config::Connector& c);

// The keys for `decision` (made by `c` on `verdict`) on `day`: always the
// `configured` key; the `mandatory` key too unless the connector's DANE is
// already mandatory (the two would be the same) or it validates nothing (no
// verdict was looked up, so mandatory cannot be known, SPEC §4 row 1).
std::vector<CountKey> decision_keys(const config::Connector& c,
                                    const verdict::DomainVerdict& verdict,
                                    const decision::Decision& decision, const std::string& day);

}  // namespace dsm::report
