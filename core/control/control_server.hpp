// The control socket (SPEC §8 `[control] socket`, like unbound-control): a
// unix socket on which `dane-sts-milter --control COMMAND…` asks the running
// daemon to flush, show or count. Knows the protocol, not the commands.
//
// Protocol, one command per connection: the client sends one line of words
// separated by blanks, ending in LF, at most kMaxRequest octets, within
// kReadTimeout; the server answers "ok" or "error: <why>" on the first line,
// then the command's output, and closes. A request that is too long, not
// finished in time, empty or not printable ASCII gets an error and is never
// handed on.
//
// Who may connect: the socket file is made 0660 (root and the daemon's
// group; the owner is set by set_owner() when the daemon starts as root and
// drops privileges). Threads: at most kThreads connections are served at a
// time and kQueued wait; more are closed at once. None of them is a milter
// or policy-map thread, so a hung control client never delays mail.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.hpp"

namespace dsm::control {

class ControlServer {
  public:
    static constexpr std::size_t kMaxRequest = 16384;
    static constexpr std::chrono::seconds kReadTimeout{5};
    static constexpr int kThreads = 2;
    static constexpr int kQueued = 8;

    // The answer to one command (its words, at least one); the server adds
    // nothing but the transport. Called from the server's threads.
    struct Reply {
        bool ok = true;
        std::string text;  // ok: the output; error: the reason (one line)
    };
    using Handler = std::function<Reply(const std::vector<std::string>& words)>;

    // Binds `listen` ("unix:/ABSOLUTE/PATH"; a stale socket there is
    // replaced, anything else is an error) and makes it 0660; serves nothing
    // before start().
    static Result<std::unique_ptr<ControlServer>> create(const std::string& listen,
                                                         Handler handler);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // chown()s the socket file (before dropping privileges to `uid`/`gid`).
    Result<bool> set_owner(uid_t uid, gid_t gid);
    void start();
    // Stops accepting, waits for running commands, removes the socket file.
    void stop();
    [[nodiscard]] const std::string& path() const;

  private:
    struct Impl;
    explicit ControlServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The client side: sends `words` as one request to `listen` and returns the
// reply, or an error when the daemon cannot be reached. Waits at most
// `timeout` in all (a flush of many domains takes a while).
Result<ControlServer::Reply> send_command(const std::string& listen,
                                          const std::vector<std::string>& words,
                                          std::chrono::milliseconds timeout);

}  // namespace dsm::control
