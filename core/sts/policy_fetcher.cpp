#include "core/sts/policy_fetcher.hpp"

namespace dsm::sts {

std::string_view to_string(FetchOutcome o) {
    switch (o) {
        case FetchOutcome::ok:
            return "ok";
        case FetchOutcome::dns_error:
            return "dns-error";
        case FetchOutcome::connect_error:
            return "connect-error";
        case FetchOutcome::tls_error:
            return "tls-error";
        case FetchOutcome::certificate_host_mismatch:
            return "certificate-host-mismatch";
        case FetchOutcome::certificate_not_trusted:
            return "certificate-not-trusted";
        case FetchOutcome::http_status:
            return "http-status";
        case FetchOutcome::content_type:
            return "content-type";
        case FetchOutcome::too_large:
            return "too-large";
        case FetchOutcome::timeout:
            return "timeout";
        case FetchOutcome::protocol_error:
            return "protocol-error";
    }
    return "unknown";
}

}  // namespace dsm::sts
