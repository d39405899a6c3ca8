// See source_address.hpp.
#include "core/probe/source_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/probe/session.hpp"  // detail::errno_text

namespace dsm::probe {

namespace {

using detail::errno_text;

bool is_ipv6_literal(const std::string& s) {
    in6_addr a{};
    return ::inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

}  // namespace

socklen_t to_sockaddr(const std::string& literal, std::uint16_t port, sockaddr_storage& out) {
    out = sockaddr_storage{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (::inet_pton(AF_INET, literal.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return sizeof *v4;
    }
    if (::inet_pton(AF_INET6, literal.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return sizeof *v6;
    }
    return 0;
}

const std::string& source_address_for(const config::ProbeSettings& settings,
                                      const std::string& peer) {
    return is_ipv6_literal(peer) ? settings.bind_address6 : settings.bind_address;
}

std::optional<std::string> bind_source(int fd, const std::string& source) {
    sockaddr_storage ss{};
    const socklen_t len = to_sockaddr(source, 0, ss);
    if (len == 0) {
        return "not an IP address";
    }
#ifdef IP_BIND_ADDRESS_NO_PORT
    const int on = 1;
    // Best effort: without it (kernels before 4.2) bind() picks the port.
    (void)::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);
#endif
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        return errno_text(errno);
    }
    return std::nullopt;
}

std::optional<std::string> check_source_addresses(const config::ProbeSettings& settings) {
    for (const auto& [key, source] : {std::pair{"bind_address", &settings.bind_address},
                                      std::pair{"bind_address6", &settings.bind_address6}}) {
        if (source->empty()) {
            continue;
        }
        const int family = is_ipv6_literal(*source) ? AF_INET6 : AF_INET;
        const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            return std::string("[probe] ") + key + " " + *source + ": socket: " + errno_text(errno);
        }
        const auto error = bind_source(fd, *source);
        ::close(fd);
        if (error) {
            return std::string("[probe] ") + key + " " + *source + ": " + *error;
        }
    }
    return std::nullopt;
}

}  // namespace dsm::probe
