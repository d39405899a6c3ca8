// The readiness report as text an administrator reads at a glance, and as
// JSON with the same content (schema in dane-sts-milter(8), REPORT OUTPUT).
#pragma once

#include <string>

#include "core/report/readiness.hpp"

namespace dsm::report {

std::string format_readiness_text(const ReadinessReport& r);
std::string format_readiness_json(const ReadinessReport& r);

}  // namespace dsm::report
