// Postfix TLS policy map answers (SPEC §7) from the same connectors and
// verdicts as the RCPT path. Pure: no I/O.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/connector.hpp"
#include "core/decision/decision.hpp"
#include "core/sts/policy.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::policymap {

// Who asks, told apart by the socketmap name of the request.
enum class MapClient {
    // Postfix's smtp_tls_policy_maps (socketmap:...:postfix, and any other
    // name): the answers of the SPEC §7 table.
    postfix,
    // Postfix 3.10 or later under the second map name, kTlsrptMapName
    // (socketmap:...:postfix-tlsrpt): the same answers, an MTA-STS one with
    // the policy attributes Postfix's TLSRPT support reads (SPEC §7; see
    // policy_answer.cpp).
    postfix_tlsrpt,
    // Sendmail 8.17's FEATURE(`sts'), whose map is always named "sts"
    // (`Ksts socket -d5 -T<TMPF> inet:PORT@HOST`): the answers of
    // postfix-mta-sts-resolver, the peer that feature was written for.
    sendmail_sts,
};

// The socketmap name that selects MapClient::postfix_tlsrpt.
inline constexpr std::string_view kTlsrptMapName = "postfix-tlsrpt";

// The client a request under socketmap name `map_name` comes from.
MapClient map_client(std::string_view map_name);

// What a postfix-tlsrpt answer needs beyond the verdict, from the caller.
struct TlsrptExtras {
    // The MTA-STS policy in force for the domain, if the caller has it: its
    // max_age becomes the "max_age: N" policy_string. Ignored unless its mode
    // and mx patterns are those of the verdict (then it is the policy the
    // verdict was made from); without it the policy strings lack max_age.
    std::optional<sts::Policy> policy;
    // How long Postfix's SMTP client may cache the answer (policy_ttl):
    // what is left of the verdict's lifetime. Omitted when not positive.
    std::optional<std::chrono::seconds> ttl;
};

// The socketmap reply (without the netstring framing) for `verdict` under
// `connector`: "OK may", "OK dane-only", "OK encrypt",
// "OK secure match=... servername=hostname", "TEMP <reply text>" or
// "NOTFOUND ". `sts_mx_patterns`: the enforce policy's mx patterns (only
// used for require=sts).
// With MapClient::sendmail_sts the reply is "OK secure match=...
// servername=hostname", "TEMP <reply text>" or "NOTFOUND " (see
// policy_answer.cpp for why).
// With MapClient::postfix_tlsrpt the reply is that of MapClient::postfix,
// an "OK secure" one followed by "policy_type=sts policy_domain=<domain>
// [policy_ttl=<seconds>] mx_host_pattern=<pattern>... { policy_string =
// <line> }..." built from `verdict`, `sts_mx_patterns` and `tlsrpt`.
std::string policy_answer(const config::Connector& connector, const verdict::DomainVerdict& verdict,
                          const std::vector<std::string>& sts_mx_patterns,
                          MapClient client = MapClient::postfix, const TlsrptExtras& tlsrpt = {});

}  // namespace dsm::policymap
