// The real PolicyFetcher: HTTPS GET of the policy file (RFC 8461 §3.3) with
// Poco NetSSL over OpenSSL.
//
// How the fetch is bounded. `fetch_timeout` covers the whole exchange: TCP
// connect, TLS handshake, request, response headers and body. Poco's timeouts
// are per operation (each recv() may wait the full receive timeout), and its
// HTTP parser reads the headers byte by byte through a buffered stream, so a
// server that drips one byte a second would never trip them. Hence:
//   - the TCP connect is ours (StreamSocket::connect with the time left), so
//     the socket exists before the handshake starts; the watchdog watches
//     it for SIGTERM only (shutdown(), below), which aborts a connect;
//   - from then on a Watchdog holds a dup() of the socket and, at the
//     deadline, shuts it down for reading. Whatever blocking call Poco or
//     OpenSSL is in then (handshake, header or body read) returns at once
//     with end-of-file or an error; the fetch sees that the watchdog fired
//     and answers `timeout`. The dup() keeps the descriptor number ours until
//     the fetch disarms the watchdog, so a socket that Poco closes on an error
//     path can never be confused with another thread's new socket;
//   - SHUT_RD, not SHUT_RDWR: writes stay possible, so Poco's close_notify on
//     the way out gets no EPIPE from us (SIGPIPE is blocked around the
//     exchange anyway: OpenSSL writes with write(), not send(MSG_NOSIGNAL));
//   - per-operation receive/send timeouts stay set to the whole budget as a
//     backstop should the watchdog be unavailable (dup() failing).
//
// Certificates. The Context verifies the chain against [sts] ca_file only
// (VERIFY_STRICT, no default CAs) and refuses TLS < 1.2. Chain errors reach
// a per-Context RejectCertificateHandler, never the process-wide SSLManager
// events, and are recorded per thread so that the outcome can say *why*
// (unknown CA, expired...). The name check (RFC 8461 §3.3, RFC 6125) is done
// here with X509_check_host against mta-sts.<domain>: we connect to an
// address literal, and Poco's own post-handshake check differs between
// releases in what it compares the certificate with.
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <Poco/Delegate.h>
#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Net/RejectCertificateHandler.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/VerificationErrorArgs.h>
#include <Poco/Net/X509Certificate.h>
#include <Poco/Timespan.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <istream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/address/recipient.hpp"
#include "core/dns/rdata.hpp"
#include "core/sts/http_response.hpp"
#include "core/sts/policy_fetcher.hpp"
#include "core/util/ascii.hpp"
#include "core/util/sigpipe_block.hpp"

namespace dsm::sts {
namespace {

namespace ascii = util::ascii;

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Addresses of mta-sts.<domain> tried before giving up (bound everything
// from the network, STYLE §9).
constexpr std::size_t kMaxAddresses = 4;
constexpr std::string_view kPolicyPath = "/.well-known/mta-sts.txt";

std::string ms_text(Clock::duration d) {
    return std::to_string(duration_cast<milliseconds>(d).count()) + " ms";
}

Poco::Timespan timespan(Clock::duration d) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    return Poco::Timespan(std::max<std::int64_t>(us, 1000));
}

// What may go into SNI, the Host header and a DNS query unescaped: an
// A-label name (LDH labels; '_' tolerated as the resolver does).
bool plausible_host_name(std::string_view name) {
    if (name.empty() || name.size() > 253 || name.front() == '.') {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    });
}

// ---------------------------------------------------------------------------
// Certificate chain errors, as OpenSSL's verify callback reported them to
// this thread's current handshake.
struct VerifyFailure {
    int error = X509_V_OK;
    int depth = 0;
    std::string message;
    std::string subject;
};
thread_local VerifyFailure t_verify_failure;

// Rejects, like its base, and remembers the first error of the handshake.
class RecordingRejectHandler final : public Poco::Net::RejectCertificateHandler {
  public:
    RecordingRejectHandler() : RejectCertificateHandler(false) {
        // The base constructor subscribes to the process-wide
        // SSLManager::ClientVerificationError event. This handler belongs to
        // one Context (Context::setInvalidCertificateHandler), so it leaves
        // that event again: other Contexts keep their own policy, and ours
        // does not hinge on global state.
        Poco::Net::SSLManager::instance().ClientVerificationError -=
            Poco::Delegate<Poco::Net::InvalidCertificateHandler, Poco::Net::VerificationErrorArgs>(
                this, &Poco::Net::InvalidCertificateHandler::onInvalidCertificate);
    }

