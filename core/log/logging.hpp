// Logging set-up from [milter] log_level / log_target (SPEC §2). One line per
// event; decisions are `key=value` (core/decision/verdict_header.hpp).
#pragma once

#include "core/config/config.hpp"
#include "core/util/result.hpp"

namespace dsm::log {

// Replaces spdlog's default logger: `stderr`, `syslog` (ident
// dane-sts-milter, facility mail) or `file:/path` (appended). Errors name the
// target; the previous logger stays in place then.
Result<bool> setup_logging(const config::MilterSettings& settings);

}  // namespace dsm::log
