// See session.hpp.
#include "core/probe/session.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

#include "core/probe/source_address.hpp"

namespace dsm::probe::detail {

namespace {

using std::chrono::milliseconds;

}  // namespace

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

Io Session::wait(short events) {
    const int stop_fd = stop_.fd();  // -1: no pipe, only the deadline
    for (;;) {
        const auto left = std::chrono::ceil<milliseconds>(deadline_ - Clock::now());
        if (left.count() <= 0) {
            return Io::timeout;
        }
        std::array<pollfd, 2> p{{{fd_, events, 0}, {stop_fd, POLLIN, 0}}};
        const int n = ::poll(p.data(), stop_fd >= 0 ? 2 : 1,
                             static_cast<int>(std::min<long long>(left.count(), 60000)));
        if (n > 0 && p[1].revents != 0) {
            error_ = "cut short: the milter is stopping";
            return Io::error;
        }
        if (n > 0) {
            return Io::ok;  // the next call says what POLLERR/POLLHUP meant
        }
        if (n < 0 && errno != EINTR) {
            error_ = std::string("poll: ") + errno_text(errno);
            return Io::error;
        }
    }
}

Io Session::connect(const std::string& address, std::uint16_t port, const std::string& source) {
    sockaddr_storage ss{};
    const socklen_t len = to_sockaddr(address, port, ss);
    if (len == 0) {
        error_ = "\"" + address + "\" is not an IP address";
        return Io::error;
    }
    fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        error_ = std::string("socket: ") + errno_text(errno);
        return Io::error;
    }
    if (!source.empty()) {
        if (auto why = bind_source(fd_, source)) {
            // Ours, not the MX's: a source address that went away.
            error_ = "local error: bind to " + source + ": " + *why;
            return Io::error;
        }
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

// One reply, line by line (smtp_reply.hpp), reading until it is complete.
ReplyStatus Session::read_reply(Reply& reply) {
    reply = {};
    for (;;) {
        switch (take_reply_line(in_, reply, error_)) {
            case ReplyLine::last:
                return ReplyStatus::ok;
            case ReplyLine::more:
                continue;
            case ReplyLine::malformed:
                return ReplyStatus::malformed;
            case ReplyLine::need_more:
                break;
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

}  // namespace dsm::probe::detail
