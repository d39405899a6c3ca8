#include "core/sts/policy_cache.hpp"

namespace dsm::sts {

std::optional<PolicyCache::Entry> PolicyCache::get(const std::string& domain,
                                                   time_point now) const {
    std::lock_guard lock(mu_);
    auto it = slots_.find(domain);
    if (it == slots_.end() || !it->second.entry || it->second.entry->expires() <= now) {
        return std::nullopt;
    }
    return it->second.entry;
}

void PolicyCache::put(const std::string& domain, Entry entry) {
    std::lock_guard lock(mu_);
    if (slots_.size() >= max_entries_ && slots_.find(domain) == slots_.end()) {
        evict_expired(entry.fetched);
        if (slots_.size() >= max_entries_) {
            slots_.erase(slots_.begin());
        }
    }
    Slot& s = slots_[domain];
    s.entry = std::move(entry);
    s.failed_id.clear();
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
