// The real Prober: SMTP over a plain POSIX socket up to STARTTLS (RFC 3207),
// then an OpenSSL handshake verified with OpenSSL's DANE API (RFC 7672 §3)
// or against WebPKI (RFC 8461 §4.2).
//
// How the probe is bounded. The socket is non-blocking from the start and
// every wait (connect, each read, each write, every step of the handshake,
// which runs on the same non-blocking descriptor) is a poll() for at most the
// time left until one deadline, `[probe] timeout_ms` after the probe began.
// So a server that drips one byte a second cannot stretch the probe, and a
// probe never takes much longer than timeout_ms whatever the server does.
// The polite QUIT at the end gets at most kQuitBudget of what is left.
//
// SIGPIPE. Our own writes use send(MSG_NOSIGNAL); OpenSSL's socket BIO writes
// with write(), so SIGPIPE is blocked in the calling thread for the probe's
// duration and a pending one discarded afterwards (the signal mask is per
// thread: nothing process-wide changes).
//
// Thread safety. Each Prober holds two SSL_CTX, configured once in the
// constructor and only read afterwards (SSL_new is safe on a shared
// context): one for DANE with an empty trust store, so that nothing but the
// TLSA records can ever authenticate a DANE peer (RFC 7672 §3.1.3: PKIX
// usages are unusable), one for WebPKI with the CAs of [sts] ca_file.
#include "core/probe/probe.hpp"
#include "core/util/sigpipe_block.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <system_error>
#include <utility>

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

namespace {

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

ProbeResult probe_dane_host(Prober& prober, const dane::MxHost& host, const std::string& address) {
    if (host.tlsa.empty()) {
        return prober.probe_dane(host.name, address, {});
    }
    // RFC 7672 §2.2.2: the lookup that ended the search is the one whose
    // records made the host a DANE MX (core/dane/dane_lookup.cpp).
    const dane::TlsaLookup& t = host.tlsa.back();
    const std::string base = tlsa_base_domain(t);
    if (base.empty() || same_name(base, host.name)) {
        return prober.probe_dane(host.name, address, t.records);
    }
    return prober.probe_dane_expanded(host.name, base, address, t.records);
}

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// RFC 5321 §4.5.3.1.5 allows 512 octets a reply line; be lenient but bounded.
constexpr std::size_t kMaxLine = 4096;
constexpr std::size_t kMaxReplyLines = 256;
// The QUIT after the verdict is a courtesy: never wait long for it.
constexpr milliseconds kQuitBudget{500};

std::string strip_dot(std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    return std::string(name);
}

// std::strerror is not thread-safe; probes run on many threads at once.
std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

// Drains this thread's OpenSSL error queue into one line.
std::string openssl_errors() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        std::array<char, 256> buf{};
        ERR_error_string_n(e, buf.data(), buf.size());
        if (!out.empty()) {
            out += "; ";
        }
        out += buf.data();
    }
    return out;
}

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

enum class Mode { dane, webpki };

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

struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct SslCtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

enum class Io { ok, timeout, closed, error };

struct Reply {
    int code = 0;
    std::vector<std::string> lines;  // text after "NNN-" / "NNN "
    [[nodiscard]] std::string first() const {
        return std::to_string(code) + (lines.empty() ? "" : " " + lines.front());
    }
};

enum class ReplyStatus { ok, timeout, closed, error, malformed };

