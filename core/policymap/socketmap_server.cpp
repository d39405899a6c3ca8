#include "core/policymap/socketmap_server.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/TCPServerParams.h>
#include <Poco/ThreadPool.h>
#include <Poco/Timespan.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "core/policymap/netstring.hpp"
#include "core/util/unix_socket.hpp"

namespace dsm::policymap {

namespace {

// dict_sockmap.c (DICT_SOCKMAP_DEF_MAX_REPLY): Postfix refuses longer replies.
constexpr std::size_t kMaxReply = 100000;
constexpr std::size_t kReadChunk = 4096;
// Replies of one read are written together, up to this much at a time.
constexpr std::size_t kFlushAt = 65536;
constexpr int kListenBacklog = 128;
// Accepted connections waiting for a thread (each holds only a descriptor).
constexpr int kMinQueued = 64;
constexpr std::string_view kMalformed = "PERM malformed request";
constexpr std::string_view kInternalError = "TEMP internal error";

// Peer data in our log: printable ASCII, cut short.
std::string printable(std::string_view s) {
    constexpr std::size_t kMax = 120;
    std::string out;
    for (const char c : s.substr(0, kMax)) {
        out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    }
    if (s.size() > kMax) {
        out += "...";
    }
    return out;
}

bool starts_with_i(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
               return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
           });
}

struct Endpoint {
    bool is_unix = false;
    std::string host;  // inet: without brackets
    std::uint16_t port = 0;
    std::string path;  // unix
};

// "inet:HOST:PORT" ([IPv6] in brackets) or "unix:/PATH" (SPEC §2 [policy_map]).
Result<Endpoint> parse_listen(std::string_view listen) {
    Endpoint e;
    if (starts_with_i(listen, "unix:")) {
        e.is_unix = true;
        e.path = std::string(listen.substr(5));
        if (e.path.empty() || e.path.front() != '/') {
            return Error{"expected unix:/ABSOLUTE/PATH"};
        }
        return e;
    }
    if (!starts_with_i(listen, "inet:")) {
        return Error{"expected inet:HOST:PORT or unix:/PATH"};
    }
    std::string_view rest = listen.substr(5);
    std::string_view host;
    std::string_view port;
    if (rest.starts_with('[')) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos || rest.substr(close + 1, 1) != ":") {
            return Error{"expected inet:[IPv6]:PORT"};
        }
        host = rest.substr(1, close - 1);
        port = rest.substr(close + 2);
    } else {
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) {
            return Error{"expected inet:HOST:PORT"};
        }
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    unsigned value = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), value);
    if (host.empty() || port.empty() || r.ec != std::errc{} || r.ptr != port.data() + port.size() ||
        value > 65535) {
        return Error{"expected inet:HOST:PORT with PORT in 0-65535"};
    }
    e.host = std::string(host);
    e.port = static_cast<std::uint16_t>(value);
    return e;
}

// What the connections share with the server; outlives both (shared_ptr).
class Shared {
  public:
    Shared(SocketmapServer::Handler handler, std::chrono::milliseconds idle, bool tcp)
        : handler_(std::move(handler)), idle_(idle), tcp_(tcp) {}

    [[nodiscard]] std::chrono::milliseconds idle_timeout() const { return idle_; }

    // Set before the server starts; read-only afterwards.
    void set_malformed_observer(SocketmapServer::MalformedObserver o) { malformed_ = std::move(o); }
    void malformed(std::string_view kind) const {
        if (malformed_) {
            malformed_(kind);
        }
    }
    [[nodiscard]] bool tcp() const { return tcp_; }

    // A connection registers before it reads; false once stopping.
    bool enter(int fd) {
        const std::lock_guard lock(mu_);
        if (stopping_) {
            return false;
        }
        open_.insert(fd);
        return true;
    }
    // Before the socket is closed, so close_all() never touches a reused fd.
    void leave(int fd) {
        const std::lock_guard lock(mu_);
        open_.erase(fd);
    }
    // Every open connection reads end-of-file (or fails its write) and ends.
    void close_all() {
        const std::lock_guard lock(mu_);
        stopping_ = true;
        for (const int fd : open_) {
            ::shutdown(fd, SHUT_RDWR);
        }
    }

