// Fetched MTA-STS policies by domain (RFC 8461 §3.3, §5.1, §10.2).
//
// A policy stays in force for `max_age` from its fetch, also when the TXT
// record disappears or a refresh fails: that is what protects against an
// attacker who strips the TXT record or blocks the HTTPS fetch (§10.2). A
// failed fetch of an `id` is not retried for kRetryAfterFailure, so a broken
// policy host is not hammered on every verdict refresh. Thread-safe (one
// mutex: only lookup threads use it, never the RCPT path).
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/sts/policy.hpp"

namespace dsm::sts {

class PolicyCache {
  public:
    using time_point = std::chrono::steady_clock::time_point;
    static constexpr std::chrono::minutes kRetryAfterFailure{5};

    struct Entry {
        Policy policy;
        std::string id;
        time_point fetched{};
        std::chrono::system_clock::time_point fetched_wall{};
        [[nodiscard]] time_point expires() const {
            return fetched + std::chrono::seconds(policy.max_age);
        }
    };

    explicit PolicyCache(std::size_t max_entries = 1000000) : max_entries_(max_entries) {}

    // The policy in force for `domain` at `now` (unexpired), if any.
    [[nodiscard]] std::optional<Entry> get(const std::string& domain, time_point now) const;
    void put(const std::string& domain, Entry entry);

    // Records a failed fetch of `id`; failed_recently() is true for
    // kRetryAfterFailure afterwards.
    void note_failure(const std::string& domain, const std::string& id, time_point now);
    [[nodiscard]] bool failed_recently(const std::string& domain, const std::string& id,
                                       time_point now) const;

    [[nodiscard]] std::size_t size() const;

  private:
    struct Slot {
        std::optional<Entry> entry;
        std::string failed_id;
        time_point failed_at{};
    };
    void evict_expired(time_point now);

    mutable std::mutex mu_;
    std::unordered_map<std::string, Slot> slots_;
    std::size_t max_entries_;
};

}  // namespace dsm::sts
