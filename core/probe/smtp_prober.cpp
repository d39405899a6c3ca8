// The real Prober: one probe from start to end. SMTP up to STARTTLS
// (smtp_dialogue.cpp), then the handshake and its verification
// (tls_verify.cpp), on one Session (session.cpp) whose deadline is
// `[probe] timeout_ms` after the probe began: a probe never takes much longer
// than timeout_ms whatever the server does. The polite QUIT at the end gets
// at most kQuitBudget of what is left.
//
// SIGPIPE. OpenSSL's socket BIO writes with write(), so SIGPIPE is blocked in
// the calling thread for the probe's duration and a pending one discarded
// afterwards (the signal mask is per thread: nothing process-wide changes).
#include <openssl/err.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/probe/names.hpp"
#include "core/probe/probe.hpp"
#include "core/probe/session.hpp"
#include "core/probe/smtp_dialogue.hpp"
#include "core/probe/tls_verify.hpp"
#include "core/util/sigpipe_block.hpp"
#include "core/util/stop_signal.hpp"

namespace dsm::probe {

namespace {

using detail::Clock;
using detail::Io;
using detail::Mode;
using detail::Reply;
using detail::same_name;
using detail::Session;
using detail::SmtpDialogue;
using detail::strip_dot;
using detail::TlsTarget;
using detail::TlsVerifier;
using std::chrono::milliseconds;

// The QUIT after the verdict is a courtesy: never wait long for it.
constexpr milliseconds kQuitBudget{500};

class SmtpProber final : public Prober {
  public:
    SmtpProber(const config::ProbeSettings& settings, const std::string& ca_file)
        : settings_(settings), dialogue_(settings), tls_(ca_file) {}

    ProbeResult probe_dane(const std::string& mx_host, const std::string& address,
                           const std::vector<dane::TlsaRecord>& tlsa) override {
        return probe_dane_expanded(mx_host, mx_host, address, tlsa);
    }
    ProbeResult probe_dane_expanded(const std::string& mx_host, const std::string& tlsa_base_domain,
                                    const std::string& address,
                                    const std::vector<dane::TlsaRecord>& tlsa) override;
    ProbeResult probe_webpki(const std::string& mx_host, const std::string& address) override;
    std::size_t shutdown() override {
        // Counted first: once raised, the probes end and leave the count.
        const std::size_t under_way = running_.load();
        stop_.raise();
        return under_way;
    }

  private:
    ProbeResult run(const std::string& mx_host, const std::string& address,
                    const TlsTarget& target);

    config::ProbeSettings settings_;
    SmtpDialogue dialogue_;
    TlsVerifier tls_;
    util::StopSignal stop_;
    std::atomic<std::size_t> running_{0};  // probes with a session open
};

ProbeResult SmtpProber::probe_dane_expanded(const std::string& mx_host,
                                            const std::string& tlsa_base_domain,
                                            const std::string& address,
                                            const std::vector<dane::TlsaRecord>& tlsa) {
    TlsTarget t;
    t.mode = Mode::dane;
    t.sni = strip_dot(tlsa_base_domain.empty() ? mx_host : tlsa_base_domain);
    if (const std::string mx = strip_dot(mx_host); !same_name(mx, t.sni)) {
        t.second_name = mx;
    }
    t.tlsa = &tlsa;
    const auto usable = std::count_if(tlsa.begin(), tlsa.end(),
                                      [](const dane::TlsaRecord& rec) { return rec.usable(); });
    if (usable == 0) {
        // RFC 7672 §3.1.3: nothing left to authenticate with; a DANE MX
        // without usable records is a caller error, not a server's fault.
        ProbeResult r;
        r.host = strip_dot(mx_host);
        r.address = address;
        r.outcome = ProbeOutcome::validation_failure;
        r.detail =
            "no usable TLSA record to verify against (of " + std::to_string(tlsa.size()) + ")";
        return r;
    }
    return run(mx_host, address, t);
}

ProbeResult SmtpProber::probe_webpki(const std::string& mx_host, const std::string& address) {
    TlsTarget t;
    t.mode = Mode::webpki;
    t.sni = strip_dot(mx_host);
    return run(mx_host, address, t);
}

ProbeResult SmtpProber::run(const std::string& mx_host, const std::string& address,
                            const TlsTarget& target) {
    const util::SigpipeBlock no_sigpipe;
    const Clock::time_point start = Clock::now();
    ProbeResult r;
    r.host = strip_dot(mx_host);
    r.address = address;
    if (const std::string& error = tls_.setup_error(target.mode); !error.empty()) {
        r.outcome = ProbeOutcome::tls_error;
        r.detail = "local error: " + error;
        return r;
    }
    {
        ++running_;
        struct Done {
            std::atomic<std::size_t>& n;
            ~Done() { --n; }
        } done{running_};
        Session s(start + settings_.timeout, stop_);
        if (dialogue_.until_tls(s, r)) {
            tls_.handshake(s, target, settings_.timeout, r);
        }
        r.took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
        if (r.outcome == ProbeOutcome::verified ||
            r.outcome == ProbeOutcome::starttls_not_supported) {
            // Say goodbye (RFC 5321 §4.1.1.10), briefly; the verdict stands
            // whatever the answer.
            s.set_deadline(std::min(start + settings_.timeout, Clock::now() + kQuitBudget));
            if (s.send("QUIT\r\n") == Io::ok) {
                Reply bye;
                s.read_reply(bye);
            }
            s.shutdown_tls();
        }
    }
    if (stop_.raised() && r.outcome != ProbeOutcome::verified) {
        // Cut short wherever it was (a handshake reads as tls_error): the
        // server was not heard out, which is what not_answering says.
        r.outcome = ProbeOutcome::not_answering;
    }
    ERR_clear_error();
    return r;
}

}  // namespace

std::unique_ptr<Prober> make_smtp_prober(const config::ProbeSettings& settings,
                                         const std::string& ca_file) {
    return std::make_unique<SmtpProber>(settings, ca_file);
}

}  // namespace dsm::probe