    // socketmap_table(5) REQUEST FORMAT: "name <space> key".
    std::string answer(std::string_view request) const {
        const auto space = request.find(' ');
        if (space == std::string_view::npos || space == 0 || space + 1 == request.size()) {
            spdlog::warn("policy_map: malformed request \"{}\"", printable(request));
            malformed("request");
            return std::string(kMalformed);
        }
        const std::string name(request.substr(0, space));
        const std::string key(request.substr(space + 1));
        try {
            std::string reply = handler_(name, key);
            if (reply.size() > kMaxReply) {
                spdlog::error("policy_map: reply for {} \"{}\" over {} octets", name,
                              printable(key), kMaxReply);
                return std::string(kInternalError);
            }
            return reply;
        } catch (const std::exception& e) {
            spdlog::error("policy_map: lookup of {} \"{}\" failed: {}", name, printable(key),
                          e.what());
        } catch (...) {
            spdlog::error("policy_map: lookup of {} \"{}\" failed", name, printable(key));
        }
        return std::string(kInternalError);
    }

  private:
    SocketmapServer::Handler handler_;
    SocketmapServer::MalformedObserver malformed_;
    std::chrono::milliseconds idle_;
    bool tcp_;
    std::mutex mu_;
    std::unordered_set<int> open_;
    bool stopping_ = false;
};

std::string peer_of(const Poco::Net::StreamSocket& s) {
    try {
        return s.peerAddress().toString();
    } catch (...) {
        return "?";
    }
}

class Connection final : public Poco::Net::TCPServerConnection {
  public:
    Connection(const Poco::Net::StreamSocket& s, std::shared_ptr<Shared> shared)
        : Poco::Net::TCPServerConnection(s), shared_(std::move(shared)) {}

    // Never throws: TCPServer would only hand an exception to Poco's
    // ErrorHandler.
    void run() override {
        const int fd = socket().impl()->sockfd();
        if (!shared_->enter(fd)) {
            return;
        }
        try {
            serve();
        } catch (const Poco::TimeoutException&) {
            spdlog::debug("policy_map: closing idle connection from {}", peer_of(socket()));
        } catch (const Poco::Exception& e) {
            spdlog::debug("policy_map: connection from {}: {}", peer_of(socket()), e.displayText());
        } catch (const std::exception& e) {
            spdlog::warn("policy_map: connection from {}: {}", peer_of(socket()), e.what());
        } catch (...) {
            spdlog::warn("policy_map: connection from {} failed", peer_of(socket()));
        }
        shared_->leave(fd);
    }

  private:
    void serve() {
        Poco::Net::StreamSocket& s = socket();
        if (shared_->tcp()) {
            s.setNoDelay(true);  // one small reply per request: no Nagle delay
        }
        const Poco::Timespan idle(
            std::chrono::duration_cast<std::chrono::microseconds>(shared_->idle_timeout()).count());
        s.setReceiveTimeout(idle);
        s.setSendTimeout(idle);

        NetstringReader reader;
        std::array<char, kReadChunk> buf{};
        std::string out;
        for (;;) {
            const int n = s.receiveBytes(buf.data(), static_cast<int>(buf.size()));
            if (n <= 0) {
                return;  // the client closed (Postfix: idle 10 s, or 100 s old)
            }
            reader.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
            out.clear();
            std::string_view request;
            NetstringStatus status = NetstringStatus::need_more;
            while ((status = reader.next(request)) == NetstringStatus::complete) {
                netstring_append(out, shared_->answer(request));
                if (out.size() >= kFlushAt) {
                    send_all(s, out);  // bounded memory for a pipelined flood
                    out.clear();
                }
            }
            send_all(s, out);
            if (status != NetstringStatus::need_more) {
                // SPEC §7: over the limit or broken framing: no reply, close.
                spdlog::warn("policy_map: {} request from {}: closing the connection",
                             to_string(status), peer_of(s));
                shared_->malformed(status == NetstringStatus::oversize ? "oversize" : "framing");
                return;
            }
        }
    }