// One TCP connection with a deadline; plain until start_tls().
class Session {
  public:
    explicit Session(Clock::time_point deadline) : deadline_(deadline) {}
    ~Session() {
        ssl_.reset();
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void set_deadline(Clock::time_point d) { deadline_ = d; }
    [[nodiscard]] bool buffered() const { return !in_.empty(); }
    [[nodiscard]] SSL* ssl() const { return ssl_.get(); }
    [[nodiscard]] const std::string& error() const { return error_; }

    Io connect(const std::string& address, std::uint16_t port);
    [[nodiscard]] std::string local_literal() const;
    Io send(std::string_view data);
    ReplyStatus read_reply(Reply& reply);
    // Takes `ssl`, binds it to the socket and runs the handshake.
    Io handshake(SslPtr ssl);
    void shutdown_tls();

  private:
    Io wait(short events);
    Io fill();
    template <typename F>
    Io ssl_call(F&& call, int& ret);

    Clock::time_point deadline_;
    int fd_ = -1;
    SslPtr ssl_;
    std::string in_;
    std::string error_;
};

Io Session::wait(short events) {
    for (;;) {
        const auto left = std::chrono::ceil<milliseconds>(deadline_ - Clock::now());
        if (left.count() <= 0) {
            return Io::timeout;
        }
        pollfd p{fd_, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 60000)));
        if (n > 0) {
            return Io::ok;  // the next call says what POLLERR/POLLHUP meant
        }
        if (n < 0 && errno != EINTR) {
            error_ = std::string("poll: ") + errno_text(errno);
            return Io::error;
        }
    }
}

Io Session::connect(const std::string& address, std::uint16_t port) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof *v6;
    } else {
        error_ = "\"" + address + "\" is not an IP address";
        return Io::error;
    }
    fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        error_ = std::string("socket: ") + errno_text(errno);
        return Io::error;
    }
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
        return Io::ok;
    }
    if (errno != EINPROGRESS) {
        error_ = errno_text(errno);
        return Io::error;
    }
    if (const Io w = wait(POLLOUT); w != Io::ok) {
        return w;
    }
    int so_error = 0;
    socklen_t so_len = sizeof so_error;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so_error, &so_len) != 0) {
        so_error = errno;
    }
    if (so_error != 0) {
        error_ = errno_text(so_error);
        return Io::error;
    }
    return Io::ok;
}

// RFC 5321 §4.1.4: a client without a meaningful domain name SHOULD send an
// address literal.
std::string Session::local_literal() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    std::array<char, INET6_ADDRSTRLEN> buf{};
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
        if (ss.ss_family == AF_INET &&
            ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf.data(),
                        buf.size()) != nullptr) {
            return std::string("[") + buf.data() + "]";
        }
        if (ss.ss_family == AF_INET6 &&
            ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf.data(),
                        buf.size()) != nullptr) {
            return std::string("[IPv6:") + buf.data() + "]";
        }
    }
    return "[127.0.0.1]";
}

template <typename F>
Io Session::ssl_call(F&& call, int& ret) {
    for (;;) {
        ERR_clear_error();
        ret = call();
        if (ret > 0) {
            return Io::ok;
        }
        const int e = SSL_get_error(ssl_.get(), ret);
        const int saved_errno = errno;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (const Io w = wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT); w != Io::ok) {
                return w;
            }
            continue;
        }
        if (e == SSL_ERROR_ZERO_RETURN ||
            (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && (ret == 0 || saved_errno == 0))) {
            error_ = "connection closed by the server";
            openssl_errors();
            return Io::closed;
        }
        if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
            error_ = errno_text(saved_errno);
        } else {
            error_ = openssl_errors();
        }
        return Io::error;
    }
}

Io Session::send(std::string_view data) {
    if (ssl_) {
        int ret = 0;
        return ssl_call(
            [&] { return SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size())); }, ret);
    }
    while (!data.empty()) {
        const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (const Io w = wait(POLLOUT); w != Io::ok) {
                return w;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        const int err = n < 0 ? errno : 0;
        error_ = err != 0 ? errno_text(err) : "send returned 0";
        return err == EPIPE || err == ECONNRESET ? Io::closed : Io::error;
    }
    return Io::ok;
}

