#include "core/cache/verdict_cache.hpp"

#include <algorithm>
#include <exception>
#include <random>

namespace dsm::cache {

namespace {
constexpr std::size_t kShards = 64;
// Lookups waiting for a worker; past this a miss answers `pending` at once
// rather than queueing without bound.
constexpr std::size_t kMaxQueuedLookups = 16384;
// Share of the refresh point by which entries are spread out.
constexpr double kJitter = 0.1;
// A refresh starts at the latest this many times the last lookup's duration
// (plus one prefetch period) before expiry: lookup times vary (retries,
// back-off), and a refresh that lands after expiry makes RCPTs serve stale.
constexpr int kLookupSlack = 2;
// How often the prefetch thread runs prefetch_once().
constexpr std::chrono::seconds kPrefetchPeriod{1};

template <typename Rep, typename Period>
Clock::duration to_clock(std::chrono::duration<Rep, Period> d) {
    return std::chrono::duration_cast<Clock::duration>(d);
}
}  // namespace

struct VerdictCache::Flight {
    explicit Flight(Clock::time_point at) : started(at) {}
    const Clock::time_point started;  // for the entry's last_lookup
    std::mutex mu;
    std::condition_variable cv;
    VerdictPtr result;
};

VerdictCache::VerdictCache(const config::CacheSettings& cache,
                           const config::PrefetchSettings& prefetch, Compute compute,
                           std::shared_ptr<const Clock> clock, Persistence persistence)
    : settings_(cache),
      prefetch_(prefetch),
      compute_(std::move(compute)),
      clock_(std::move(clock)),
      persistence_(std::move(persistence)),
      // Fewer shards than 64 when max_entries is smaller, so that every
      // shard holds at least one entry.
      shards_(std::clamp<std::size_t>(cache.max_entries, 1, kShards)),
      pool_(std::max(1U, prefetch.concurrency), kMaxQueuedLookups) {
    // The shards' shares add up to max_entries exactly: the remainder goes
    // one each to the first shards.
    const std::size_t total = std::max<std::size_t>(1, cache.max_entries);
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        shards_[i].capacity = total / shards_.size() + (i < total % shards_.size() ? 1 : 0);
    }
}

VerdictCache::~VerdictCache() {
    stop();
}

void VerdictCache::stop() {
    stopped_.store(true);
    {
        std::lock_guard lock(prefetch_mu_);
        stopping_ = true;
    }
    prefetch_cv_.notify_all();
    if (prefetcher_.joinable()) {
        prefetcher_.join();
    }
}

VerdictCache::Shard& VerdictCache::shard_for(const std::string& domain) const {
    return shards_[std::hash<std::string>{}(domain) % shards_.size()];
}

VerdictCache::Entry& VerdictCache::entry_for(Shard& shard, const std::string& domain) {
    auto [it, inserted] = shard.map.try_emplace(domain);
    if (inserted) {
        shard.lru.push_front(domain);
        it->second.lru = shard.lru.begin();
    } else {
        shard.lru.splice(shard.lru.begin(), shard.lru, it->second.lru);
    }
    return it->second;
}

std::chrono::seconds VerdictCache::lifetime(const verdict::DomainVerdict& v) const {
    if (v.is_error()) {
        return settings_.error_ttl;
    }
    return std::clamp(v.ttl, settings_.min_ttl, settings_.max_ttl);
}

Clock::time_point VerdictCache::refresh_point(Clock::time_point from, Clock::time_point expires,
                                              Clock::duration last_lookup) const {
    thread_local std::minstd_rand rng{std::random_device{}()};
    std::uniform_real_distribution<double> jitter(1.0 - kJitter, 1.0);
    const double share = prefetch_.refresh_ahead * jitter(rng);
    const auto ahead = from + std::chrono::duration_cast<Clock::duration>((expires - from) * share);
    // SPEC §6, a domain in steady use never waits: on a slow name server the
    // refresh_ahead share may leave less time than a lookup takes, so start
    // early enough for the last lookup's duration to fit twice, plus the
    // prefetcher's own period. Lookups slower than the lifetime refresh at
    // once (still one at a time per domain: single flight).
    const auto in_time = expires - kLookupSlack * last_lookup - to_clock(kPrefetchPeriod);
    return std::max(from, std::min(ahead, in_time));
}