    static void send_all(Poco::Net::StreamSocket& s, std::string_view data) {
        while (!data.empty()) {
            // MSG_NOSIGNAL: a client that went away is an error, not SIGPIPE.
            const int n = s.sendBytes(data.data(), static_cast<int>(data.size()), MSG_NOSIGNAL);
            if (n <= 0) {
                throw Poco::Net::ConnectionResetException("send");
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    std::shared_ptr<Shared> shared_;
};

class Factory final : public Poco::Net::TCPServerConnectionFactory {
  public:
    explicit Factory(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
    Poco::Net::TCPServerConnection* createConnection(
        const Poco::Net::StreamSocket& socket) override {
        return new Connection(socket, shared_);
    }

  private:
    std::shared_ptr<Shared> shared_;
};

}  // namespace

struct SocketmapServer::Impl {
    Impl(int min_threads, int max_threads) : pool("policy_map", min_threads, max_threads) {}

    std::shared_ptr<Shared> shared;
    Endpoint endpoint;
    std::uint16_t port = 0;
    Poco::Net::ServerSocket listener;  // shares its descriptor with the server's copy
    // Declared before `server`: the server's threads come from it, so it is
    // destroyed after the server.
    Poco::ThreadPool pool;
    std::unique_ptr<Poco::Net::TCPServer> server;
    std::mutex mu;
    bool started = false;
    bool stopped = false;
};

SocketmapServer::SocketmapServer(const std::string& listen, Handler handler, unsigned max_threads,
                                 std::chrono::milliseconds idle_timeout) {
    auto endpoint = parse_listen(listen);
    if (!endpoint) {
        throw std::runtime_error("policy_map listen \"" + listen + "\": " + endpoint.error());
    }
    const int threads = static_cast<int>(std::clamp(max_threads, 1U, 4096U));
    impl_ = std::make_unique<Impl>(std::min(2, threads), threads);
    impl_->endpoint = std::move(*endpoint);
    impl_->shared =
        std::make_shared<Shared>(std::move(handler), idle_timeout, !impl_->endpoint.is_unix);
    try {
        Poco::Net::ServerSocket& socket = impl_->listener;
        if (impl_->endpoint.is_unix) {
            if (auto cleared = util::clear_stale_unix_socket(impl_->endpoint.path); !cleared) {
                throw std::runtime_error(cleared.error());
            }
            socket.bind(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL,
                                                 impl_->endpoint.path),
                        false, false);
        } else {
            // SO_REUSEADDR for restarts, never SO_REUSEPORT: a second
            // instance on the same port must fail, not share the traffic.
            socket.bind(Poco::Net::SocketAddress(impl_->endpoint.host, impl_->endpoint.port), true,
                        false);
            impl_->port = socket.address().port();
        }
        socket.listen(kListenBacklog);

        Poco::Net::TCPServerParams::Ptr params = new Poco::Net::TCPServerParams;
        params->setMaxThreads(threads);
        params->setMaxQueued(std::max(kMinQueued, 4 * threads));
        params->setThreadIdleTime(Poco::Timespan(10, 0));
        impl_->server = std::make_unique<Poco::Net::TCPServer>(new Factory(impl_->shared),
                                                               impl_->pool, socket, params);
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("policy_map listen \"" + listen + "\": " + e.displayText());
    } catch (const std::exception& e) {
        throw std::runtime_error("policy_map listen \"" + listen + "\": " + e.what());
    }
}

Result<std::unique_ptr<SocketmapServer>> SocketmapServer::create(
    const std::string& listen, Handler handler, unsigned max_threads,
    std::chrono::milliseconds idle_timeout) {
    try {
        return std::make_unique<SocketmapServer>(listen, std::move(handler), max_threads,
                                                 idle_timeout);
    } catch (const std::exception& e) {
        return Error{e.what()};
    }
}

SocketmapServer::~SocketmapServer() {
    stop();
}

void SocketmapServer::on_malformed(MalformedObserver observer) {
    const std::lock_guard lock(impl_->mu);
    if (!impl_->started) {
        impl_->shared->set_malformed_observer(std::move(observer));
    }
}

void SocketmapServer::start() {
    const std::lock_guard lock(impl_->mu);
    if (impl_->started || impl_->stopped) {
        return;
    }
    impl_->started = true;
    impl_->server->start();
}

void SocketmapServer::stop() {
    if (!impl_) {
        return;
    }
    const std::lock_guard lock(impl_->mu);
    if (impl_->stopped) {
        return;
    }
    impl_->stopped = true;
    try {
        impl_->server->stop();       // no new connections; queued ones dropped
        impl_->listener.close();     // the port or path is free again
        impl_->shared->close_all();  // open ones read end-of-file
        impl_->pool.joinAll();       // every connection thread has returned
    } catch (const std::exception& e) {
        spdlog::error("policy_map: stopping: {}", e.what());
    } catch (...) {
        spdlog::error("policy_map: stopping failed");
    }
    if (impl_->endpoint.is_unix) {
        ::unlink(impl_->endpoint.path.c_str());
    }
}

std::uint16_t SocketmapServer::port() const {
    return impl_->port;
}

}  // namespace dsm::policymap
