// Making room for a listening unix socket at a path.
#pragma once

#include <string>

#include "core/util/result.hpp"

namespace dsm::util {

// A socket file left by a run that did not clean up (nobody accepts on it)
// is removed; nothing there is fine; a live socket (another process answers
// there) or any other kind of file is an error naming `path`.
Result<bool> clear_stale_unix_socket(const std::string& path);

}  // namespace dsm::util
