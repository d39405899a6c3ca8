// See tls_verify.hpp.
#include "core/probe/tls_verify.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <array>
#include <cstdint>
#include <utility>

namespace dsm::probe::detail {

namespace {

std::string name_of(const X509* cert) {
    if (cert == nullptr) {
        return {};
    }
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr) {
        return {};
    }
    std::string out;
    if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        char* data = nullptr;
        const long len = BIO_get_mem_data(bio, &data);
        if (len > 0 && data != nullptr) {
            out.assign(data, static_cast<std::size_t>(len));
        }
    }
    BIO_free(bio);
    return out;
}

// What the verify callback saw: the first error and the leaf's subject.
struct VerifyTrace {
    int error = X509_V_OK;
    int depth = -1;
    std::string subject;  // of the certificate the error is about
    std::string leaf_subject;
};

int trace_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// Records, never decides: returns `ok` unchanged, so that verification is
// exactly OpenSSL's (as with a null callback).
int verify_callback(int ok, X509_STORE_CTX* ctx) {
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* trace =
        ssl != nullptr ? static_cast<VerifyTrace*>(SSL_get_ex_data(ssl, trace_index())) : nullptr;
    if (trace == nullptr) {
        return ok;
    }
    if (trace->leaf_subject.empty()) {
        trace->leaf_subject = name_of(X509_STORE_CTX_get0_cert(ctx));
    }
    if (ok == 0 && trace->error == X509_V_OK) {
        trace->error = X509_STORE_CTX_get_error(ctx);
        trace->depth = X509_STORE_CTX_get_error_depth(ctx);
        trace->subject = name_of(X509_STORE_CTX_get_current_cert(ctx));
    }
    return ok;
}

// A verification error, by whose fault and in RFC 8460 §4.3 terms.
ProbeOutcome classify_verify_error(long error, Mode mode) {
    switch (error) {
        case X509_V_ERR_HOSTNAME_MISMATCH:
            return ProbeOutcome::certificate_host_mismatch;
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return ProbeOutcome::certificate_expired;
        case X509_V_ERR_DANE_NO_MATCH:
            return ProbeOutcome::validation_failure;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_CERT_UNTRUSTED:
        case X509_V_ERR_CERT_REJECTED:
        case X509_V_ERR_INVALID_CA:
        case X509_V_ERR_PATH_LENGTH_EXCEEDED:
        case X509_V_ERR_CERT_CHAIN_TOO_LONG:
            // With DANE the TLSA records are the only trust anchors: a chain
            // that reaches none of them is "no TLSA record matched".
            return mode == Mode::dane ? ProbeOutcome::validation_failure
                                      : ProbeOutcome::certificate_not_trusted;
        default:
            return ProbeOutcome::validation_failure;
    }
}

}  // namespace

TlsVerifier::TlsVerifier(const std::string& ca_file) {
    ERR_clear_error();
    dane_ctx_.reset(SSL_CTX_new(TLS_client_method()));
    // RFC 7671 §9 (RFC 7672 §5), digest algorithm agility: for one usage and
    // selector, records of a weaker matching type are ignored once a stronger
    // one is published, so a SHA2-256 record cannot rescue a SHA2-512 record
    // that does not match. OpenSSL compares the ordinals given here (larger is
    // stronger; Full(0) is never skipped); SSL_CTX_dane_enable installs these
    // very values, set again so that the rule does not rest on a default.
    if (!dane_ctx_ || SSL_CTX_dane_enable(dane_ctx_.get()) <= 0 ||
        SSL_CTX_dane_mtype_set(dane_ctx_.get(), EVP_sha256(), 1, 1) <= 0 ||
        SSL_CTX_dane_mtype_set(dane_ctx_.get(), EVP_sha512(), 2, 2) <= 0) {
        dane_ctx_error_ = "cannot set up OpenSSL for DANE: " + openssl_errors();
        dane_ctx_.reset();
    }
    webpki_ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!webpki_ctx_) {
        webpki_ctx_error_ = "cannot set up OpenSSL: " + openssl_errors();
    } else if (SSL_CTX_load_verify_locations(webpki_ctx_.get(), ca_file.c_str(), nullptr) != 1) {
        webpki_ctx_error_ = "cannot load CA file " + ca_file + ": " + openssl_errors();
        webpki_ctx_.reset();
    }
}

const std::string& TlsVerifier::setup_error(Mode mode) const {
    static const std::string none;
    const SslCtxPtr& ctx = mode == Mode::dane ? dane_ctx_ : webpki_ctx_;
    if (ctx != nullptr) {
        return none;
    }
    return mode == Mode::dane ? dane_ctx_error_ : webpki_ctx_error_;
}

