// The commands of the control socket (SPEC §8), against the running daemon's
// cache, policies and store:
//   flush DOMAIN…  drops each domain's verdict and MTA-STS policy from memory
//                  and from the store, looks it up afresh and prints the new
//                  verdict (waiting at most rcpt.lookup_timeout_ms for it);
//   show DOMAIN…   the cached verdict, its age, what is left of its lifetime,
//                  whether it is served stale, and the MTA-STS policy held;
//   stats          cache and store counters.
// A bad domain name fails the whole command before anything is changed. At
// most kMaxDomains domains per command.
#pragma once

#include <cstddef>

#include "core/control/control_server.hpp"
#include "milter/runtime.hpp"

namespace dsm::milter {

inline constexpr std::size_t kMaxControlDomains = 1000;

control::ControlServer::Handler make_control_handler(Runtime& runtime);

// Binds [control] socket (when configured) before privileges are dropped and
// hands it to `user` (SPEC §8: root and the daemon's group); start() it
// afterwards. Errors name the setting.
Result<bool> bind_control(Runtime& runtime, const std::string& user);

}  // namespace dsm::milter
