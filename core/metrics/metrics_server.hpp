// The [metrics] listen endpoint (SPEC §8): Prometheus scrapes
// `GET /metrics` and gets 200 with the text exposition format 0.0.4
// (Content-Type text/plain; version=0.0.4). Any other path is 404; any other
// method on /metrics is 405 with `Allow: GET`.
//
// Poco::Net::HTTPServer with a pool of its own: at most kMaxThreads requests
// are served at once and kMaxQueued connections wait; beyond that Poco
// closes new connections at once. A scrape is one short request, so this
// bounds what a misbehaving client can take, and none of it is shared with
// the milter or the policy map.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/util/result.hpp"

namespace dsm::metrics {

class MetricsServer {
  public:
    // Returns the exposition text; called on a server thread per scrape.
    using Render = std::function<std::string()>;

    static constexpr int kMaxThreads = 2;
    static constexpr int kMaxQueued = 16;

    // Binds `listen` ("HOST:PORT" or "[IPv6]:PORT"; PORT 0 picks a free one,
    // see port()) at once, so that a daemon binds before dropping privileges
    // and reports a busy port at start-up, but serves nothing before
    // start(). Errors name `listen`.
    static Result<std::unique_ptr<MetricsServer>> create(const std::string& listen, Render render);
    // stop()s.
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // Starts serving. Once; a stopped server is not restarted.
    void start();
    // Stops accepting and waits for requests being served: afterwards
    // `render` is never called again. Idempotent; never throws.
    void stop();

    [[nodiscard]] std::uint16_t port() const;

  private:
    MetricsServer() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace dsm::metrics