// RFC 8767 style: a good verdict keeps serving for stale_ttl past its expiry
// while its refresh fails (or has not finished).
VerdictCache::VerdictPtr VerdictCache::usable_stale(const Entry& e, Clock::time_point now) const {
    if (!e.verdict || e.verdict->is_error() || e.verdict->dane == verdict::DaneField::pending ||
        now >= e.expires + to_clock(settings_.stale_ttl)) {
        return nullptr;
    }
    auto copy = std::make_shared<verdict::DomainVerdict>(*e.verdict);
    copy->stale = true;
    return copy;
}

VerdictCache::VerdictPtr VerdictCache::get(const std::string& domain,
                                           std::chrono::milliseconds timeout) {
    Shard& shard = shard_for(domain);
    std::shared_ptr<Flight> flight;
    VerdictPtr stale;
    bool start = false;
    const auto now = clock_->now();
    {
        std::lock_guard lock(shard.mu);
        // The hit path: one hash lookup. The LRU position is refreshed at most
        // once a second per entry: moving a list node on every hit costs more
        // (cache misses on three nodes) than the lookup itself, and recency at
        // that grain is all eviction needs.
        auto found = shard.map.find(domain);
        if (found != shard.map.end() && found->second.verdict && now < found->second.expires) {
            Entry& e = found->second;
            if (now - e.last_used > std::chrono::seconds(1)) {
                shard.lru.splice(shard.lru.begin(), shard.lru, e.lru);
            }
            e.last_used = now;
            hits_.fetch_add(1, std::memory_order_relaxed);
            return e.verdict;
        }
        Entry& e = entry_for(shard, domain);
        e.last_used = now;
        stale = usable_stale(e, now);
        if (stale && now < e.retry_at) {
            // The last refresh failed recently: serve stale, retry later.
            stale_.fetch_add(1, std::memory_order_relaxed);
            return stale;
        }
        if (!e.flight) {
            e.flight = std::make_shared<Flight>(now);
            start = true;
        }
        flight = e.flight;
        evict_if_full(shard);
    }

    if (start) {
        misses_.fetch_add(1, std::memory_order_relaxed);
        if (!start_lookup(domain, flight) && !stale) {
            timeouts_.fetch_add(1, std::memory_order_relaxed);
            return std::make_shared<const verdict::DomainVerdict>(verdict::pending_verdict(domain));
        }
    }
    if (stale) {
        // SPEC §6: RCPT never waits on a refresh in flight. The refresh (this
        // call's or an earlier one's) replaces the entry when it lands, or,
        // if it fails, leaves this verdict serving until stale_ttl.
        stale_.fetch_add(1, std::memory_order_relaxed);
        return stale;
    }
    if (!start) {
        joined_.fetch_add(1, std::memory_order_relaxed);
    }

    {
        std::unique_lock lock(flight->mu);
        if (flight->cv.wait_for(lock, timeout, [&] { return flight->result != nullptr; })) {
            return flight->result;
        }
    }
    timeouts_.fetch_add(1, std::memory_order_relaxed);
    return std::make_shared<const verdict::DomainVerdict>(verdict::pending_verdict(domain));
}

bool VerdictCache::start_lookup(const std::string& domain, const std::shared_ptr<Flight>& flight) {
    if (!stopped_.load() && pool_.submit([this, domain, flight] { run_lookup(domain, flight); })) {
        return true;
    }
    // Overloaded or stopped: nobody will run this lookup.
    withdraw(domain, flight);
    return false;
}

void VerdictCache::withdraw(const std::string& domain, const std::shared_ptr<Flight>& flight) {
    Shard& shard = shard_for(domain);
    std::lock_guard lock(shard.mu);
    auto it = shard.map.find(domain);
    if (it != shard.map.end() && it->second.flight == flight) {
        it->second.flight.reset();
        if (!it->second.verdict) {
            shard.lru.erase(it->second.lru);
            shard.map.erase(it);
        }
    }
}

VerdictCache::VerdictPtr VerdictCache::peek(const std::string& domain) const {
    Shard& shard = shard_for(domain);
    std::lock_guard lock(shard.mu);
    auto it = shard.map.find(domain);
    if (it == shard.map.end() || !it->second.verdict || clock_->now() >= it->second.expires) {
        return nullptr;
    }
    return it->second.verdict;
}

std::optional<VerdictCache::Inspection> VerdictCache::inspect(const std::string& domain) const {
    const auto now = clock_->now();
    Shard& shard = shard_for(domain);
    std::lock_guard lock(shard.mu);
    auto it = shard.map.find(domain);
    if (it == shard.map.end()) {
        return std::nullopt;
    }
    const Entry& e = it->second;
    Inspection out;
    out.verdict = e.verdict;
    out.lookup_running = e.flight != nullptr;
    if (e.verdict) {
        out.age = std::chrono::duration_cast<std::chrono::seconds>(now - e.stored);
        out.left = std::chrono::duration_cast<std::chrono::seconds>(e.expires - now);
        out.stale = now >= e.expires && usable_stale(e, now) != nullptr;
    }
    return out;
}

