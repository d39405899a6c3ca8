// Host-name helpers shared by the probe's parts (internal to core/probe).
#pragma once

#include <string>
#include <string_view>

namespace dsm::probe::detail {

// ASCII case-insensitive equality of two DNS names (RFC 4343).
bool same_name(std::string_view a, std::string_view b);

// `name` without one trailing dot.
std::string strip_dot(std::string_view name);

}  // namespace dsm::probe::detail
