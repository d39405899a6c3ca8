// The TLS part of a probe (internal to core/probe): the handshake on a
// Session after STARTTLS and its verification, either with OpenSSL's DANE
// API against the MX host's TLSA records (RFC 7672 §3) or against WebPKI and
// the MX name (RFC 8461 §4.2, RFC 6125 DNS-ID rules), and what a failed
// verification means in RFC 8460 §4.3 terms.
//
// Thread safety: a TlsVerifier holds two SSL_CTX, configured once in the
// constructor and only read afterwards (SSL_new is safe on a shared context):
// one for DANE with an empty trust store, so that nothing but the TLSA
// records can ever authenticate a DANE peer (RFC 7672 §3.1.3: PKIX usages
// are unusable), one for WebPKI with the CAs of [sts] ca_file.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/dane/tlsa.hpp"
#include "core/probe/probe.hpp"
#include "core/probe/session.hpp"

namespace dsm::probe::detail {

enum class Mode { dane, webpki };

// The names and trust one probe verifies against.
struct TlsTarget {
    Mode mode = Mode::webpki;
    std::string sni;  // also the primary reference identifier
    std::string second_name;
    const std::vector<dane::TlsaRecord>* tlsa = nullptr;
};

class TlsVerifier {
  public:
    explicit TlsVerifier(const std::string& ca_file);

    // "" when `mode` can verify; else why not (a local error: the CA file
    // could not be loaded, OpenSSL could not be set up).
    [[nodiscard]] const std::string& setup_error(Mode mode) const;

    // Handshake on `s` (after the STARTTLS 220) and verification; sets
    // r.outcome, r.detail and what the handshake showed (version, cipher,
    // peer subject, X509 error, matched TLSA record). `timeout` only words
    // the detail of a timed-out handshake: the Session's deadline bounds it.
    void handshake(Session& s, const TlsTarget& target, std::chrono::milliseconds timeout,
                   ProbeResult& r) const;

  private:
    SslPtr new_ssl(const TlsTarget& target, ProbeResult& r) const;

    SslCtxPtr dane_ctx_;
    SslCtxPtr webpki_ctx_;
    std::string dane_ctx_error_;
    std::string webpki_ctx_error_;
};

}  // namespace dsm::probe::detail
