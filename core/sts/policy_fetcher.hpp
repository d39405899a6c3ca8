// Fetching the policy file (RFC 8461 §3.3).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/config/config.hpp"
#include "core/dns/resolver.hpp"

namespace dsm::sts {

// Why a fetch failed, in RFC 8460 §4.3 terms where one fits.
enum class FetchOutcome {
    ok,
    dns_error,                  // mta-sts.<domain> has no address, or the lookup failed
    connect_error,              // no address accepted a connection
    tls_error,                  // handshake failed (protocol, version)
    certificate_host_mismatch,  // certificate not valid for mta-sts.<domain>
    certificate_not_trusted,    // chain does not lead to a CA of [sts] ca_file
    http_status,                // anything but 200 (a redirect is never followed)
    content_type,               // not text/plain
    too_large,                  // body over 64 KiB
    timeout,                    // fetch_timeout_ms elapsed
    protocol_error,             // malformed HTTP
};
std::string_view to_string(FetchOutcome o);

struct FetchResult {
    FetchOutcome outcome = FetchOutcome::dns_error;
    std::string url;           // https://mta-sts.<domain>/.well-known/mta-sts.txt
    std::string address;       // the address connected to ("" if none)
    int status = 0;            // HTTP status, 0 if none
    std::string content_type;  // as sent
    std::size_t size = 0;      // body octets read
    std::string body;          // only when ok
    std::string error;         // plain words for logs and --check
    std::chrono::milliseconds took{0};
};

class PolicyFetcher {
  public:
    virtual ~PolicyFetcher() = default;
    // Blocking; never throws for network or protocol failures. Thread-safe.
    virtual FetchResult fetch(const std::string& domain) = 0;

    // The process is stopping (SPEC §8 SIGTERM): fetches under way end at
    // once (timeout, "cut short: the milter is stopping"), and so do later
    // ones. Returns how many were under way. Idempotent.
    virtual std::size_t shutdown() { return 0; }
};

// The real fetcher (Poco NetSSL). `mta-sts.<domain>` is resolved through
// `resolver` (A, then AAAA); each address is tried in turn with SNI and the
// certificate check against the name, CAs from [sts] ca_file, TLS >= 1.2,
// https_port. `fetch_timeout_ms` bounds the whole exchange, handshake and a
// slowly dripping server included. Redirects are never followed; HTTP caching
// headers are ignored (§3.3).
std::unique_ptr<PolicyFetcher> make_https_fetcher(dns::Resolver& resolver,
                                                  const config::StsSettings& settings);

// §3.3: at most 64 KiB.
constexpr std::size_t kMaxPolicySize = 64 * 1024;

}  // namespace dsm::sts