SslPtr TlsVerifier::new_ssl(const TlsTarget& target, ProbeResult& r) const {
    SSL_CTX* ctx = target.mode == Mode::dane ? dane_ctx_.get() : webpki_ctx_.get();
    ERR_clear_error();
    SslPtr ssl(SSL_new(ctx));
    bool ok = ssl != nullptr;
    // RFC 6125 §6.4.3 as RFC 7672 §3.2.3 and RFC 8461 §4.2 apply it: a
    // wildcard only as the whole left-most label. Which names count differs:
    // RFC 8461 §4.2 matches the MX name against the subjectAltName DNS-IDs
    // only, so WebPKI never falls back to the subject CN (OpenSSL would when
    // a certificate has no DNS SAN). RFC 7672 §3.2.3 lets DANE-TA(2) consider
    // the CN-ID when no DNS-ID is present: DANE keeps OpenSSL's fallback.
    if (ok) {
        SSL_set_hostflags(ssl.get(), target.mode == Mode::dane
                                         ? X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS
                                         : X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                               X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    }
    if (ok && target.mode == Mode::dane) {
        // RFC 7672 §8.1: SNI carries the TLSA base domain; SSL_dane_enable
        // sets it and makes it the first reference identifier (§3.2.2).
        ok = SSL_dane_enable(ssl.get(), target.sni.c_str()) > 0;
        // §3.1.1: DANE-EE(3) binds the key; names (and dates) do not matter.
        SSL_dane_set_flags(ssl.get(), DANE_FLAG_NO_DANE_EE_NAMECHECKS);
        int added = 0;
        for (const auto& rec : *target.tlsa) {
            if (ok && rec.usable() &&
                SSL_dane_tlsa_add(ssl.get(), rec.usage, rec.selector, rec.mtype, rec.data.data(),
                                  rec.data.size()) > 0) {
                ++added;
            }
        }
        if (ok && added == 0) {
            r.outcome = ProbeOutcome::validation_failure;
            r.detail = "OpenSSL accepted none of the usable TLSA records: " + openssl_errors();
            return nullptr;
        }
    } else if (ok) {
        ok = SSL_set_tlsext_host_name(ssl.get(), target.sni.c_str()) == 1 &&
             SSL_set1_host(ssl.get(), target.sni.c_str()) == 1;
    }
    // §3.2.2: with a CNAME-expanded TLSA base domain the MX name is also
    // acceptable.
    if (ok && !target.second_name.empty()) {
        ok = SSL_add1_host(ssl.get(), target.second_name.c_str()) == 1;
    }
    if (!ok) {
        r.outcome = ProbeOutcome::tls_error;
        r.detail = "local error setting up TLS for " + target.sni + ": " + openssl_errors();
        return nullptr;
    }
    SSL_set_verify(ssl.get(), SSL_VERIFY_PEER, verify_callback);
    return ssl;
}

void TlsVerifier::handshake(Session& s, const TlsTarget& target, std::chrono::milliseconds timeout,
                            ProbeResult& r) const {
    VerifyTrace trace;
    SslPtr ssl = new_ssl(target, r);
    if (!ssl) {
        return;
    }
    SSL_set_ex_data(ssl.get(), trace_index(), &trace);
    const Io io = s.handshake(std::move(ssl));
    SSL* h = s.ssl();
    r.verify_error = static_cast<int>(SSL_get_verify_result(h));
    r.peer_subject = trace.leaf_subject;
    if (r.peer_subject.empty()) {
        r.peer_subject = name_of(SSL_get0_peer_certificate(h));
    }
    if (io == Io::timeout) {
        r.outcome = ProbeOutcome::not_answering;
        r.detail =
            "TLS handshake timed out (probe timeout " + std::to_string(timeout.count()) + " ms)";
        return;
    }
    if (io != Io::ok) {
        if (r.verify_error != X509_V_OK) {
            r.outcome = classify_verify_error(r.verify_error, target.mode);
            const int depth = trace.error != X509_V_OK ? trace.depth : 0;
            r.detail = std::string("certificate verification failed: ") +
                       X509_verify_cert_error_string(r.verify_error) + " (X509 error " +
                       std::to_string(r.verify_error) + " at depth " + std::to_string(depth) +
                       (trace.subject.empty() ? "" : ", " + trace.subject) + ")";
        } else {
            r.outcome = ProbeOutcome::tls_error;
            r.detail = "TLS handshake failed: " + s.error();
        }
        return;
    }
    r.tls_version = SSL_get_version(h);
    r.cipher = SSL_get_cipher_name(h);
    if (target.mode == Mode::webpki) {
        r.outcome = ProbeOutcome::verified;
        r.detail = "certificate valid for " + target.sni + " (WebPKI, RFC 8461 §4.2)";
        return;
    }
    std::uint8_t usage = 0;
    std::uint8_t selector = 0;
    std::uint8_t mtype = 0;
    const unsigned char* data = nullptr;
    std::size_t dlen = 0;
    const int depth = SSL_get0_dane_tlsa(h, &usage, &selector, &mtype, &data, &dlen);
    if (depth < 0 || data == nullptr) {
        // Cannot happen with an empty trust store; never call it verified.
        r.outcome = ProbeOutcome::validation_failure;
        r.detail = "handshake completed, but no TLSA record authenticated the server";
        return;
    }
    dane::TlsaRecord matched;
    matched.usage = usage;
    matched.selector = selector;
    matched.mtype = mtype;
    matched.data.assign(data, data + dlen);
    r.matched_tlsa = matched.to_string();
    r.outcome = ProbeOutcome::verified;
    r.detail = std::string(usage == 3 ? "DANE-EE(3)" : "DANE-TA(2)") +
               " record matched the certificate at depth " + std::to_string(depth) +
               " (RFC 7672 §3.1." + (usage == 3 ? "1" : "2") + ")";
}

}  // namespace dsm::probe::detail
