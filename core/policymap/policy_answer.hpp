// Postfix TLS policy map answers (SPEC §7) from the same connectors and
// verdicts as the RCPT path. Pure: no I/O.
#pragma once

#include <string>

#include "core/config/connector.hpp"
#include "core/decision/decision.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::policymap {

// The socketmap reply (without the netstring framing) for `verdict` under
// `connector`: "OK may", "OK dane-only", "OK encrypt",
// "OK secure match=... servername=hostname", "TEMP <reply text>" or
// "NOTFOUND ". `sts_mx_patterns`: the enforce policy's mx patterns (only
// used for require=sts).
std::string policy_answer(const config::Connector& connector, const verdict::DomainVerdict& verdict,
                          const std::vector<std::string>& sts_mx_patterns);

}  // namespace dsm::policymap
