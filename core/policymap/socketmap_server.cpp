#include "core/policymap/socketmap_server.hpp"

#include <Poco/Exception.h>
#include <Poco/NObserver.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/SocketNotification.h>
#include <Poco/Net/SocketReactor.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/policymap/listen_endpoint.hpp"
#include "core/policymap/netstring.hpp"
#include "core/util/unix_socket.hpp"
#include "core/util/worker_pool.hpp"

namespace dsm::policymap {

namespace {

using Clock = std::chrono::steady_clock;
using Poco::Net::ReadableNotification;
using Poco::Net::WritableNotification;

// dict_sockmap.c (DICT_SOCKMAP_DEF_MAX_REPLY): Postfix refuses longer replies.
constexpr std::size_t kMaxReply = 100000;
// One read of a connection; a connection is not read again before the
// requests of this read are answered and written, so this bounds what one
// peer makes us hold (with kMaxRequestPayload).
constexpr std::size_t kReadChunk = 4096;
// Requests answered by one job; the rest wait in the reader for the next.
constexpr std::size_t kMaxBatch = 64;
constexpr int kListenBacklog = 1024;
// Connections taken per readable event of the listener.
constexpr int kAcceptBurst = 64;
// The reactor wakes at least this often (stop, idle sweep).
constexpr long kReactorTickMicroseconds = 200000;
constexpr std::chrono::seconds kSweepEvery{1};
constexpr std::chrono::seconds kRefusalLogEvery{10};
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

std::string peer_of(const Poco::Net::StreamSocket& s) {
    try {
        return s.peerAddress().toString();
    } catch (...) {
        return "?";
    }
}

// What the handler side needs: the handler and the malformed observer.
class Answerer {
  public:
    explicit Answerer(SocketmapServer::Handler handler) : handler_(std::move(handler)) {}

    // Set before the server starts; read-only afterwards.
    void set_malformed_observer(SocketmapServer::MalformedObserver o) { malformed_ = std::move(o); }
    void malformed(std::string_view kind) const {
        if (malformed_) {
            malformed_(kind);
        }
    }

    // socketmap_table(5) REQUEST FORMAT: "name <space> key".
    [[nodiscard]] std::string answer(std::string_view request) const {
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
};

class Loop;

// One client connection. At any moment exactly one party owns its buffers:
//   reading: the reactor thread, which waits for requests (registered readable);
//   working: one pool thread, which answers a batch of requests;
//   writing: the reactor thread, which waits until the client takes the rest
//            of the replies (registered writable).
// A connection is never read while its replies are pending, so a client that
// pipelines without reading holds at most one read and one batch of replies.
class Connection : public std::enable_shared_from_this<Connection> {
  public:
    enum class State { reading, working, writing, closed };

    Connection(Loop& loop, Poco::Net::StreamSocket socket)
        : loop_(loop), socket_(std::move(socket)), peer_(peer_of(socket_)) {}

    void start();
    void on_readable(const Poco::AutoPtr<ReadableNotification>&);
    void on_writable(const Poco::AutoPtr<WritableNotification>&);
    // Closes if idle for longer than `idle` while waiting for the client.
    void close_if_idle(Clock::time_point now, std::chrono::milliseconds idle);
    void close(std::string_view why);

  private:
    void take_batch();
    void work();
    void write_and_continue();
    void wait_for_requests();
    [[nodiscard]] int fd() const { return socket_.impl()->sockfd(); }
    [[nodiscard]] Poco::NObserver<Connection, ReadableNotification> readable() {
        return {*this, &Connection::on_readable};
    }
    [[nodiscard]] Poco::NObserver<Connection, WritableNotification> writable() {
        return {*this, &Connection::on_writable};
    }

