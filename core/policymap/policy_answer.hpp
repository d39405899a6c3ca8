// Postfix TLS policy map answers (SPEC §7) from the same connectors and
// verdicts as the RCPT path. Pure: no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/config/connector.hpp"
#include "core/decision/decision.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::policymap {

// Who asks, told apart by the socketmap name of the request.
enum class MapClient {
    // Postfix's smtp_tls_policy_maps (socketmap:...:postfix, and any other
    // name): the answers of the SPEC §7 table.
    postfix,
    // Sendmail 8.17's FEATURE(`sts'), whose map is always named "sts"
    // (`Ksts socket -d5 -T<TMPF> inet:PORT@HOST`): the answers of
    // postfix-mta-sts-resolver, the peer that feature was written for.
    sendmail_sts,
};

// The client a request under socketmap name `map_name` comes from.
MapClient map_client(std::string_view map_name);

// The socketmap reply (without the netstring framing) for `verdict` under
// `connector`: "OK may", "OK dane-only", "OK encrypt",
// "OK secure match=... servername=hostname", "TEMP <reply text>" or
// "NOTFOUND ". `sts_mx_patterns`: the enforce policy's mx patterns (only
// used for require=sts).
// With MapClient::sendmail_sts the reply is "OK secure match=...
// servername=hostname", "TEMP <reply text>" or "NOTFOUND " (see
// policy_answer.cpp for why).
std::string policy_answer(const config::Connector& connector, const verdict::DomainVerdict& verdict,
                          const std::vector<std::string>& sts_mx_patterns,
                          MapClient client = MapClient::postfix);

}  // namespace dsm::policymap