Io Session::fill() {
    std::array<char, 4096> buf{};
    if (ssl_) {
        int ret = 0;
        const Io io = ssl_call(
            [&] { return SSL_read(ssl_.get(), buf.data(), static_cast<int>(buf.size())); }, ret);
        if (io == Io::ok) {
            in_.append(buf.data(), static_cast<std::size_t>(ret));
        }
        return io;
    }
    for (;;) {
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n > 0) {
            in_.append(buf.data(), static_cast<std::size_t>(n));
            return Io::ok;
        }
        if (n == 0) {
            error_ = "connection closed by the server";
            return Io::closed;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (const Io w = wait(POLLIN); w != Io::ok) {
                return w;
            }
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        error_ = errno_text(errno);
        return errno == ECONNRESET ? Io::closed : Io::error;
    }
}

// RFC 5321 §4.2.1: "NNN-text" lines continue a reply, "NNN text" (or a bare
// "NNN") ends it; every line carries the same code.
ReplyStatus Session::read_reply(Reply& reply) {
    reply = {};
    for (;;) {
        std::size_t eol = in_.find('\n');
        while (eol == std::string::npos) {
            if (in_.size() > kMaxLine) {
                error_ = "reply line longer than " + std::to_string(kMaxLine) + " octets";
                return ReplyStatus::malformed;
            }
            switch (fill()) {
                case Io::ok:
                    break;
                case Io::timeout:
                    return ReplyStatus::timeout;
                case Io::closed:
                    return ReplyStatus::closed;
                case Io::error:
                    return ReplyStatus::error;
            }
            eol = in_.find('\n');
        }
        std::string line = in_.substr(0, eol);
        in_.erase(0, eol + 1);
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        const bool digits =
            line.size() >= 3 && std::all_of(line.begin(), line.begin() + 3,
                                            [](char c) { return c >= '0' && c <= '9'; });
        if (!digits || line[0] < '2' || line[0] > '5' ||
            (line.size() > 3 && line[3] != ' ' && line[3] != '-') || line.size() > kMaxLine) {
            error_ = "malformed reply line \"" + line.substr(0, 80) + "\"";
            return ReplyStatus::malformed;
        }
        const int code = std::stoi(line.substr(0, 3));
        if (!reply.lines.empty() && code != reply.code) {
            error_ = "reply code changes within a reply (" + std::to_string(reply.code) +
                     ", then " + std::to_string(code) + ")";
            return ReplyStatus::malformed;
        }
        reply.code = code;
        reply.lines.push_back(line.size() > 4 ? line.substr(4) : std::string());
        if (line.size() == 3 || line[3] == ' ') {
            return ReplyStatus::ok;
        }
        if (reply.lines.size() >= kMaxReplyLines) {
            error_ = "reply of more than " + std::to_string(kMaxReplyLines) + " lines";
            return ReplyStatus::malformed;
        }
    }
}

Io Session::handshake(SslPtr ssl) {
    ssl_ = std::move(ssl);
    if (SSL_set_fd(ssl_.get(), fd_) != 1) {
        error_ = "SSL_set_fd: " + openssl_errors();
        return Io::error;
    }
    int ret = 0;
    return ssl_call([&] { return SSL_connect(ssl_.get()); }, ret);
}

void Session::shutdown_tls() {
    if (ssl_) {
        ERR_clear_error();
        SSL_shutdown(ssl_.get());  // sends close_notify; no wait for the peer's
        openssl_errors();
    }
}

bool lists_starttls(const Reply& ehlo) {
    // RFC 5321 §4.1.1.1: the first line greets; each further line starts
    // with an EHLO keyword (RFC 3207 §4: STARTTLS).
    for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
        std::string keyword = ehlo.lines[i].substr(0, ehlo.lines[i].find(' '));
        std::transform(keyword.begin(), keyword.end(), keyword.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (keyword == "STARTTLS") {
            return true;
        }
    }
    return false;
}

// A fully qualified host name of this machine, or "" (then an address
// literal is sent, RFC 5321 §4.1.4).
std::string local_fqdn() {
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0) {
        return {};
    }
    std::string name = strip_dot(buf.data());
    const bool ldh = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) != 0 || c == '-' || c == '.';
    });
    if (!ldh || name.find('.') == std::string::npos || name.front() == '.' ||
        name.find("..") != std::string::npos || name.size() > 253) {
        return {};
    }
    return name;
}

