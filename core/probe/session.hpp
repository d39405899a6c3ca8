// One TCP connection of a probe, bounded by one deadline (internal to
// core/probe). The socket is non-blocking from the start and every wait
// (connect, each read, each write, every step of the TLS handshake, which
// runs on the same descriptor) is a poll() for at most the time left until
// the deadline: a server that drips one byte a second cannot stretch a probe.
// Each poll also watches the prober's StopSignal: when the milter stops, the
// wait ends at once as an error ("cut short: the milter is stopping").
// Reads SMTP replies (RFC 5321 §4.2.1) in the clear and, after handshake(),
// inside TLS. Our own writes use send(MSG_NOSIGNAL); OpenSSL's socket BIO
// writes with write(), so callers block SIGPIPE (util::SigpipeBlock).
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/probe/smtp_reply.hpp"
#include "core/util/stop_signal.hpp"

namespace dsm::probe::detail {

using Clock = std::chrono::steady_clock;

struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct SslCtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// std::strerror is not thread-safe; probes run on many threads at once.
std::string errno_text(int err);

// Drains this thread's OpenSSL error queue into one line.
std::string openssl_errors();

enum class Io { ok, timeout, closed, error };

enum class ReplyStatus { ok, timeout, closed, error, malformed };

// One TCP connection with a deadline; plain until start_tls().
class Session {
  public:
    // `stop` (the prober's) must outlive the session.
    Session(Clock::time_point deadline, const util::StopSignal& stop)
        : deadline_(deadline), stop_(stop) {}
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

    // From `source` (an address of this host, "" for the kernel's choice:
    // source_address.hpp).
    Io connect(const std::string& address, std::uint16_t port, const std::string& source);
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
    const util::StopSignal& stop_;
    int fd_ = -1;
    SslPtr ssl_;
    std::string in_;
    std::string error_;
};

}  // namespace dsm::probe::detail
