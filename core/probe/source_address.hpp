// The local address a probe connects from ([probe] bind_address for IPv4,
// bind_address6 for IPv6), as Postfix's smtp_bind_address and
// smtp_bind_address6: on a host with several addresses, the probe reaches
// an MX from the address the mail will come from, so a firewall or an MX
// that treats clients by address sees the probe as it will see Postfix.
// Unset, the kernel chooses (the address of the outgoing interface).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/config/config.hpp"

namespace dsm::probe {

// `literal` (an IPv4 or IPv6 address) and `port` as a socket address in
// `out`: its length, or 0 when `literal` is no IP address.
socklen_t to_sockaddr(const std::string& literal, std::uint16_t port, sockaddr_storage& out);

// The source address for a connection to `peer` (an IPv4 or IPv6 literal):
// bind_address or bind_address6 by the peer's family; "" for none.
const std::string& source_address_for(const config::ProbeSettings& settings,
                                      const std::string& peer);

// Binds the socket `fd` (of the family of `source`) to `source`, port 0,
// before its connect(). The port is left to the connect (Linux
// IP_BIND_ADDRESS_NO_PORT), so a busy prober does not run out of ports that
// bind() alone would reserve. nullopt, or why not ("Cannot assign requested
// address").
std::optional<std::string> bind_source(int fd, const std::string& source);

// Whether every configured source address can be bound here, checked once
// at start (and by --check): a mistyped or absent address is a configuration
// error, not a probe failure of every MX. nullopt, or what is wrong, as
// "[probe] bind_address 192.0.2.1: Cannot assign requested address".
std::optional<std::string> check_source_addresses(const config::ProbeSettings& settings);

}  // namespace dsm::probe