// The names and trust one probe verifies against.
struct TlsTarget {
    Mode mode = Mode::webpki;
    std::string sni;  // also the primary reference identifier
    std::string second_name;
    const std::vector<dane::TlsaRecord>* tlsa = nullptr;
};

class SmtpProber final : public Prober {
  public:
    SmtpProber(const config::ProbeSettings& settings, const std::string& ca_file);

    ProbeResult probe_dane(const std::string& mx_host, const std::string& address,
                           const std::vector<dane::TlsaRecord>& tlsa) override {
        return probe_dane_expanded(mx_host, mx_host, address, tlsa);
    }
    ProbeResult probe_dane_expanded(const std::string& mx_host, const std::string& tlsa_base_domain,
                                    const std::string& address,
                                    const std::vector<dane::TlsaRecord>& tlsa) override;
    ProbeResult probe_webpki(const std::string& mx_host, const std::string& address) override;

  private:
    ProbeResult run(const std::string& mx_host, const std::string& address,
                    const TlsTarget& target);
    // Plain SMTP up to the STARTTLS 220; false with r.outcome set otherwise.
    bool smtp_until_tls(Session& s, ProbeResult& r) const;
    bool connect(Session& s, ProbeResult& r) const;
    bool read_step(Session& s, Reply& reply, std::string_view what, ProbeResult& r) const;
    static bool command(Session& s, const std::string& line, ProbeResult& r);
    SslPtr new_ssl(const TlsTarget& target, ProbeResult& r);
    void tls(Session& s, const TlsTarget& target, VerifyTrace& trace, ProbeResult& r);

    config::ProbeSettings settings_;
    std::string helo_;  // "" : an address literal per connection
    SslCtxPtr dane_ctx_;
    SslCtxPtr webpki_ctx_;
    std::string dane_ctx_error_;
    std::string webpki_ctx_error_;
};

