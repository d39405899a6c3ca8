// The `listen` value of a socketmap server (SPEC §2 [policy_map]):
// "inet:HOST:PORT" (an IPv6 HOST in brackets) or "unix:/PATH".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/util/result.hpp"

namespace dsm::policymap {

struct ListenEndpoint {
    bool is_unix = false;
    std::string host;  // inet: without brackets
    std::uint16_t port = 0;
    std::string path;  // unix: absolute
};

// The prefixes are case-insensitive; PORT is 0-65535 (0: any free port).
Result<ListenEndpoint> parse_listen_endpoint(std::string_view listen);

}  // namespace dsm::policymap
