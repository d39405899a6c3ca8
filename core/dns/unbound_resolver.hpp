// The one real Resolver: libunbound, validating (RFC 4033-4035) from the
// configured trust anchors, either recursing itself or through the
// configured forwarders and stub zones (SPEC §2 [resolver]).
//
// Thread-safety: query() may be called from any number of threads at once.
// The resolver owns one libunbound context in threaded async mode plus one
// event thread that delivers answers; callers block on their own answer with
// a deadline. The destructor must not start while another thread may still
// call query(); queries already waiting when it starts return tempfail
// ("resolver shut down").
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "core/config/config.hpp"
#include "core/dns/resolver.hpp"
#include "core/util/result.hpp"

struct ub_ctx;
struct ub_result;

namespace dsm::dns {

class UnboundResolver final : public Resolver {
  public:
    // Builds and finalises the context. Errors name the setting at fault
    // ("resolver.trust_anchor_file: cannot read /x: No such file or
    // directory"); nothing is sent on the network here.
    static Result<std::unique_ptr<UnboundResolver>> create(
        const config::ResolverSettings& settings);

    ~UnboundResolver() override;
    UnboundResolver(const UnboundResolver&) = delete;
    UnboundResolver& operator=(const UnboundResolver&) = delete;

    // Returns within the configured timeout: a lookup still running then is
    // cancelled and answered as tempfail/indeterminate with error
    // "timeout after N ms".
    DnsAnswer query(const std::string& name, RrType type) override;

    [[nodiscard]] std::chrono::milliseconds timeout() const { return timeout_; }

  private:
    struct Query;

    UnboundResolver(ub_ctx* ctx, std::chrono::milliseconds timeout, int wake_read, int wake_write);

    static void on_result(void* arg, int err, ub_result* result);
    void event_loop();
    void end_call();

    ub_ctx* ctx_;
    std::chrono::milliseconds timeout_;
    int wake_read_;  // self-pipe: a byte here stops event_loop()
    int wake_write_;
    std::thread events_;

    // Guards in_flight_, callers_ and stopping_. A Query is in in_flight_
    // from before ub_resolve_async() until exactly one of: its callback
    // takes it out, a successful ub_cancel() (the callback will then never
    // run), or the destructor (ub_ctx_delete() drops pending callbacks).
    std::mutex mu_;
    std::condition_variable idle_;
    std::unordered_map<Query*, std::shared_ptr<Query>> in_flight_;
    std::size_t callers_ = 0;
    bool stopping_ = false;
};

}  // namespace dsm::dns