    void onInvalidCertificate(const void* sender, Poco::Net::VerificationErrorArgs& args) override {
        if (t_verify_failure.error == X509_V_OK) {
            t_verify_failure.error = args.errorNumber();
            t_verify_failure.depth = args.errorDepth();
            t_verify_failure.message = args.errorMessage();
            t_verify_failure.subject = args.certificate().subjectName();
        }
        RejectCertificateHandler::onInvalidCertificate(sender, args);
    }
};

void initialize_ssl_once() {
    static std::once_flag once;
    std::call_once(once, [] { Poco::Net::initializeSSL(); });
}

// One Context per fetcher, shared by its concurrent fetches (an SSL_CTX is
// safe to create connections from on many threads).
Poco::Net::Context::Ptr make_context(const std::string& ca_file) {
    initialize_ssl_once();
    Poco::Net::Context::Params params;  // cipherList: Poco's default
    params.caLocation = ca_file;
    params.loadDefaultCAs = false;
    params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
    Poco::Net::Context::Ptr context =
        new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
    context->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 |
                              Poco::Net::Context::PROTO_TLSV1 | Poco::Net::Context::PROTO_TLSV1_1);
    // The name is checked by check_certificate_name() below.
    context->enableExtendedCertificateVerification(false);
    context->setInvalidCertificateHandler(new RecordingRejectHandler);
    return context;
}

