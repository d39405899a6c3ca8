#include "core/policymap/listen_endpoint.hpp"

#include <charconv>

#include "core/util/ascii.hpp"

namespace dsm::policymap {

namespace {

bool starts_with_i(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && util::ascii::iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace

Result<ListenEndpoint> parse_listen_endpoint(std::string_view listen) {
    ListenEndpoint e;
    if (starts_with_i(listen, "unix:")) {
        e.is_unix = true;
        e.path = std::string(listen.substr(5));
        if (e.path.empty() || e.path.front() != '/') {
            return Error{"expected unix:/ABSOLUTE/PATH"};
        }
        return e;
    }
    if (!starts_with_i(listen, "inet:")) {
        return Error{"expected inet:HOST:PORT or unix:/PATH"};
    }
    std::string_view rest = listen.substr(5);
    std::string_view host;
    std::string_view port;
    if (rest.starts_with('[')) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos || rest.substr(close + 1, 1) != ":") {
            return Error{"expected inet:[IPv6]:PORT"};
        }
        host = rest.substr(1, close - 1);
        port = rest.substr(close + 2);
    } else {
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) {
            return Error{"expected inet:HOST:PORT"};
        }
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    unsigned value = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
    if (host.empty() || port.empty() || r.ec != std::errc{} || r.ptr != port.data() + port.size() ||
        value > 65535) {
        return Error{"expected inet:HOST:PORT with PORT in 0-65535"};
    }
    e.host = std::string(host);
    e.port = static_cast<std::uint16_t>(value);
    return e;
}

}  // namespace dsm::policymap
