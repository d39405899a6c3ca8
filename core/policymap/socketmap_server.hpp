// A Postfix socketmap server (socketmap_table(5)) for smtp_tls_policy_maps
// (SPEC §7). Knows the protocol, not the policy: each request goes to a
// handler that returns the reply.
//
// Protocol: each request is one netstring "name key" and gets one netstring
// reply ("OK data", "NOTFOUND ", "TEMP reason", "TIMEOUT reason",
// "PERM reason"). Postfix keeps a connection open and sends requests one
// after another (it closes it after 10 s idle or 100 s, dict_sockmap.c);
// pipelined requests are answered in order, up to 64 at a time, and their
// replies written together.
//   - A request without a space, with an empty name or an empty key:
//     "PERM malformed request", the connection stays open.
//   - A netstring over kMaxRequestPayload octets or broken framing: no reply,
//     the connection is closed (SPEC §7); the framing cannot be recovered.
//   - A connection idle for `idle_timeout` (no request, or replies the client
//     does not take) is closed (Postfix reconnects); checked every second.
//   - The handler throws, or its reply is over Postfix's 100000 octets:
//     "TEMP internal error" (logged), never a crash.
//
// Threads: one reactor thread (Poco::Net::SocketReactor, epoll) accepts and
// waits on every connection, so an idle connection costs a descriptor and a
// few hundred bytes, never a thread. A request that has arrived is answered on
// a pool of `max_threads` threads (the handler may wait for a lookup); the
// replies are written without blocking, the rest when the client takes it.
// A connection is not read again before its replies are written: a client
// that sends without reading holds at most one read (4 KiB) and the replies
// to it. At most `max_connections` connections are open; one more is closed
// at once (counted and logged every 10 s as `refused=N
// reason=connection-limit`; Postfix retries a lost connection once). Postfix
// opens one connection per smtp(8) process and keeps it open, so
// `max_connections` must exceed the smtp process limit (default 100), and
// the process's descriptor limit must exceed `max_connections`. The handler
// is called concurrently from the pool and must be thread-safe; it should
// answer within Postfix's patience (SPEC §7: rcpt.lookup_timeout_ms).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/util/result.hpp"

namespace dsm::policymap {

class SocketmapServer {
  public:
    // `name`: the socketmap name of the request (the last field of
    // "socketmap:inet:HOST:PORT:name"); `key`: the lookup key, verbatim.
    // Returns the reply without netstring framing.
    using Handler = std::function<std::string(const std::string& name, const std::string& key)>;

    // Told of every request the protocol layer refuses, with its kind:
    // "request" (no "name key": answered PERM), "oversize" (a netstring over
    // the limit) or "framing" (not a netstring); after the last two the
    // connection is closed unanswered (SPEC §7).
    using MalformedObserver = std::function<void(std::string_view kind)>;

    static constexpr std::chrono::milliseconds kDefaultIdleTimeout{100000};
    static constexpr std::size_t kDefaultMaxConnections = 4096;

    // Binds `listen` at once (so that a daemon can bind before dropping
    // privileges and report a busy port at start-up) but serves nothing
    // before start(). `listen`: "inet:HOST:PORT" (HOST an IPv4 address, a
    // [IPv6] address or a name; PORT 0 picks a free port, see port()) or
    // "unix:/PATH" (a stale socket file at PATH is replaced; anything else
    // there is an error; the file is made with the process umask and removed
    // by stop()). Threads start with start(): call it after blocking signals. Throws
    // std::runtime_error naming `listen` when it is malformed or cannot be bound; create() returns
    // that as an Error.
    SocketmapServer(const std::string& listen, Handler handler, unsigned max_threads,
                    std::chrono::milliseconds idle_timeout = kDefaultIdleTimeout,
                    std::size_t max_connections = kDefaultMaxConnections);
    static Result<std::unique_ptr<SocketmapServer>> create(
        const std::string& listen, Handler handler, unsigned max_threads,
        std::chrono::milliseconds idle_timeout = kDefaultIdleTimeout,
        std::size_t max_connections = kDefaultMaxConnections);

    // stop()s.
    ~SocketmapServer();
    SocketmapServer(const SocketmapServer&) = delete;
    SocketmapServer& operator=(const SocketmapServer&) = delete;

    // Before start(): who is told of malformed requests (metrics).
    void on_malformed(MalformedObserver observer);

    // Starts accepting. Once; a stopped server is not restarted.
    void start();
    // Stops accepting, closes every connection and waits until no handler
    // runs any more: after stop() returns, the handler is never called again
    // (so whatever it uses may be destroyed). Idempotent; never throws.
    void stop();

    // The bound TCP port (useful after "inet:127.0.0.1:0"); 0 for unix:PATH.
    [[nodiscard]] std::uint16_t port() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace dsm::policymap
