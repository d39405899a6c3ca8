// `redis://HOST:PORT[/DB]`: the verdict store shared by a fleet of milters
// (SPEC §6), so that one host's lookup serves all.
//
// Keys `dane-sts-milter:v1:verdict:<domain>` hold encode_verdict() records,
// each SET with `EX` = the verdict's remaining lifetime, so Redis expires
// them itself; keys `dane-sts-milter:v1:sts-policy:<domain>` hold MTA-STS
// policy records the same way, with `EX` = the rest of their max_age.
// get() is one GET (read lazily on a cache miss); put() is one
// pipelined batch of SETs; load() returns nothing: scanning a fleet's
// keyspace at start would cost more than the misses it saves. Readiness
// counts live in hashes `dane-sts-milter:v1:counts:<YYYY-MM-DD>`.
//
// Connection: ONE connection behind a mutex, not a pool. A GET or a batch of
// SETs is one round trip well under a millisecond on a LAN, and only cache
// misses and write-behind batches reach Redis, so one connection carries far
// more than a milter asks; one connection per milter also keeps a fleet's
// connection count low and gives a single health state and backoff, instead
// of N pooled sockets each discovering a dead server.
//
// Bounded time, so that a slow or dead Redis never holds a lookup thread:
// every call has a budget (get 300 ms, put 1 s) covering the wait for the
// mutex, a (re)connect (at most 200 ms) and each reply (at most 200 ms). A
// caller that cannot get the mutex in time answers "nothing" (a miss).
// Failure (refused, reset, timeout, an error reply) drops the connection,
// marks the store unhealthy (logged once per state change), counts an error,
// and later calls answer "nothing" at once until the backoff has passed
// (100 ms doubling to 30 s); the next call then reconnects. A reused
// connection that fails at once (Redis restarted, idle timeout) is retried
// once on a fresh one within the same budget. The host name, if not an
// address, is resolved by the system resolver on each connect.
//
// Thread-safe. Never throws.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/cache/store.hpp"

namespace Poco::Redis {
class Array;
}

namespace dsm::cache {

struct RedisTarget {
    std::string host;  // a name or an address (IPv6 without brackets)
    std::uint16_t port = 6379;
    unsigned db = 0;  // SELECTed after connecting when not 0
};

struct RedisTimeouts {
    std::chrono::milliseconds connect{200};
    std::chrono::milliseconds io{200};
    std::chrono::milliseconds get_budget{300};
    std::chrono::milliseconds put_budget{1000};
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{30000};
};

class RedisStore final : public Store {
  public:
    static constexpr const char* kKeyPrefix = "dane-sts-milter:v1:verdict:";
    static constexpr const char* kPolicyKeyPrefix = "dane-sts-milter:v1:sts-policy:";
    // One hash per UTC day of readiness counts (SPEC §11): HINCRBY, so a
    // fleet's counts add up.
    static constexpr const char* kCountsKeyPrefix = "dane-sts-milter:v1:counts:";

    // Tries to connect once (bounded by the timeouts); an unreachable server
    // gives an unhealthy store that reconnects by itself. `clock` times the
    // backoff (steady) and expiry (wall); socket timeouts are real time.
    explicit RedisStore(RedisTarget target,
                        std::shared_ptr<const Clock> clock = std::make_shared<SystemClock>(),
                        RedisTimeouts timeouts = {});
    ~RedisStore() override;
    RedisStore(const RedisStore&) = delete;
    RedisStore& operator=(const RedisStore&) = delete;

    static std::string key_for(const std::string& domain) { return kKeyPrefix + domain; }

    [[nodiscard]] std::string name() const override;
    std::vector<StoredVerdict> load(std::size_t max) override;
    std::optional<StoredVerdict> get(const std::string& domain) override;
    void put(const std::vector<StoredVerdict>& verdicts) override;
    std::optional<std::string> get_policy(const std::string& domain) override;
    void put_policy(const std::string& domain, const std::string& record,
                    std::chrono::system_clock::time_point expires) override;
    bool erase(const std::string& domain) override;
    // One pipelined batch of HINCRBY, then EXPIRE (keep_days + 1) days on
    // each day's hash.
    bool add_counts(const std::vector<report::CountRow>& rows, unsigned keep_days) override;
    // One HGETALL per day.
    std::optional<std::vector<report::CountRow>> read_counts(const std::string& first_day,
                                                             const std::string& last_day) override;
    // The hash field of a count: "connector|domain|view|outcome|cause" ('|'
    // is in no connector name, domain or word).
    static std::string count_field(const report::CountKey& k);
    static std::optional<report::CountKey> parse_count_field(const std::string& day,
                                                             const std::string& field);
    [[nodiscard]] bool healthy() const override { return healthy_.load(); }
    [[nodiscard]] std::uint64_t errors() const override { return errors_.load(); }

  private:
    struct Conn;
    using Deadline = std::chrono::steady_clock::time_point;

    std::optional<std::string> get_key(const std::string& key);
    static Poco::Redis::Array set_command(const std::string& key, const std::string& value,
                                          std::chrono::system_clock::time_point expires,
                                          std::chrono::system_clock::time_point wall);
    void set_all(const std::vector<Poco::Redis::Array>& commands);
    template <typename Op>
    bool run_locked(const char* what, Deadline deadline, Op&& op);
    bool connect_locked(Deadline deadline, std::string& why);
    void failed_locked(const char* what, const std::string& why);
    void succeeded_locked();

    const RedisTarget target_;
    const std::shared_ptr<const Clock> clock_;
    const RedisTimeouts timeouts_;
    std::atomic<bool> healthy_{true};
    std::atomic<std::uint64_t> errors_{0};

    std::timed_mutex mu_;
    std::unique_ptr<Conn> conn_;  // null while disconnected
    Clock::time_point next_try_{};
    std::chrono::milliseconds backoff_;
};

}  // namespace dsm::cache
