#include "core/cache/verdict_cache.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>

namespace dsm::cache {

namespace {
constexpr std::size_t kShards = 64;
// Lookups waiting for a worker; past this a miss answers `pending` at once
// rather than queueing without bound.
constexpr std::size_t kMaxQueuedLookups = 16384;
}  // namespace

struct VerdictCache::Flight {
    std::mutex mu;
    std::condition_variable cv;
    VerdictPtr result;
};

VerdictCache::VerdictCache(const config::CacheSettings& settings, unsigned workers, Compute compute,
                           std::shared_ptr<const Clock> clock)
    : settings_(settings),
      compute_(std::move(compute)),
      clock_(std::move(clock)),
      shard_capacity_(std::max<std::size_t>(1, settings.max_entries / kShards)),
      shards_(kShards),
      pool_(std::max(1U, workers), kMaxQueuedLookups) {}

VerdictCache::~VerdictCache() = default;

VerdictCache::Shard& VerdictCache::shard_for(const std::string& domain) const {
    return shards_[std::hash<std::string>{}(domain) % kShards];
}

std::chrono::seconds VerdictCache::lifetime(const verdict::DomainVerdict& v) const {
    if (v.is_error()) {
        return settings_.error_ttl;
    }
    return std::clamp(v.ttl, settings_.min_ttl, settings_.max_ttl);
}

VerdictCache::VerdictPtr VerdictCache::get(const std::string& domain,
                                           std::chrono::milliseconds timeout) {
    Shard& shard = shard_for(domain);
    std::shared_ptr<Flight> flight;
    bool start = false;
    {
        std::lock_guard lock(shard.mu);
        Entry& e = shard.map[domain];
        if (e.verdict && clock_->now() < e.expires) {
            hits_.fetch_add(1, std::memory_order_relaxed);
            return e.verdict;
        }
        if (!e.flight) {
            e.flight = std::make_shared<Flight>();
            start = true;
        }
        flight = e.flight;
    }

    if (start) {
        misses_.fetch_add(1, std::memory_order_relaxed);
        const bool queued = pool_.submit([this, domain, flight] { run_lookup(domain, flight); });
        if (!queued) {
            // Overloaded: nobody will run this lookup, so withdraw the flight.
            std::lock_guard lock(shard.mu);
            auto it = shard.map.find(domain);
            if (it != shard.map.end()) {
                if (!it->second.verdict) {
                    shard.map.erase(it);
                } else {
                    it->second.flight.reset();
                }
            }
            timeouts_.fetch_add(1, std::memory_order_relaxed);
            return std::make_shared<const verdict::DomainVerdict>(verdict::pending_verdict(domain));
        }
    } else {
        joined_.fetch_add(1, std::memory_order_relaxed);
    }

    std::unique_lock lock(flight->mu);
    if (flight->cv.wait_for(lock, timeout, [&] { return flight->result != nullptr; })) {
        return flight->result;
    }
    timeouts_.fetch_add(1, std::memory_order_relaxed);
    return std::make_shared<const verdict::DomainVerdict>(verdict::pending_verdict(domain));
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

void VerdictCache::run_lookup(const std::string& domain, const std::shared_ptr<Flight>& flight) {
    verdict::DomainVerdict v;
    try {
        v = compute_(domain);
    } catch (const std::exception& ex) {
        v = verdict::pending_verdict(domain);
        v.dnssec = verdict::DnssecField::error;
        v.dane = verdict::DaneField::error;
        v.dane_why = std::string("internal error: ") + ex.what();
        v.at = clock_->wall();
    }
    auto result = std::make_shared<const verdict::DomainVerdict>(std::move(v));
    const auto now = clock_->now();
    {
        Shard& shard = shard_for(domain);
        std::lock_guard lock(shard.mu);
        Entry& e = shard.map[domain];
        e.verdict = result;
        e.expires = now + lifetime(*result);
        e.flight.reset();
        evict_if_full(shard, domain, now);
    }
    {
        std::lock_guard lock(flight->mu);
        flight->result = result;
    }
    flight->cv.notify_all();
}

void VerdictCache::evict_if_full(Shard& shard, const std::string& keep, Clock::time_point now) {
    if (shard.map.size() <= shard_capacity_) {
        return;
    }
    // Expired entries go first; otherwise any settled entry. Entries with a
    // lookup in flight stay: callers are waiting on them.
    // The scan is bounded so that an insert stays O(1) however full the shard.
    constexpr int kScan = 32;
    int scanned = 0;
    auto victim = shard.map.end();
    for (auto it = shard.map.begin(); it != shard.map.end() && scanned < kScan; ++it, ++scanned) {
        if (it->first == keep || it->second.flight) {
            continue;
        }
        if (it->second.expires <= now) {
            victim = it;
            break;
        }
        if (victim == shard.map.end()) {
            victim = it;
        }
    }
    if (victim != shard.map.end()) {
        shard.map.erase(victim);
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
    return Stats{hits_.load(), misses_.load(), joined_.load(), timeouts_.load(), evictions_.load()};
}

}  // namespace dsm::cache
