// The STARTTLS probe (SPEC §5): connect to one MX address, EHLO, STARTTLS,
// and verify the server certificate, either against the MX host's TLSA
// records (RFC 7672 §3) or against WebPKI and the MX name (RFC 8461 §4.2).
// No OpenSSL types here: the real prober lives in probe.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/config.hpp"
#include "core/dane/dane_facts.hpp"
#include "core/dane/tlsa.hpp"

namespace dsm::probe {

// What one probe of one address found. Whose fault it is decides what a
// verdict may make of it: `not_answering` proves nothing about the server's
// TLS (it may be down, SPEC §5); every outcome from `starttls_not_supported`
// on was caused by a server that answered.
enum class ProbeOutcome {
    verified,                   // handshake done and the certificate verified
    not_answering,              // refused, unreachable, timed out, closed or 4xx before TLS
    starttls_not_supported,     // no STARTTLS in the EHLO reply, or STARTTLS refused
    certificate_host_mismatch,  // no reference identifier matches the certificate
    certificate_expired,        // a certificate that must be in date is not
    certificate_not_trusted,    // WebPKI: the chain leads to no CA of the CA file
    validation_failure,         // DANE: no TLSA record matches; other verify errors
    tls_error,                  // the TLS handshake failed without a verify error
    protocol_error,             // malformed SMTP replies, data after the STARTTLS reply
};

// Kebab-case words, the RFC 8460 §4.3 result types where one exists
// ("verified", "not-answering", "starttls-not-supported", ..., "tls-error").
std::string_view to_string(ProbeOutcome o);

// The RFC 8460 §4.3 result type for a report or a reply: "" for verified and
// not_answering (no failure), "validation-failure" for tls_error and
// protocol_error (§4.3.1: the catch-all for negotiation failures).
std::string_view result_type(ProbeOutcome o);

// A failure a server is to blame for (every outcome but verified and
// not_answering): SPEC §5's "answers without STARTTLS or with a wrong
// certificate".
bool is_failure(ProbeOutcome o);

struct ProbeResult {
    std::string host;     // the MX host name probed (also the SNI unless CNAME-expanded)
    std::string address;  // the address connected to
    ProbeOutcome outcome = ProbeOutcome::not_answering;
    std::string detail;                 // one plain line for the log and --check
    std::chrono::milliseconds took{0};  // until the outcome was known (QUIT not counted)
    std::string tls_version, cipher;    // when the handshake completed
    std::string peer_subject;  // RFC 2253 subject of the server certificate, when one arrived
    int verify_error = 0;      // X509_V_ERR_* of the failed verification (0: none)
    std::string matched_tlsa;  // DANE: the record that matched, "3 1 1 <HEX>"
};

// Thread-safe: any number of probes may run at once on one Prober. Probes
// block (for at most [probe] timeout_ms each), never throw and never raise
// SIGPIPE.
class Prober {
  public:
    virtual ~Prober() = default;

    // DANE (RFC 7672 §3) with `tlsa`, the MX host's secure TLSA RRset: only
    // usable records are used (§3.1.3; PKIX-TA/PKIX-EE never fall back to a CA
    // store). DANE-EE(3) ignores names and validity dates (§3.1.1); DANE-TA(2)
    // checks the chain up to the trust anchor, its dates and the name (§3.1.2,
    // §3.2.2). No usable record: validation_failure without connecting.
    virtual ProbeResult probe_dane(const std::string& mx_host, const std::string& address,
                                   const std::vector<dane::TlsaRecord>& tlsa) = 0;

    // The same when the TLSA RRset was found at `tlsa_base_domain`, the
    // secure CNAME expansion of `mx_host` (RFC 7672 §2.2.2): SNI and primary
    // reference identifier are the TLSA base domain (§8.1, §3.2.2); `mx_host`
    // is accepted as a second reference identifier. The default suits fakes.
    virtual ProbeResult probe_dane_expanded(const std::string& mx_host,
                                            const std::string& tlsa_base_domain,
                                            const std::string& address,
                                            const std::vector<dane::TlsaRecord>& tlsa) {
        (void)tlsa_base_domain;
        return probe_dane(mx_host, address, tlsa);
    }

    // MTA-STS (RFC 8461 §4.2): the chain must lead to a CA of the CA file
    // and the certificate must be valid for `mx_host` (RFC 6125 DNS-ID,
    // wildcard only as the whole left-most label), in date.
    virtual ProbeResult probe_webpki(const std::string& mx_host, const std::string& address) = 0;

    // The process is stopping (SPEC §8 SIGTERM): probes under way end at
    // once (not_answering, "cut short: the milter is stopping"), and so do
    // later ones. Returns how many were under way. Idempotent.
    virtual std::size_t shutdown() { return 0; }
};

// The real prober: plain TCP to `address` (IPv4 or IPv6 literal) on
// settings.port, `timeout` bounding the whole probe (connect, banner, EHLO,
// STARTTLS, handshake), OpenSSL for TLS. EHLO names this machine by its host
// name when that is a fully qualified name, else by the address literal of
// the local end of the connection (RFC 5321 §4.1.4). `ca_file`
// ([sts] ca_file) holds the WebPKI trust anchors; if it cannot be loaded,
// every WebPKI probe answers tls_error saying so (DANE probes are unaffected).
std::unique_ptr<Prober> make_smtp_prober(const config::ProbeSettings& settings,
                                         const std::string& ca_file);

// The TLSA base domain of a TLSA lookup: its qname without "_25._tcp." and
// the trailing dot.
std::string tlsa_base_domain(const dane::TlsaLookup& lookup);

// Probes a DANE MX (MxDane::dane) at one of its addresses with the TLSA
// RRset that made it one (the last lookup in `host.tlsa`, RFC 7672 §2.2.2),
// through probe_dane_expanded when that RRset sits at the CNAME-expanded name.
ProbeResult probe_dane_host(Prober& prober, const dane::MxHost& host, const std::string& address);

}  // namespace dsm::probe
