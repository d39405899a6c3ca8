#include "milter/header_match.hpp"

#include <strings.h>

namespace dsm::milter {

bool is_verdict_header(const char* name, const std::string& configured) {
    return name != nullptr && strcasecmp(name, configured.c_str()) == 0;
}

}  // namespace dsm::milter
