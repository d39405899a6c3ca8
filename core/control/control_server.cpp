#include "core/control/control_server.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/TCPServerParams.h>
#include <Poco/ThreadPool.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <sstream>

#include "core/util/sigpipe_block.hpp"
#include "core/util/unix_socket.hpp"

namespace dsm::control {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxReply = 64 * 1024 * 1024;  // a client never holds more

Result<std::string> unix_path(const std::string& listen) {
    constexpr std::string_view kPrefix = "unix:";
    if (listen.rfind(kPrefix, 0) != 0 || listen.size() <= kPrefix.size() + 1 ||
        listen[kPrefix.size()] != '/') {
        return Error{"expected unix:/ABSOLUTE/PATH, got \"" + listen + "\""};
    }
    return listen.substr(kPrefix.size());
}

Poco::Timespan timespan(std::chrono::milliseconds ms) {
    const auto us = std::max<std::int64_t>(1000, ms.count() * 1000);
    return {static_cast<long>(us / 1'000'000), static_cast<long>(us % 1'000'000)};
}

// One line of printable ASCII words, or why not.
Result<std::vector<std::string>> parse_request(std::string line) {
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    }
    for (const char c : line) {
        if (c != '\t' && (c < 0x20 || c > 0x7e)) {
            return Error{"the request is not one line of printable ASCII"};
        }
    }
    std::vector<std::string> words;
    std::istringstream in(line);
    for (std::string w; in >> w;) {
        words.push_back(std::move(w));
    }
    if (words.empty()) {
        return Error{"empty request"};
    }
    return words;
}

class Connection final : public Poco::Net::TCPServerConnection {
  public:
    Connection(const Poco::Net::StreamSocket& s, const ControlServer::Handler& handler)
        : Poco::Net::TCPServerConnection(s), handler_(handler) {}

    void run() override {
        const util::SigpipeBlock no_sigpipe;
        auto& sock = socket();
        ControlServer::Reply reply;
        try {
            auto request = read_line(sock);
            if (!request) {
                reply = {false, request.error()};
            } else if (auto words = parse_request(std::move(*request)); !words) {
                reply = {false, words.error()};
            } else {
                reply = handler_(*words);
                if (reply.ok) {
                    spdlog::info("control command=\"{}\" result=ok", words->front());
                } else {
                    spdlog::warn("control command=\"{}\" result=error why=\"{}\"", words->front(),
                                 reply.text);
                }
            }
        } catch (const std::exception& e) {
            reply = {false, std::string("internal error: ") + e.what()};
            spdlog::error("control: {}", e.what());
        }
        std::string out = reply.ok ? "ok\n" + reply.text : "error: " + reply.text + "\n";
        if (reply.ok && !reply.text.empty() && reply.text.back() != '\n') {
            out += '\n';
        }
        try {
            sock.setSendTimeout(timespan(std::chrono::milliseconds(ControlServer::kReadTimeout)));
            sock.sendBytes(out.data(), static_cast<int>(out.size()));
            sock.shutdownSend();
        } catch (const Poco::Exception& e) {
            spdlog::warn("control: reply not delivered: {}", e.displayText());
        }
    }

  private:
    static Result<std::string> read_line(Poco::Net::StreamSocket& sock) {
        const auto deadline = Clock::now() + ControlServer::kReadTimeout;
        std::string line;
        std::array<char, 4096> buf{};
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left <= std::chrono::milliseconds(0)) {
                return Error{"no complete request within 5 s"};
            }
            sock.setReceiveTimeout(timespan(left));
            int n = 0;
            try {
                n = sock.receiveBytes(buf.data(), static_cast<int>(buf.size()));
            } catch (const Poco::TimeoutException&) {
                return Error{"no complete request within 5 s"};
            }
            if (n <= 0) {
                return Error{"the request does not end in a line feed"};
            }
            line.append(buf.data(), static_cast<std::size_t>(n));
            if (const auto lf = line.find('\n'); lf != std::string::npos) {
                if (lf + 1 != line.size()) {
                    return Error{"one request per connection"};
                }
                line.pop_back();
                return line;
            }
            if (line.size() > ControlServer::kMaxRequest) {
                return Error{"request over " + std::to_string(ControlServer::kMaxRequest) +
                             " octets"};
            }
        }
    }

    const ControlServer::Handler& handler_;
};

class Factory final : public Poco::Net::TCPServerConnectionFactory {
  public:
    explicit Factory(const ControlServer::Handler& handler) : handler_(handler) {}
    Poco::Net::TCPServerConnection* createConnection(
        const Poco::Net::StreamSocket& socket) override {
        return new Connection(socket, handler_);
    }

  private:
    const ControlServer::Handler& handler_;
};

}  // namespace