bool VerdictCache::forget(const std::string& domain, bool look_up_again) {
    const auto now = clock_->now();
    Shard& shard = shard_for(domain);
    std::shared_ptr<Flight> flight;
    bool had = false;
    {
        std::lock_guard lock(shard.mu);
        if (auto it = shard.map.find(domain); it != shard.map.end()) {
            shard.lru.erase(it->second.lru);
            shard.map.erase(it);
            had = true;
        }
        if (look_up_again) {
            // Under the same lock: a lookup disowned above cannot slip its
            // old answer in between.
            Entry& e = entry_for(shard, domain);
            e.last_used = now;
            e.flight = std::make_shared<Flight>(now);
            flight = e.flight;
            evict_if_full(shard);
        }
    }
    if (flight) {
        start_lookup(domain, flight);
    }
    return had;
}

verdict::DomainVerdict VerdictCache::compute_or_load(
    const std::string& domain,
    std::optional<std::chrono::system_clock::time_point>* stored_expiry) {
    if (persistence_.load) {
        // A fleet member (or an earlier run) may have looked it up already.
        if (auto stored = persistence_.load(domain); stored && stored->second > clock_->wall()) {
            store_hits_.fetch_add(1, std::memory_order_relaxed);
            *stored_expiry = stored->second;
            return std::move(stored->first);
        }
    }
    try {
        return compute_(domain);
    } catch (const std::exception& ex) {
        verdict::DomainVerdict v = verdict::pending_verdict(domain);
        v.dnssec = verdict::DnssecField::error;
        v.dane = verdict::DaneField::error;
        v.dane_why = std::string("internal error: ") + ex.what();
        v.at = clock_->wall();
        return v;
    }
}

void VerdictCache::run_lookup(const std::string& domain, const std::shared_ptr<Flight>& flight) {
    if (stopped_.load()) {
        // Queued before stop(): not worth starting. A caller still waiting
        // (none should be, the sessions have ended) hears `pending`.
        withdraw(domain, flight);
        finish_flight(flight, std::make_shared<const verdict::DomainVerdict>(
                                  verdict::pending_verdict(domain)));
        return;
    }
    std::optional<std::chrono::system_clock::time_point> stored_expiry;
    auto result =
        std::make_shared<const verdict::DomainVerdict>(compute_or_load(domain, &stored_expiry));
    if (stopped_.load()) {
        // Possibly cut short by the resolver's shutdown: keep nothing.
        withdraw(domain, flight);
        finish_flight(flight, std::move(result));
        return;
    }
    std::optional<Clock::time_point> expires;
    if (stored_expiry) {
        expires = clock_->now() + to_clock(*stored_expiry - clock_->wall());
    }
    const auto wall = clock_->wall();
    const bool served = store_result(domain, result, expires, flight);
    // SPEC §6: every verdict is stored, errors included (with error_ttl), so
    // that a restart or a fleet member answers as this milter does; but the
    // store holds what the cache serves: a failed refresh that left a good
    // verdict serving stale must not replace it there. What came from the
    // store is already in it.
    if (served && !stored_expiry && persistence_.save) {
        persistence_.save(*result,
                          wall + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                     lifetime(*result)));
    }
    finish_flight(flight, std::move(result));
}

void VerdictCache::finish_flight(const std::shared_ptr<Flight>& flight, VerdictPtr result) {
    {
        std::lock_guard lock(flight->mu);
        flight->result = std::move(result);
    }
    flight->cv.notify_all();
}

bool VerdictCache::store_result(const std::string& domain, VerdictPtr result,
                                std::optional<Clock::time_point> expires_override,
                                const std::shared_ptr<Flight>& flight) {
    const auto now = clock_->now();
    Shard& shard = shard_for(domain);
    std::lock_guard lock(shard.mu);
    auto it = shard.map.find(domain);
    if (it == shard.map.end()) {
        // Evicted while the lookup ran: keep the fresh result all the same.
        Entry& e = entry_for(shard, domain);
        e.last_used = now;
        it = shard.map.find(domain);
    } else if (it->second.flight && it->second.flight != flight) {
        return false;  // forgotten (flush) and looked up again: that lookup decides
    }
    Entry& e = it->second;
    e.flight.reset();
    e.last_lookup = now - flight->started;
    if (result->is_error() && usable_stale(e, now)) {
        // Keep the good verdict (stale) and retry the refresh after error_ttl.
        e.retry_at = now + to_clock(settings_.error_ttl);
        e.refresh_at = e.retry_at;
        return false;
    }
    e.verdict = std::move(result);
    e.stored = now;
    e.expires = expires_override ? *expires_override : now + to_clock(lifetime(*e.verdict));
    e.refresh_at = refresh_point(now, e.expires, e.last_lookup);
    e.retry_at = {};
    evict_if_full(shard);
    return true;
}

