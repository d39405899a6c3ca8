// `dane-sts-milter --check DOMAIN...` (SPEC §8): every step of the lookup and
// the decision each connector would take, like danecheck.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "core/config/config.hpp"

namespace dsm::milter {

// Exit status: 0 when every connector would accept every domain, 1
// otherwise, 2 on usage or configuration errors.
int run_check(const config::Config& config, const std::vector<std::string>& domains, bool json,
              std::ostream& out);

}  // namespace dsm::milter