struct ControlServer::Impl {
    Impl() : pool(1, kThreads) {}
    std::string path;
    Handler handler;
    Poco::ThreadPool pool;
    Poco::Net::ServerSocket listener;
    std::unique_ptr<Poco::Net::TCPServer> server;
    std::mutex mu;
    bool started = false;
    bool stopped = false;
};

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControlServer::~ControlServer() {
    stop();
}

Result<std::unique_ptr<ControlServer>> ControlServer::create(const std::string& listen,
                                                             Handler handler) {
    auto path = unix_path(listen);
    if (!path) {
        return Error{"[control] socket: " + path.error()};
    }
    auto impl = std::make_unique<Impl>();
    impl->path = *path;
    impl->handler = std::move(handler);
    if (auto cleared = util::clear_stale_unix_socket(impl->path); !cleared) {
        return Error{"[control] socket: " + cleared.error()};
    }
    try {
        impl->listener.bind(
            Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, impl->path), false,
            false);
        // Root and the daemon's group only (SPEC §8): flush changes what the
        // milter enforces.
        if (::chmod(impl->path.c_str(), 0660) != 0) {
            ::unlink(impl->path.c_str());
            return Error{"[control] socket: cannot chmod " + impl->path};
        }
        impl->listener.listen(kQueued);
        Poco::Net::TCPServerParams::Ptr params = new Poco::Net::TCPServerParams;
        params->setMaxThreads(kThreads);
        params->setMaxQueued(kQueued);
        impl->server = std::make_unique<Poco::Net::TCPServer>(new Factory(impl->handler),
                                                              impl->pool, impl->listener, params);
    } catch (const Poco::Exception& e) {
        return Error{"[control] socket " + listen + ": " + e.displayText()};
    }
    return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

Result<bool> ControlServer::set_owner(uid_t uid, gid_t gid) {
    if (::chown(impl_->path.c_str(), uid, gid) != 0) {
        return Error{"[control] socket: cannot chown " + impl_->path};
    }
    return true;
}

const std::string& ControlServer::path() const {
    return impl_->path;
}

void ControlServer::start() {
    const std::lock_guard lock(impl_->mu);
    if (!impl_->started && !impl_->stopped) {
        impl_->started = true;
        impl_->server->start();
    }
}

void ControlServer::stop() {
    if (!impl_) {
        return;
    }
    const std::lock_guard lock(impl_->mu);
    if (impl_->stopped) {
        return;
    }
    impl_->stopped = true;
    try {
        impl_->server->stop();
        impl_->listener.close();
        impl_->pool.joinAll();
    } catch (const std::exception& e) {
        spdlog::error("control: stopping: {}", e.what());
    }
    ::unlink(impl_->path.c_str());
}

Result<ControlServer::Reply> send_command(const std::string& listen,
                                          const std::vector<std::string>& words,
                                          std::chrono::milliseconds timeout) {
    auto path = unix_path(listen);
    if (!path) {
        return Error{"[control] socket: " + path.error()};
    }
    std::string request;
    for (const auto& w : words) {
        request += (request.empty() ? "" : " ") + w;
    }
    request += '\n';
    const util::SigpipeBlock no_sigpipe;
    const auto deadline = Clock::now() + timeout;
    std::string answer;
    try {
        Poco::Net::StreamSocket sock;
        sock.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, *path),
                     timespan(timeout));
        sock.setSendTimeout(timespan(timeout));
        sock.sendBytes(request.data(), static_cast<int>(request.size()));
        std::array<char, 65536> buf{};
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left <= std::chrono::milliseconds(0)) {
                return Error{"no answer from " + *path + " in time"};
            }
            sock.setReceiveTimeout(timespan(left));
            const int n = sock.receiveBytes(buf.data(), static_cast<int>(buf.size()));
            if (n <= 0) {
                break;
            }
            answer.append(buf.data(), static_cast<std::size_t>(n));
            if (answer.size() > kMaxReply) {
                return Error{"the answer from " + *path + " is too long"};
            }
        }
    } catch (const Poco::TimeoutException&) {
        return Error{"no answer from " + *path + " in time"};
    } catch (const Poco::Exception& e) {
        return Error{"cannot talk to the daemon at " + *path + ": " + e.displayText()};
    }
    const auto lf = answer.find('\n');
    const std::string first = answer.substr(0, lf);
    if (first == "ok") {
        return ControlServer::Reply{true, lf == std::string::npos ? "" : answer.substr(lf + 1)};
    }
    if (first.rfind("error: ", 0) == 0) {
        return ControlServer::Reply{false, first.substr(7)};
    }
    return Error{"unexpected answer from " + *path + ": \"" + first + "\""};
}

}  // namespace dsm::control
