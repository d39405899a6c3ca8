// The verdict header (SPEC §4) and the one-line decision log.
#pragma once

#include <string>
#include <string_view>

#include "core/config/connector.hpp"
#include "core/decision/decision.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::decision {

// The header's value (without "Name: "), `key=value` pairs separated by "; ",
// folded with "\n\t" (libmilter's convention for multi-line header values) so
// that no line exceeds 78 characters where a break is possible (RFC 5322
// §2.1.1). `header_name` is only used to measure the first line.
std::string format_verdict_header(std::string_view header_name, const config::Connector& c,
                                  const verdict::DomainVerdict& v, const Decision& d);

// One greppable `key=value` line per decision (like Postfix's logs). Values
// with spaces are double-quoted.
struct LogContext {
    std::string_view queue_id;   // "" when unknown
    std::string_view recipient;  // as the MTA passed it
};
std::string format_decision_log(const LogContext& ctx, const config::Connector& c,
                                const verdict::DomainVerdict& v, const Decision& d);

// `s` as a value of a `key=value` log line: double-quoted when it holds
// spaces, quotes or '=' (so the line stays parseable), control characters
// escaped as \xHH (a CR/LF from an SMTP client cannot start a log line).
std::string log_value(std::string_view s);

// RFC 3339 UTC with seconds, e.g. 2026-11-28T12:00:00Z.
std::string format_utc(std::chrono::system_clock::time_point t);

}  // namespace dsm::decision
