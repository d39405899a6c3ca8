// The in-memory verdict cache (SPEC §4 "cache miss at RCPT", §6).
//
// The RCPT hit path: the map is split into 64 shards, each behind its own
// mutex, so no lock covers the whole cache and RCPT threads of different
// domains rarely meet. A hit finds the entry, moves it to the front of its
// shard's LRU list, notes the time of use and copies a shared_ptr, all under
// that one shard's mutex: no I/O, no allocation, no global lock.
//
// Misses: at most one lookup per domain runs at a time ("single flight");
// later callers join it. Lookups run on a bounded worker pool, never on the
// caller's thread, so a caller stops waiting after `timeout` (the verdict
// reads `pending`) while the lookup goes on and fills the cache. A lookup
// first asks the persistent store (Persistence::load, e.g. Redis shared by a
// fleet) and only then DNS; every computed verdict is handed to
// Persistence::save (written behind, SPEC §6).
//
// Lifetimes: the verdict's smallest DNS TTL clamped to [min_ttl, max_ttl];
// error verdicts (bogus, SERVFAIL, timeout) live `error_ttl`, and are stored
// like any other (SPEC §6: a restart or another milter of the fleet keeps
// deferring a bogus domain until its error_ttl ends, whatever DNS does). When
// a refresh of an unexpired-within-stale_ttl good verdict fails, the old
// verdict keeps serving (flagged `stale`) until `stale_ttl` after its expiry
// (RFC 8767); the failure is retried after `error_ttl` and is not stored: the
// store holds what the cache serves.
//
// Never waiting on a refresh (SPEC §6): an expired entry that may serve
// stale answers at once from what it holds while its refresh runs (started
// by the prefetcher, or by this very call); only a miss, or an expired error
// verdict (never served stale), waits up to `timeout`.
//
// Prefetch: prefetch_once() (called every second by the prefetch thread, or
// by tests) refreshes every entry used within `active_window` once
// `refresh_ahead` of its lifetime has passed (each entry's point is jittered
// down by up to 10% so same-TTL entries spread out), or earlier when its last
// lookup was slow: at the latest 2 x that lookup's duration plus one prefetch
// period before expiry, so the refresh lands in time even on a slow name
// server. At most `concurrency` lookups are kept queued; a domain in steady
// use never misses and never waits.
//
// Bounded: at most `max_entries` (each shard holds its share, the shares add
// up to max_entries exactly, and a full shard evicts its least recently used
// entry; only entries with a lookup in flight may briefly exceed a share).
// A shard fills before the others, so eviction may start a little before
// the whole cache holds max_entries. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/config/config.hpp"
#include "core/util/clock.hpp"
#include "core/util/worker_pool.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::cache {

// The cache and its stores age entries on the injectable clock of
// core/util (tests move a ManualClock instead of sleeping).
using util::Clock;
using util::SystemClock;

class VerdictCache {
  public:
    // Computes a domain's verdict (blocking, may take seconds). Called on a
    // worker thread; must be thread-safe. Exceptions become error verdicts.
    using Compute = std::function<verdict::DomainVerdict(const std::string& domain)>;
    using VerdictPtr = std::shared_ptr<const verdict::DomainVerdict>;

    // Optional persistent store behind the cache (SPEC §6). Both are called
    // on worker threads only and must not block for long.
    struct Persistence {
        // A stored verdict and the wall-clock end of its lifetime.
        std::function<
            std::optional<std::pair<verdict::DomainVerdict, std::chrono::system_clock::time_point>>(
                const std::string& domain)>
            load;
        std::function<void(const verdict::DomainVerdict&, std::chrono::system_clock::time_point)>
            save;
    };

    struct Stats {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;    // lookups started for a caller
        std::uint64_t joined = 0;    // callers that joined a lookup in flight
        std::uint64_t timeouts = 0;  // callers that stopped waiting: `pending`
        std::uint64_t stale = 0;     // stale verdicts served
        std::uint64_t evictions = 0;
        std::uint64_t prefetches = 0;  // refreshes started by the prefetcher
        std::uint64_t store_hits = 0;  // lookups answered by the persistent store
    };

    VerdictCache(const config::CacheSettings& cache, const config::PrefetchSettings& prefetch,
                 Compute compute, std::shared_ptr<const Clock> clock, Persistence persistence = {});
    ~VerdictCache();
    VerdictCache(const VerdictCache&) = delete;
    VerdictCache& operator=(const VerdictCache&) = delete;

    // The verdict of `domain` (normalised). A fresh cached verdict returns at
    // once, and so does a stale one (within stale_ttl) while its refresh
    // runs; otherwise waits at most `timeout` for the (shared) lookup and
    // returns a `pending` verdict if it has not finished. Never throws for
    // lookup failures.
    VerdictPtr get(const std::string& domain, std::chrono::milliseconds timeout);

    // The cached verdict if fresh, without starting a lookup.
    [[nodiscard]] VerdictPtr peek(const std::string& domain) const;

