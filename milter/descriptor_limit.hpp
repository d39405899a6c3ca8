// The process's open-descriptor limit (RLIMIT_NOFILE). Every milter and
// policy-map connection holds one; a relay with hundreds of smtp(8)
// processes keeps that many open, and systemd's default soft limit (1024)
// is too low for that.
#pragma once

#include <cstdint>

namespace dsm::milter {

// Raises the soft limit to the hard limit (nothing else needs privileges).
// Returns the soft limit now in force.
std::uint64_t raise_descriptor_limit();

}  // namespace dsm::milter