    Loop& loop_;
    Poco::Net::StreamSocket socket_;
    const std::string peer_;
    // State, activity and registrations; buffers belong to the owner above.
    std::mutex mu_;
    State state_ = State::reading;
    Clock::time_point last_activity_ = Clock::now();
    NetstringReader reader_;
    std::vector<std::string> batch_;
    NetstringStatus failure_ = NetstringStatus::need_more;  // oversize/malformed seen
    std::string out_;
    std::size_t out_sent_ = 0;
};

// Poco's reactor (epoll) with a hook after every wait, busy or not.
class Reactor final : public Poco::Net::SocketReactor {
  public:
    explicit Reactor(std::function<void()> tick)
        : SocketReactor(Poco::Timespan(0, kReactorTickMicroseconds)), tick_(std::move(tick)) {}
    void onBusy() override { tick_(); }
    void onTimeout() override { tick_(); }

  private:
    std::function<void()> tick_;
};

// One reactor thread that accepts and waits on every connection, a pool that
// runs the handler, and the once-a-second idle sweep.
class Loop {
  public:
    Loop(SocketmapServer::Handler handler, unsigned threads, std::size_t max_connections,
         std::chrono::milliseconds idle, bool tcp)
        : answerer_(std::move(handler)),
          threads_(threads),
          max_connections_(max_connections),
          idle_(idle),
          tcp_(tcp),
          reactor_([this] { tick(); }) {}

    Answerer& answerer() { return answerer_; }
    Poco::Net::SocketReactor& reactor() { return reactor_; }

    // Takes the bound, listening socket and starts the threads.
    void start(Poco::Net::ServerSocket& listener) {
        listener_ = listener;
        listener_.setBlocking(false);
        pool_ = std::make_unique<util::WorkerPool>(threads_, max_connections_ + 1);
        reactor_.addEventHandler(
            listener_, Poco::NObserver<Loop, ReadableNotification>(*this, &Loop::on_accept));
        thread_ = std::thread([this] { reactor_.run(); });
    }

    // The reactor returns, running jobs finish (queued ones are dropped),
    // then every connection is closed.
    void stop() {
        reactor_.stop();
        if (thread_.joinable()) {
            thread_.join();
        }
        pool_.reset();
        for (const auto& c : snapshot()) {
            c->close("server stopping");
        }
    }

    void submit(std::shared_ptr<Connection> c, void (Connection::*job)()) {
        // The queue holds one job per connection at most: never full.
        if (!pool_->submit([c = std::move(c), job] { (c.get()->*job)(); })) {
            spdlog::error("policy_map: job queue full");
        }
    }

    void forget(Connection* c) {
        const std::lock_guard lock(mu_);
        connections_.erase(c);
    }

  private:
    void on_accept(const Poco::AutoPtr<ReadableNotification>&) {
        for (int i = 0; i < kAcceptBurst; ++i) {
            Poco::Net::StreamSocket s;
            try {
                s = listener_.acceptConnection();
            } catch (const Poco::Exception&) {
                return;  // EAGAIN: nothing more to take now (or a transient error)
            }
            admit(std::move(s));
        }
    }

    void admit(Poco::Net::StreamSocket s) {
        std::shared_ptr<Connection> c;
        {
            const std::lock_guard lock(mu_);
            if (connections_.size() >= max_connections_) {
                ++refused_;
            } else {
                c = std::make_shared<Connection>(*this, s);
                connections_.emplace(c.get(), c);
            }
        }
        if (!c) {
            // Postfix retries a lost connection once, then defers the
            // delivery: refusing is the bounded answer to a flood.
            s.close();
            return;
        }
        try {
            s.setBlocking(false);
            if (tcp_) {
                s.setNoDelay(true);  // one small reply per request: no Nagle delay
            }
        } catch (const Poco::Exception& e) {
            c->close(e.displayText());
            return;
        }
        c->start();
    }

    [[nodiscard]] std::vector<std::shared_ptr<Connection>> snapshot() {
        const std::lock_guard lock(mu_);
        std::vector<std::shared_ptr<Connection>> all;
        all.reserve(connections_.size());
        for (const auto& [_, c] : connections_) {
            all.push_back(c);
        }
        return all;
    }