SmtpProber::SmtpProber(const config::ProbeSettings& settings, const std::string& ca_file)
    : settings_(settings), helo_(local_fqdn()) {
    ERR_clear_error();
    dane_ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!dane_ctx_ || SSL_CTX_dane_enable(dane_ctx_.get()) <= 0) {
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
    if ((target.mode == Mode::dane ? dane_ctx_ : webpki_ctx_) == nullptr) {
        r.outcome = ProbeOutcome::tls_error;
        r.detail =
            "local error: " + (target.mode == Mode::dane ? dane_ctx_error_ : webpki_ctx_error_);
        return r;
    }
    VerifyTrace trace;
    {
        Session s(start + settings_.timeout);
        if (smtp_until_tls(s, r)) {
            tls(s, target, trace, r);
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
    ERR_clear_error();
    return r;
}

// Sets the outcome; false, for `return fail(...)` in the steps below.
bool fail(ProbeResult& r, ProbeOutcome o, std::string detail) {
    r.outcome = o;
    r.detail = std::move(detail);
    return false;
}

bool SmtpProber::connect(Session& s, ProbeResult& r) const {
    const std::string where = r.address + " port " + std::to_string(settings_.port);
    switch (s.connect(r.address, settings_.port)) {
        case Io::ok:
            return true;
        case Io::timeout:
            return fail(r, ProbeOutcome::not_answering,
                        "no connection to " + where + " within the probe timeout");
        case Io::closed:
        case Io::error:
            break;
    }
    return fail(r, ProbeOutcome::not_answering, "connect to " + where + ": " + s.error());
}

// One step of the dialogue: a reply, or the outcome when none came.
// Silence, a closed connection or (except to STARTTLS) a 4xx is "not
// answering" (the server may be down or busy, SPEC §5); garbage is a
// protocol error.
bool SmtpProber::read_step(Session& s, Reply& reply, std::string_view what, ProbeResult& r) const {
    const std::string step(what);
    switch (s.read_reply(reply)) {
        case ReplyStatus::ok:
            if (reply.code >= 400 && reply.code < 500 && what != "STARTTLS") {
                return fail(r, ProbeOutcome::not_answering,
                            step + ": temporary failure \"" + reply.first() + "\"");
            }
            return true;
        case ReplyStatus::timeout:
            return fail(r, ProbeOutcome::not_answering,
                        step + ": timed out (probe timeout " +
                            std::to_string(settings_.timeout.count()) + " ms)");
        case ReplyStatus::closed:
        case ReplyStatus::error:
            return fail(r, ProbeOutcome::not_answering, step + ": " + s.error());
        case ReplyStatus::malformed:
            break;
    }
    return fail(r, ProbeOutcome::protocol_error, step + ": " + s.error());
}

bool SmtpProber::command(Session& s, const std::string& line, ProbeResult& r) {
    if (s.send(line + "\r\n") == Io::ok) {
        return true;
    }
    return fail(r, ProbeOutcome::not_answering, "sending " + line + ": " + s.error());
}

bool SmtpProber::smtp_until_tls(Session& s, ProbeResult& r) const {
    Reply reply;
    if (!connect(s, r) || !read_step(s, reply, "banner", r)) {
        return false;
    }
    if (reply.code != 220) {
        // RFC 5321 §3.1: 554 instead of 220 means "no SMTP service here".
        return fail(r, ProbeOutcome::not_answering,
                    "banner refuses service: \"" + reply.first() + "\"");
    }
    if (!command(s, "EHLO " + (helo_.empty() ? s.local_literal() : helo_), r) ||
        !read_step(s, reply, "EHLO", r)) {
        return false;
    }
    if (reply.code != 250) {
        return fail(r, ProbeOutcome::starttls_not_supported,
                    "EHLO refused: \"" + reply.first() + "\"");
    }
    if (!lists_starttls(reply)) {
        return fail(r, ProbeOutcome::starttls_not_supported,
                    "the EHLO reply does not offer STARTTLS (RFC 3207 §4)");
    }
    if (!command(s, "STARTTLS", r) || !read_step(s, reply, "STARTTLS", r)) {
        return false;
    }
    if (reply.code != 220) {
        // RFC 3207 §4 makes 454 temporary, but it is what a server with a
        // broken certificate or key says every time (Postfix: "TLS not
        // available due to local problem"): the MX answered without TLS.
        return fail(r, ProbeOutcome::starttls_not_supported,
                    "STARTTLS refused: \"" + reply.first() + "\"");
    }
    if (s.buffered()) {
        // RFC 3207 §5 / CVE-2011-0411: anything sent before the handshake
        // would be taken for part of the TLS session.
        return fail(r, ProbeOutcome::protocol_error,
                    "the server sent data after its STARTTLS reply, before the TLS handshake");
    }
    return true;
}

SslPtr SmtpProber::new_ssl(const TlsTarget& target, ProbeResult& r) {
    SSL_CTX* ctx = target.mode == Mode::dane ? dane_ctx_.get() : webpki_ctx_.get();
    ERR_clear_error();
    SslPtr ssl(SSL_new(ctx));
    bool ok = ssl != nullptr;
    // RFC 6125 §6.4.3 as RFC 7672 §3.2.3 and RFC 8461 §4.2 apply it: a
    // wildcard only as the whole left-most label.
    if (ok) {
        SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
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

void SmtpProber::tls(Session& s, const TlsTarget& target, VerifyTrace& trace, ProbeResult& r) {
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
        r.detail = "TLS handshake timed out (probe timeout " +
                   std::to_string(settings_.timeout.count()) + " ms)";
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

}  // namespace

std::unique_ptr<Prober> make_smtp_prober(const config::ProbeSettings& settings,
                                         const std::string& ca_file) {
    return std::make_unique<SmtpProber>(settings, ca_file);
}

}  // namespace dsm::probe