// ---------------------------------------------------------------------------
// Shuts a connection down for reading when its deadline passes (see the top
// of the file). One thread per fetcher serves all its fetches.
class Watchdog {
  public:
    Watchdog() : thread_([this] { run(); }) {}
    ~Watchdog() {
        {
            const std::lock_guard lock(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

    // SIGTERM: every connection watched now, or armed later, is shut down at
    // once. Returns how many were watched (and not yet fired).
    std::size_t fire_all() {
        std::size_t watched = 0;
        {
            const std::lock_guard lock(mu_);
            all_ = true;
            for (const auto& [id, e] : entries_) {
                watched += e.fired ? 0 : 1;
            }
        }
        cv_.notify_all();
        return watched;
    }

    // Watches `fd` until destroyed. Without a dup() (descriptor exhaustion)
    // it watches nothing and the socket timeouts are the only bound.
    class Arm {
      public:
        Arm(Watchdog& w, int fd, Clock::time_point deadline) : w_(w), fd_(::dup(fd)) {
            if (fd_ < 0) {
                return;
            }
            {
                const std::lock_guard lock(w_.mu_);
                id_ = ++w_.next_id_;
                w_.entries_.emplace(id_, Entry{fd_, deadline, false});
            }
            w_.cv_.notify_all();
        }
        ~Arm() {
            if (fd_ < 0) {
                return;
            }
            {
                const std::lock_guard lock(w_.mu_);
                w_.entries_.erase(id_);
            }
            ::close(fd_);
        }
        Arm(const Arm&) = delete;
        Arm& operator=(const Arm&) = delete;

        [[nodiscard]] bool fired() const {
            if (fd_ < 0) {
                return false;
            }
            const std::lock_guard lock(w_.mu_);
            const auto it = w_.entries_.find(id_);
            return it != w_.entries_.end() && it->second.fired;
        }

      private:
        Watchdog& w_;
        int fd_;
        std::uint64_t id_ = 0;
    };

  private:
    struct Entry {
        int fd;
        Clock::time_point deadline;
        bool fired;
    };

    void run() {
        std::unique_lock lock(mu_);
        while (!stopping_) {
            const auto now = Clock::now();
            auto next = Clock::time_point::max();
            for (auto& [id, e] : entries_) {
                if (e.fired) {
                    continue;
                }
                if (all_ || e.deadline <= now) {
                    ::shutdown(e.fd, SHUT_RD);
                    e.fired = true;
                } else {
                    next = std::min(next, e.deadline);
                }
            }
            if (next == Clock::time_point::max()) {
                cv_.wait(lock);
            } else {
                cv_.wait_until(lock, next);
            }
        }
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::uint64_t, Entry> entries_;
    std::uint64_t next_id_ = 0;
    bool all_ = false;  // fire_all() was called
    bool stopping_ = false;
    std::thread thread_;  // last: starts once the members above exist
};

// ---------------------------------------------------------------------------
struct Target {
    std::string host;  // mta-sts.<domain>
    std::uint16_t port = 443;
    Clock::time_point deadline;
    Clock::duration budget{};
};

// A, then AAAA, through our own validating resolver (SPEC §4), not the
// system's. Bogus or failed lookups are errors, never "no address": a forged
// answer must not steer the fetch, and "nothing known" is not "nothing there".
std::optional<std::string> resolve(dns::Resolver& resolver, const std::string& host,
                                   std::vector<std::string>& addresses) {
    for (const dns::RrType type : {dns::RrType::a, dns::RrType::aaaa}) {
        const dns::DnsAnswer answer = resolver.query(host, type);
        const std::string what = host + " " + std::string(to_string(type));
        if (answer.dnssec == dns::DnssecState::bogus) {
            return what + " is bogus (" + answer.why_bogus + ")";
        }
        if (answer.outcome == dns::DnsOutcome::tempfail) {
            return what + " lookup failed (" + answer.error + ")";
        }
        if (answer.outcome != dns::DnsOutcome::answer) {
            continue;
        }
        for (const auto& rdata : answer.records) {
            const auto text =
                type == dns::RrType::a ? dns::parse_a_rdata(rdata) : dns::parse_aaaa_rdata(rdata);
            if (text && std::find(addresses.begin(), addresses.end(), *text) == addresses.end()) {
                addresses.push_back(*text);
            }
        }
    }
    if (addresses.empty()) {
        return host + " has no address";
    }
    return std::nullopt;
}

// Connects to the first address that accepts, giving each remaining address
// an equal share of the time left. On failure `r` says why. A connect under
// way is watched too, for SIGTERM only (its own timeout bounds it otherwise):
// the watchdog's shutdown() of a socket still in SYN-SENT aborts the connect
// and wakes its poll (Linux: inet_shutdown disconnects it).
std::optional<Poco::Net::StreamSocket> connect_any(const std::vector<std::string>& addresses,
                                                   const Target& t, Watchdog& watchdog,
                                                   const std::atomic<bool>& stopping,
                                                   FetchResult& r) {
    const std::size_t n = std::min(addresses.size(), kMaxAddresses);
    std::string errors;  // "address: why" for each address tried
    const auto note = [&errors](const std::string& where, const std::string& why) {
        errors += (errors.empty() ? " (" : "; ") + where + ": " + why;
    };
    for (std::size_t i = 0; i < n; ++i) {
        const auto left = t.deadline - Clock::now();
        if (left <= Clock::duration::zero() || stopping.load()) {
            break;  // when stopping, fetch() says why
        }
        const auto share = left / static_cast<int>(n - i);
        const Poco::Net::SocketAddress where(Poco::Net::IPAddress(addresses[i]), t.port);
        try {
            Poco::Net::StreamSocket socket(where.family());  // its descriptor, before connect()
            const Watchdog::Arm arm(watchdog, socket.impl()->sockfd(), Clock::time_point::max());
            socket.connect(where, timespan(share));
            r.address = addresses[i];
            return socket;
        } catch (const Poco::TimeoutException&) {
            note(where.toString(), "no answer within " + ms_text(share));
        } catch (const Poco::Exception& e) {
            note(where.toString(), e.displayText());
        }
    }
    const bool late = Clock::now() >= t.deadline;
    r.outcome = late ? FetchOutcome::timeout : FetchOutcome::connect_error;
    r.error = (late ? "no connection to " + t.host + " within " + ms_text(t.budget)
                    : "no address of " + t.host + " accepted a connection") +
              errors + (errors.empty() ? "" : ")");
    return std::nullopt;
}

// RFC 8461 §3.3: the Policy Host's certificate must be valid for its name,
// mta-sts.<domain>, by the rules of RFC 6125 (a wildcard stands for one whole
// left-most label, never part of one).
bool check_certificate_name(const Poco::Net::SecureStreamSocket& tls, const Target& t,
                            FetchResult& r) {
    const Poco::Net::X509Certificate cert = tls.peerCertificate();
    X509* x509 = const_cast<X509*>(cert.certificate());
    if (X509_check_host(x509, t.host.data(), t.host.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                        nullptr) == 1) {
        return true;
    }
    r.outcome = FetchOutcome::certificate_host_mismatch;
    r.error = "certificate (subject " + cert.subjectName() + ") is not valid for " + t.host;
    return false;
}

// The chain error recorded during the handshake, if any.
bool classify_verify_failure(FetchResult& r) {
    const VerifyFailure& f = t_verify_failure;
    if (f.error == X509_V_OK) {
        return false;
    }
    r.outcome = f.error == X509_V_ERR_HOSTNAME_MISMATCH ? FetchOutcome::certificate_host_mismatch
                                                        : FetchOutcome::certificate_not_trusted;
    r.error = "certificate not trusted: " + f.message + " (depth " + std::to_string(f.depth) +
              ", subject " + f.subject + ")";
    return true;
}

// Status, media type and size, in that order (§3.3). Reads the body only
// when the headers allow it.
void read_policy(Poco::Net::HTTPClientSession& session, const Target& t, FetchResult& r) {
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, std::string(kPolicyPath),
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    request.setHost(t.port == 443 ? t.host : t.host + ":" + std::to_string(t.port));
    request.setKeepAlive(false);  // Connection: close
    request.set("User-Agent", "dane-sts-milter/" DSM_VERSION);
    session.sendRequest(request);

    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    // The checks themselves are core/sts/http_response.cpp (fuzzed apart
    // from any socket).
    const ResponseHead head = head_of(response);
    if (!check_response_head(head, r)) {
        return;
    }
    std::string body = read_limited_body(in, r);
    if (const Poco::Exception* e = session.networkException()) {
        e->rethrow();
    }
    judge_body(std::move(body), in.bad(), head, r);
}

enum class Phase { handshake, http };

// Maps an exception thrown after the TCP connect to an outcome.
void classify_failure(const Poco::Exception* e, const std::string& what, Phase phase,
                      bool watchdog_fired, const Target& t, FetchResult& r) {
    if (watchdog_fired || dynamic_cast<const Poco::TimeoutException*>(e) != nullptr) {
        r.outcome = FetchOutcome::timeout;
        r.error = std::string(phase == Phase::handshake ? "TLS handshake" : "HTTP exchange") +
                  " with " + r.address + " not complete within " + ms_text(t.budget);
        if (r.size > 0) {
            r.error += " (" + std::to_string(r.size) + " body octets read)";
        }
        return;
    }
    if (phase == Phase::handshake && classify_verify_failure(r)) {
        return;
    }
    // After the handshake everything (a malformed response, a connection cut
    // short, a TLS record error) is the server not speaking HTTP properly.
    if (phase == Phase::http) {
        r.outcome = FetchOutcome::protocol_error;
    } else if (dynamic_cast<const Poco::Net::CertificateValidationException*>(e) != nullptr) {
        r.outcome = FetchOutcome::certificate_host_mismatch;
    } else {
        r.outcome = FetchOutcome::tls_error;
    }
    r.error = (phase == Phase::handshake ? "TLS handshake with " : "HTTP exchange with ") +
              r.address + ": " + what;
}

// Handshake and HTTP over a connected socket, under the watchdog.
void exchange(Poco::Net::StreamSocket& socket, const Poco::Net::Context::Ptr& context,
              Watchdog& watchdog, const Target& t, FetchResult& r) {
    const Watchdog::Arm arm(watchdog, socket.impl()->sockfd(), t.deadline);
    const util::SigpipeBlock no_sigpipe;
    Phase phase = Phase::handshake;
    try {
        socket.setReceiveTimeout(timespan(t.budget));
        socket.setSendTimeout(timespan(t.budget));
        t_verify_failure = VerifyFailure{};
        // SNI and the chain check use the name, not the address we dialled.
        Poco::Net::SecureStreamSocket tls =
            Poco::Net::SecureStreamSocket::attach(socket, t.host, context);
        if (arm.fired()) {
            classify_failure(nullptr, "", phase, true, t, r);
            return;
        }
        if (!check_certificate_name(tls, t, r)) {
            return;
        }
        phase = Phase::http;
        // HTTPClientSession, not HTTPSClientSession: the latter cannot take a
        // socket that is already connected (its constructor sets the port,
        // which throws IllegalStateException then). Over our SecureStreamSocket
        // it speaks HTTPS all the same; it also treats a TLS connection cut
        // without close_notify as an error, not as the end of the body.
        Poco::Net::HTTPClientSession session(tls);
        session.setProxyConfig(Poco::Net::HTTPClientSession::ProxyConfig{});
        read_policy(session, t, r);
        // An end of file forced by the watchdog can pass for the end of the
        // body (or a short one); what was decided on the headers stands.
        if (arm.fired() &&
            (r.outcome == FetchOutcome::ok || r.outcome == FetchOutcome::protocol_error)) {
            classify_failure(nullptr, "", phase, true, t, r);
            r.body.clear();
        }
    } catch (const Poco::Exception& e) {
        classify_failure(&e, e.displayText(), phase, arm.fired(), t, r);
    } catch (const std::exception& e) {
        classify_failure(nullptr, e.what(), phase, arm.fired(), t, r);
    }
}

class HttpsFetcher final : public PolicyFetcher {
  public:
    HttpsFetcher(dns::Resolver& resolver, config::StsSettings settings)
        : resolver_(resolver), settings_(std::move(settings)) {}

    FetchResult fetch(const std::string& domain) override {
        const auto start = Clock::now();
        FetchResult r;
        try {
            fetch_into(domain, start, r);
        } catch (const std::exception& e) {  // allocation failure, thread limits
            r.outcome = FetchOutcome::protocol_error;
            r.error = e.what();
            r.body.clear();
        }
        if (stopping_.load() && r.outcome != FetchOutcome::ok) {
            r.outcome = FetchOutcome::timeout;
            r.error = "cut short: the milter is stopping";
            r.body.clear();
        }
        r.took = duration_cast<milliseconds>(Clock::now() - start);
        return r;
    }

    // Connections under way are shut down (the watchdog fires them all),
    // and later fetches fail before they connect.
    std::size_t shutdown() override {
        stopping_.store(true);
        return watchdog_.fire_all();
    }

  private:
    void fetch_into(const std::string& domain, Clock::time_point start, FetchResult& r) {
        Target t;
        std::string name = domain;
        if (!name.empty() && name.back() == '.') {
            name.pop_back();
        }
        std::transform(name.begin(), name.end(), name.begin(), ascii::lower);
        t.host = "mta-sts." + name;
        t.port = settings_.https_port;
        t.budget = settings_.fetch_timeout;
        t.deadline = start + t.budget;
        if (!plausible_host_name(name)) {
            r.outcome = FetchOutcome::dns_error;
            // Goes to logs and --check --json: printable, as every quoted error.
            r.error = "\"" + address::printable(domain) + "\" is not a domain name";
            return;
        }
        r.url = "https://" + t.host + (t.port == 443 ? "" : ":" + std::to_string(t.port)) +
                std::string(kPolicyPath);
        std::vector<std::string> addresses;
        if (auto error = resolve(resolver_, t.host, addresses)) {
            r.outcome = FetchOutcome::dns_error;
            r.error = std::move(*error);
            return;
        }
        std::string context_error;
        const Poco::Net::Context::Ptr context = this->context(context_error);
        if (context.isNull()) {
            r.outcome = FetchOutcome::tls_error;
            r.error = std::move(context_error);
            return;
        }
        if (stopping_.load()) {
            return;  // fetch() says why
        }
        std::optional<Poco::Net::StreamSocket> socket =
            connect_any(addresses, t, watchdog_, stopping_, r);
        if (socket) {
            exchange(*socket, context, watchdog_, t, r);
        }
    }

    // Built on first use and kept; a CA file that failed to load is tried
    // again on the next fetch.
    Poco::Net::Context::Ptr context(std::string& error) {
        const std::lock_guard lock(context_mu_);
        if (context_.isNull()) {
            try {
                context_ = make_context(settings_.ca_file);
            } catch (const Poco::Exception& e) {
                error = "sts.ca_file: cannot load " + settings_.ca_file + ": " + e.displayText();
            }
        }
        return context_;
    }

    dns::Resolver& resolver_;
    const config::StsSettings settings_;
    std::mutex context_mu_;
    Poco::Net::Context::Ptr context_;
    std::atomic<bool> stopping_{false};
    Watchdog watchdog_;
};

}  // namespace

std::unique_ptr<PolicyFetcher> make_https_fetcher(dns::Resolver& resolver,
                                                  const config::StsSettings& settings) {
    return std::make_unique<HttpsFetcher>(resolver, settings);
}

}  // namespace dsm::sts