    // On the reactor thread, after every poll.
    void tick() {
        const auto now = Clock::now();
        if (now - last_sweep_ < kSweepEvery) {
            return;
        }
        last_sweep_ = now;
        for (const auto& c : snapshot()) {
            c->close_if_idle(now, idle_);
        }
        std::size_t refused = 0;
        std::size_t open = 0;
        {
            const std::lock_guard lock(mu_);
            refused = refused_;
            open = connections_.size();
        }
        if (refused != refused_logged_ && now - last_refusal_log_ >= kRefusalLogEvery) {
            spdlog::warn("policy_map: refused={} reason=connection-limit limit={} open={}",
                         refused - refused_logged_, max_connections_, open);
            refused_logged_ = refused;
            last_refusal_log_ = now;
        }
    }

    Answerer answerer_;
    const unsigned threads_;
    const std::size_t max_connections_;
    const std::chrono::milliseconds idle_;
    const bool tcp_;
    Reactor reactor_;
    Poco::Net::ServerSocket listener_;
    std::unique_ptr<util::WorkerPool> pool_;
    std::thread thread_;
    std::mutex mu_;
    std::unordered_map<Connection*, std::shared_ptr<Connection>> connections_;
    std::size_t refused_ = 0;
    // Reactor thread only.
    Clock::time_point last_sweep_ = Clock::now();
    Clock::time_point last_refusal_log_{};
    std::size_t refused_logged_ = 0;
};

void Connection::start() {
    loop_.reactor().addEventHandler(socket_, readable());
}

void Connection::on_readable(const Poco::AutoPtr<ReadableNotification>&) {
    const auto self = shared_from_this();  // close() may drop the loop's reference
    std::array<char, kReadChunk> buf{};
    const ssize_t n = ::recv(fd(), buf.data(), buf.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        // The client closed (Postfix: idle 10 s, or 100 s old) or reset.
        close(n == 0 ? "closed by client" : std::strerror(errno));
        return;
    }
    {
        const std::lock_guard lock(mu_);
        last_activity_ = Clock::now();
    }
    reader_.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    take_batch();
    if (batch_.empty() && failure_ == NetstringStatus::need_more) {
        return;  // a partial request: wait for the rest
    }
    {
        const std::lock_guard lock(mu_);
        state_ = State::working;
    }
    loop_.reactor().removeEventHandler(socket_, readable());
    loop_.submit(shared_from_this(), &Connection::work);  // the last touch here
}

void Connection::take_batch() {
    std::string_view request;
    while (batch_.size() < kMaxBatch && failure_ == NetstringStatus::need_more) {
        const auto status = reader_.next(request);
        if (status == NetstringStatus::complete) {
            batch_.emplace_back(request);
        } else if (status != NetstringStatus::need_more) {
            failure_ = status;
        } else {
            break;
        }
    }
}

void Connection::work() {
    out_.clear();
    out_sent_ = 0;
    for (const auto& request : batch_) {
        netstring_append(out_, loop_.answerer().answer(request));
    }
    batch_.clear();
    write_and_continue();
}

// Working (pool thread) or writing (reactor thread): sends what the client
// takes now; then answers the next batch, waits for requests, or closes.
void Connection::write_and_continue() {
    while (out_sent_ < out_.size()) {
        // MSG_NOSIGNAL: a client that went away is an error, not SIGPIPE.
        const ssize_t n =
            ::send(fd(), out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
        if (n > 0) {
            out_sent_ += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            bool register_writable = false;
            {
                const std::lock_guard lock(mu_);
                register_writable = state_ != State::writing;
                state_ = State::writing;
                last_activity_ = Clock::now();
            }
            // The reactor's locks are never taken under mu_: its dispatch
            // holds them while a handler takes mu_.
            if (register_writable) {
                loop_.reactor().addEventHandler(socket_, writable());
            }
            return;
        }
        close(std::strerror(errno));
        return;
    }
    bool was_writing = false;
    {
        const std::lock_guard lock(mu_);
        was_writing = state_ == State::writing;
        if (was_writing) {
            state_ = State::working;
        }
    }
    if (was_writing) {
        loop_.reactor().removeEventHandler(socket_, writable());
    }
    if (failure_ != NetstringStatus::need_more) {
        // SPEC §7: over the limit or broken framing: no reply, close.
        spdlog::warn("policy_map: {} request from {}: closing the connection", to_string(failure_),
                     peer_);
        loop_.answerer().malformed(failure_ == NetstringStatus::oversize ? "oversize" : "framing");
        close(to_string(failure_));
        return;
    }
    take_batch();
    if (batch_.empty()) {
        wait_for_requests();
    } else if (was_writing) {
        loop_.submit(shared_from_this(), &Connection::work);  // off the reactor thread
    } else {
        work();
    }
}

void Connection::wait_for_requests() {
    {
        const std::lock_guard lock(mu_);
        if (state_ == State::closed) {
            return;
        }
        state_ = State::reading;
        last_activity_ = Clock::now();
    }
    loop_.reactor().addEventHandler(socket_, readable());
}

void Connection::on_writable(const Poco::AutoPtr<WritableNotification>&) {
    const auto self = shared_from_this();  // close() may drop the loop's reference
    {
        const std::lock_guard lock(mu_);
        last_activity_ = Clock::now();
    }
    write_and_continue();
}

void Connection::close_if_idle(Clock::time_point now, std::chrono::milliseconds idle) {
    {
        const std::lock_guard lock(mu_);
        // A connection being answered is never idle: the handler is bounded
        // by its own timeouts (SPEC §7: rcpt.lookup_timeout_ms).
        if (state_ == State::working || state_ == State::closed || now - last_activity_ < idle) {
            return;
        }
    }
    spdlog::debug("policy_map: closing idle connection from {}", peer_);
    close("idle");
}

void Connection::close(std::string_view why) {
    State was = State::closed;
    {
        const std::lock_guard lock(mu_);
        was = state_;
        state_ = State::closed;
    }
    if (was == State::closed) {
        return;
    }
    // Out of the reactor before the descriptor goes (never under mu_).
    if (was == State::reading) {
        loop_.reactor().removeEventHandler(socket_, readable());
    } else if (was == State::writing) {
        loop_.reactor().removeEventHandler(socket_, writable());
    }
    spdlog::debug("policy_map: connection from {} closed: {}", peer_, why);
    try {
        socket_.close();
    } catch (const Poco::Exception&) {
        // already gone: nothing to release
    }
    loop_.forget(this);
}

}  // namespace

struct SocketmapServer::Impl {
    ListenEndpoint endpoint;
    std::uint16_t port = 0;
    Poco::Net::ServerSocket listener;
    std::unique_ptr<Loop> loop;
    std::mutex mu;
    bool started = false;
    bool stopped = false;
};

SocketmapServer::SocketmapServer(const std::string& listen, Handler handler, unsigned max_threads,
                                 std::chrono::milliseconds idle_timeout,
                                 std::size_t max_connections) {
    auto endpoint = parse_listen_endpoint(listen);
    if (!endpoint) {
        throw std::runtime_error("policy_map listen \"" + listen + "\": " + endpoint.error());
    }
    impl_ = std::make_unique<Impl>();
    impl_->endpoint = std::move(*endpoint);
    impl_->loop = std::make_unique<Loop>(std::move(handler), std::clamp(max_threads, 1U, 4096U),
                                         std::max<std::size_t>(1, max_connections), idle_timeout,
                                         !impl_->endpoint.is_unix);
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
    } catch (const Poco::Exception& e) {
        throw std::runtime_error("policy_map listen \"" + listen + "\": " + e.displayText());
    } catch (const std::exception& e) {
        throw std::runtime_error("policy_map listen \"" + listen + "\": " + e.what());
    }
}

Result<std::unique_ptr<SocketmapServer>> SocketmapServer::create(
    const std::string& listen, Handler handler, unsigned max_threads,
    std::chrono::milliseconds idle_timeout, std::size_t max_connections) {
    try {
        return std::make_unique<SocketmapServer>(listen, std::move(handler), max_threads,
                                                 idle_timeout, max_connections);
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
        impl_->loop->answerer().set_malformed_observer(std::move(observer));
    }
}

void SocketmapServer::start() {
    const std::lock_guard lock(impl_->mu);
    if (impl_->started || impl_->stopped) {
        return;
    }
    impl_->started = true;
    impl_->loop->start(impl_->listener);
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
        if (impl_->started) {
            impl_->loop->stop();  // no handler runs after this
        }
        impl_->listener.close();  // the port or path is free again
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
