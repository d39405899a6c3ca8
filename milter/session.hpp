// Per-connection state, owned through smfi_setpriv and freed in xxfi_close.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config/config.hpp"

namespace dsm::milter {

struct VerdictHeader {
    std::string domain;
    std::string value;  // folded header value
};

struct Session {
    // Taken at MAIL FROM: the whole transaction decides with one snapshot.
    std::shared_ptr<const config::Config> config;
    std::string sender_domain;
    std::vector<VerdictHeader> headers;  // one per accepted recipient domain
    int forged_headers = 0;              // incoming headers with our name

    void reset_transaction() {
        config.reset();
        sender_domain.clear();
        headers.clear();
        forged_headers = 0;
    }
};

}  // namespace dsm::milter
