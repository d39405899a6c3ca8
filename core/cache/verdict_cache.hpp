// The in-memory verdict cache (SPEC §4 "cache miss at RCPT", §6).
//
// Design: the map is split into shards, each behind its own mutex, so RCPT
// threads of different domains rarely meet and no lock covers the whole
// cache; a hit copies a shared_ptr under its shard's lock and does no I/O.
// A miss (or an expired entry) starts at most one lookup per domain
// ("single flight"): later callers for the same domain join it. Lookups run
// on a bounded worker pool, never on the caller's thread, so a caller can stop
// waiting after `timeout` while the lookup goes on and fills the cache.
//
// Lifetimes: the verdict's smallest DNS TTL clamped to [min_ttl, max_ttl];
// error verdicts (bogus, SERVFAIL, timeout) live `error_ttl`.
// Bounded: at most about `max_entries` entries (an entry past a shard's share
// is evicted, expired ones first). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/cache/clock.hpp"
#include "core/config/config.hpp"
#include "core/util/worker_pool.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::cache {

class VerdictCache {
  public:
    // Computes a domain's verdict (blocking, may take seconds). Called on a
    // worker thread; must be thread-safe. Exceptions become error verdicts.
    using Compute = std::function<verdict::DomainVerdict(const std::string& domain)>;
    using VerdictPtr = std::shared_ptr<const verdict::DomainVerdict>;

    struct Stats {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;    // lookups started
        std::uint64_t joined = 0;    // callers that joined a lookup in flight
        std::uint64_t timeouts = 0;  // callers that stopped waiting: `pending`
        std::uint64_t evictions = 0;
    };

    VerdictCache(const config::CacheSettings& settings, unsigned workers, Compute compute,
                 std::shared_ptr<const Clock> clock);
    ~VerdictCache();
    VerdictCache(const VerdictCache&) = delete;
    VerdictCache& operator=(const VerdictCache&) = delete;

    // The verdict of `domain` (normalised). A fresh cached verdict returns at
    // once; otherwise waits at most `timeout` for the (shared) lookup and
    // returns a `pending` verdict if it has not finished. Never throws for
    // lookup failures.
    VerdictPtr get(const std::string& domain, std::chrono::milliseconds timeout);

    // The cached verdict if fresh, without starting a lookup.
    [[nodiscard]] VerdictPtr peek(const std::string& domain) const;

    [[nodiscard]] std::size_t size() const;
    [[nodiscard]] Stats stats() const;

  private:
    struct Flight;
    struct Entry {
        VerdictPtr verdict;
        Clock::time_point expires{};
        std::shared_ptr<Flight> flight;  // set while a lookup runs
    };
    struct Shard {
        mutable std::mutex mu;
        std::unordered_map<std::string, Entry> map;
    };

    Shard& shard_for(const std::string& domain) const;
    void run_lookup(const std::string& domain, const std::shared_ptr<Flight>& flight);
    [[nodiscard]] std::chrono::seconds lifetime(const verdict::DomainVerdict& v) const;
    void evict_if_full(Shard& shard, const std::string& keep, Clock::time_point now);

    config::CacheSettings settings_;
    Compute compute_;
    std::shared_ptr<const Clock> clock_;
    std::size_t shard_capacity_;
    mutable std::vector<Shard> shards_;

    std::atomic<std::uint64_t> hits_{0}, misses_{0}, joined_{0}, timeouts_{0}, evictions_{0};

    // Last member: destroyed first, so running lookups finish while the shards
    // they write to still exist.
    util::WorkerPool pool_;
};

}  // namespace dsm::cache