void VerdictCache::insert(const verdict::DomainVerdict& v,
                          std::chrono::system_clock::time_point expires) {
    const auto wall = clock_->wall();
    if (expires <= wall) {
        return;
    }
    const auto now = clock_->now();
    Shard& shard = shard_for(v.domain);
    std::lock_guard lock(shard.mu);
    Entry& e = entry_for(shard, v.domain);
    if (e.flight) {
        return;  // a lookup is about to write a newer verdict
    }
    e.verdict = std::make_shared<const verdict::DomainVerdict>(v);
    e.stored = now;
    e.expires = now + to_clock(expires - wall);
    e.refresh_at = refresh_point(now, e.expires, e.last_lookup);
    // Loaded, not used: the prefetcher keeps it fresh only once it is used.
    evict_if_full(shard);
}

void VerdictCache::warm(const std::vector<std::string>& domains) {
    const auto now = clock_->now();
    for (const auto& d : domains) {
        Shard& shard = shard_for(d);
        std::shared_ptr<Flight> flight;
        {
            std::lock_guard lock(shard.mu);
            Entry& e = entry_for(shard, d);
            e.last_used = now;
            if ((e.verdict && now < e.expires) || e.flight) {
                continue;
            }
            e.flight = std::make_shared<Flight>(now);
            flight = e.flight;
            evict_if_full(shard);
        }
        prefetches_.fetch_add(1, std::memory_order_relaxed);
        start_lookup(d, flight);
    }
}

std::size_t VerdictCache::prefetch_once() {
    const auto now = clock_->now();
    const auto window = to_clock(prefetch_.active_window);
    std::size_t started = 0;
    for (auto& shard : shards_) {
        std::vector<std::pair<std::string, std::shared_ptr<Flight>>> due;
        {
            std::lock_guard lock(shard.mu);
            for (auto& [domain, e] : shard.map) {
                // Keep the lookup queue short: RCPT misses share the pool.
                if (pool_.queued() + due.size() >= prefetch_.concurrency) {
                    break;
                }
                if (!e.verdict || e.flight || now < e.refresh_at || now < e.retry_at ||
                    now - e.last_used > window) {
                    continue;
                }
                e.flight = std::make_shared<Flight>(now);
                due.emplace_back(domain, e.flight);
            }
        }
        for (auto& [domain, flight] : due) {
            if (start_lookup(domain, flight)) {
                ++started;
            }
        }
    }
    prefetches_.fetch_add(started, std::memory_order_relaxed);
    return started;
}

void VerdictCache::start_prefetcher() {
    prefetcher_ = std::thread([this] {
        std::unique_lock lock(prefetch_mu_);
        while (!stopping_) {
            lock.unlock();
            prefetch_once();
            lock.lock();
            prefetch_cv_.wait_for(lock, kPrefetchPeriod, [this] { return stopping_; });
        }
    });
}

void VerdictCache::evict_if_full(Shard& shard) {
    // Least recently used first; entries with a lookup in flight stay:
    // callers are waiting on them. Bounded walk from the tail.
    constexpr int kScan = 32;
    int scanned = 0;
    for (auto it = shard.lru.end();
         shard.map.size() > shard.capacity && it != shard.lru.begin() && scanned < kScan;
         ++scanned) {
        --it;
        auto m = shard.map.find(*it);
        if (m == shard.map.end() || m->second.flight) {
            continue;
        }
        it = shard.lru.erase(it);
        shard.map.erase(m);
        evictions_.fetch_add(1, std::memory_order_relaxed);
    }
}

std::size_t VerdictCache::size() const {
    std::size_t n = 0;
    for (const auto& s : shards_) {
        std::lock_guard lock(s.mu);
        n += s.map.size();
    }
    return n;
}

VerdictCache::Stats VerdictCache::stats() const {
    return Stats{hits_.load(),  misses_.load(),    joined_.load(),     timeouts_.load(),
                 stale_.load(), evictions_.load(), prefetches_.load(), store_hits_.load()};
}

}  // namespace dsm::cache