    // What the cache holds for `domain` (control `show`, SPEC §8).
    struct Inspection {
        VerdictPtr verdict;            // null while its first lookup runs
        std::chrono::seconds age{0};   // since it was put here
        std::chrono::seconds left{0};  // of its lifetime; negative once expired
        bool stale = false;            // expired, still served (within stale_ttl)
        bool lookup_running = false;
    };
    [[nodiscard]] std::optional<Inspection> inspect(const std::string& domain) const;

    // Drops `domain` (control `flush`, SPEC §8) and, with `look_up_again`,
    // starts a fresh lookup at once (get() joins it); a lookup still running
    // for it is then disowned: its result is not kept, so an answer computed
    // before the flush cannot land after it. True if there was an entry.
    bool forget(const std::string& domain, bool look_up_again);

    // Puts a verdict with the wall-clock end of its lifetime (loading a store
    // at start). Expired ones are ignored.
    void insert(const verdict::DomainVerdict& v, std::chrono::system_clock::time_point expires);

    // Starts lookups for `domains` as if they had just been used (warm_list).
    void warm(const std::vector<std::string>& domains);

    // One prefetch pass (see above); returns how many refreshes it started.
    std::size_t prefetch_once();
    // Runs prefetch_once() every second on a thread until stop().
    void start_prefetcher();

    // The process is stopping (SPEC §8 SIGTERM), and the resolver is shut
    // down next (dns::Resolver::shutdown), which cuts the lookups in flight
    // short: their answers would be errors of our own making. So from here
    // on no lookup starts (get() answers `pending` on a miss), the
    // prefetcher ends, and a lookup that finishes keeps and stores nothing:
    // the store keeps what it had. Lookups in flight still run to their end
    // (the destructor joins them). Idempotent; the destructor calls it.
    void stop();

    [[nodiscard]] std::size_t size() const;
    [[nodiscard]] std::size_t queued_lookups() const { return pool_.queued(); }
    [[nodiscard]] Stats stats() const;

  private:
    struct Flight;
    struct Entry {
        VerdictPtr verdict;
        Clock::time_point stored{};      // when the verdict was put here
        Clock::time_point expires{};     // end of its lifetime
        Clock::time_point refresh_at{};  // the prefetcher refreshes from here on
        Clock::time_point retry_at{};    // after a failed refresh: not before this
        Clock::time_point last_used{};
        Clock::duration last_lookup{};   // how long its last lookup took
        std::shared_ptr<Flight> flight;  // set while a lookup runs
        std::list<std::string>::iterator lru;
    };
    struct Shard {
        mutable std::mutex mu;
        std::unordered_map<std::string, Entry> map;
        std::list<std::string> lru;  // front: most recently used
        std::size_t capacity = 1;    // this shard's share of max_entries
    };

    Shard& shard_for(const std::string& domain) const;
    Entry& entry_for(Shard& shard, const std::string& domain);  // shard.mu held
    bool start_lookup(const std::string& domain, const std::shared_ptr<Flight>& flight);
    void run_lookup(const std::string& domain, const std::shared_ptr<Flight>& flight);
    // Takes `flight` off its entry, and the entry too if it holds no verdict.
    void withdraw(const std::string& domain, const std::shared_ptr<Flight>& flight);
    // Hands `result` to the callers waiting on `flight`.
    static void finish_flight(const std::shared_ptr<Flight>& flight, VerdictPtr result);
    verdict::DomainVerdict compute_or_load(
        const std::string& domain,
        std::optional<std::chrono::system_clock::time_point>* stored_expiry);
    // Puts a finished lookup's result into its entry; false when the entry
    // kept its good verdict instead (a failed refresh, served stale).
    bool store_result(const std::string& domain, VerdictPtr result,
                      std::optional<Clock::time_point> expires_override,
                      const std::shared_ptr<Flight>& flight);
    [[nodiscard]] std::chrono::seconds lifetime(const verdict::DomainVerdict& v) const;
    [[nodiscard]] Clock::time_point refresh_point(Clock::time_point from, Clock::time_point expires,
                                                  Clock::duration last_lookup) const;
    [[nodiscard]] VerdictPtr usable_stale(const Entry& e, Clock::time_point now) const;
    void evict_if_full(Shard& shard);

    config::CacheSettings settings_;
    config::PrefetchSettings prefetch_;
    Compute compute_;
    std::shared_ptr<const Clock> clock_;
    Persistence persistence_;
    mutable std::vector<Shard> shards_;

    std::atomic<std::uint64_t> hits_{0}, misses_{0}, joined_{0}, timeouts_{0}, stale_{0},
        evictions_{0}, prefetches_{0}, store_hits_{0};

    std::atomic<bool> stopped_{false};
    std::mutex prefetch_mu_;
    std::condition_variable prefetch_cv_;
    bool stopping_ = false;
    std::thread prefetcher_;

    // Last member: destroyed first, so running lookups finish while the shards
    // they write to still exist.
    util::WorkerPool pool_;
};

}  // namespace dsm::cache
