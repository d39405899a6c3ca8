// The probe's vocabulary (outcomes, RFC 8460 §4.3 result types) and the
// per-MX choice of what to verify against (RFC 7672 §2.2.2: which TLSA RRset,
// which names). The real prober is split by job:
//   session.cpp        one TCP connection with a deadline, SMTP replies, TLS I/O
//   smtp_dialogue.cpp  banner, EHLO, STARTTLS (RFC 5321, RFC 3207)
//   tls_verify.cpp     the handshake and its verification (DANE or WebPKI)
//   smtp_prober.cpp    one probe from start to end (make_smtp_prober)
#include "core/probe/probe.hpp"

#include <algorithm>
#include <cctype>

#include "core/probe/names.hpp"

namespace dsm::probe {

std::string_view to_string(ProbeOutcome o) {
    switch (o) {
        case ProbeOutcome::verified:
            return "verified";
        case ProbeOutcome::not_answering:
            return "not-answering";
        case ProbeOutcome::starttls_not_supported:
            return "starttls-not-supported";
        case ProbeOutcome::certificate_host_mismatch:
            return "certificate-host-mismatch";
        case ProbeOutcome::certificate_expired:
            return "certificate-expired";
        case ProbeOutcome::certificate_not_trusted:
            return "certificate-not-trusted";
        case ProbeOutcome::validation_failure:
            return "validation-failure";
        case ProbeOutcome::tls_error:
            return "tls-error";
        case ProbeOutcome::protocol_error:
            return "protocol-error";
    }
    return "unknown";
}

std::string_view result_type(ProbeOutcome o) {
    switch (o) {
        case ProbeOutcome::verified:
        case ProbeOutcome::not_answering:
            return "";
        case ProbeOutcome::starttls_not_supported:
        case ProbeOutcome::certificate_host_mismatch:
        case ProbeOutcome::certificate_expired:
        case ProbeOutcome::certificate_not_trusted:
        case ProbeOutcome::validation_failure:
            return to_string(o);
        case ProbeOutcome::tls_error:
        case ProbeOutcome::protocol_error:
            // RFC 8460 §4.3.1: "a general failure for a reason not matched by
            // a category above".
            return "validation-failure";
    }
    return "validation-failure";
}

bool is_failure(ProbeOutcome o) {
    return o != ProbeOutcome::verified && o != ProbeOutcome::not_answering;
}

std::string tlsa_base_domain(const dane::TlsaLookup& lookup) {
    std::string_view name = lookup.qname;
    constexpr std::string_view prefix = "_25._tcp.";
    if (name.size() >= prefix.size()) {
        std::string lowered(name.substr(0, prefix.size()));
        std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (lowered == prefix) {
            name.remove_prefix(prefix.size());
        }
    }
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    return std::string(name);
}

namespace detail {

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string strip_dot(std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    return std::string(name);
}

}  // namespace detail

ProbeResult probe_dane_host(Prober& prober, const dane::MxHost& host, const std::string& address) {
    if (host.tlsa.empty()) {
        return prober.probe_dane(host.name, address, {});
    }
    // RFC 7672 §2.2.2: the lookup that ended the search is the one whose
    // records made the host a DANE MX (core/dane/dane_lookup.cpp).
    const dane::TlsaLookup& t = host.tlsa.back();
    const std::string base = tlsa_base_domain(t);
    if (base.empty() || detail::same_name(base, host.name)) {
        return prober.probe_dane(host.name, address, t.records);
    }
    return prober.probe_dane_expanded(host.name, base, address, t.records);
}

}  // namespace dsm::probe
