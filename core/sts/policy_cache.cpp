#include "core/sts/policy_cache.hpp"

#include <algorithm>

namespace dsm::sts {

bool PolicyCache::Entry::refresh_due(time_point now) const {
    const auto after =
        std::min<std::chrono::seconds>(kProactiveRefresh, std::chrono::seconds(policy.max_age / 2));
    return now >= fetched + after;
}

std::optional<PolicyCache::Entry> PolicyCache::peek(const std::string& domain,
                                                    time_point now) const {
    std::lock_guard lock(mu_);
    auto it = slots_.find(domain);
    if (it != slots_.end() && it->second.entry && it->second.entry->expires() > now) {
        return it->second.entry;
    }
    return std::nullopt;
}

std::optional<PolicyCache::Entry> PolicyCache::get(const std::string& domain, time_point now) {
    if (auto e = peek(domain, now)) {
        return e;
    }
    return backing_ ? from_backing(domain, now) : std::nullopt;
}

std::optional<PolicyCache::Entry> PolicyCache::from_backing(const std::string& domain,
                                                            time_point now) {
    auto record = backing_->load(domain);  // outside the lock: a store call may take a while
    if (!record) {
        return std::nullopt;
    }
    // The record's age by the wall clock (another host may have fetched it),
    // carried over to the steady clock. A fleet's clocks differ a little: a
    // fetch "in the future" counts as just now.
    const auto age = std::max<std::chrono::system_clock::duration>(
        std::chrono::system_clock::duration::zero(),
        std::chrono::system_clock::now() - record->fetched);
    if (age >= std::chrono::seconds(record->policy.max_age)) {
        return std::nullopt;
    }
    Entry e;
    e.policy = std::move(record->policy);
    e.id = std::move(record->id);
    e.fetched = now - std::chrono::duration_cast<time_point::duration>(age);
    e.fetched_wall = record->fetched;
    keep(domain, e);
    return e;
}

void PolicyCache::put(const std::string& domain, Entry entry) {
    if (backing_) {
        backing_->save(domain, PolicyBacking::Record{entry.policy, entry.id, entry.fetched_wall});
    }
    keep(domain, std::move(entry));
    std::lock_guard lock(mu_);
    if (auto it = slots_.find(domain); it != slots_.end()) {
        it->second.failed_id.clear();  // a successful fetch ends the retry pause
    }
}

void PolicyCache::keep(const std::string& domain, Entry entry) {
    std::lock_guard lock(mu_);
    if (slots_.size() >= max_entries_ && slots_.find(domain) == slots_.end()) {
        evict_expired(entry.fetched);
        if (slots_.size() >= max_entries_) {
            slots_.erase(slots_.begin());
        }
    }
    slots_[domain].entry = std::move(entry);
}

bool PolicyCache::forget(const std::string& domain) {
    std::lock_guard lock(mu_);
    return slots_.erase(domain) > 0;
}

void PolicyCache::note_failure(const std::string& domain, const std::string& id, time_point now) {
    std::lock_guard lock(mu_);
    if (slots_.size() >= max_entries_ && slots_.find(domain) == slots_.end()) {
        evict_expired(now);
        if (slots_.size() >= max_entries_) {
            return;  // remembering failures is an optimisation, never worth unbounded memory
        }
    }
    Slot& s = slots_[domain];
    s.failed_id = id;
    s.failed_at = now;
}

bool PolicyCache::failed_recently(const std::string& domain, const std::string& id,
                                  time_point now) const {
    std::lock_guard lock(mu_);
    auto it = slots_.find(domain);
    return it != slots_.end() && !it->second.failed_id.empty() && it->second.failed_id == id &&
           now - it->second.failed_at < kRetryAfterFailure;
}

std::size_t PolicyCache::size() const {
    std::lock_guard lock(mu_);
    return slots_.size();
}

void PolicyCache::evict_expired(time_point now) {
    for (auto it = slots_.begin(); it != slots_.end();) {
        const bool stale_failure =
            it->second.failed_id.empty() || now - it->second.failed_at >= kRetryAfterFailure;
        if ((!it->second.entry || it->second.entry->expires() <= now) && stale_failure) {
            it = slots_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace dsm::sts
