// Fetched MTA-STS policies by domain (RFC 8461 §3.3, §5.1, §10.2).
//
// A policy stays in force for `max_age` from its fetch, also when the TXT
// record disappears or a refresh fails: that is what protects against an
// attacker who strips the TXT record or blocks the HTTPS fetch (§10.2). A
// failed fetch of an `id` is not retried for kRetryAfterFailure, so a broken
// policy host is not hammered on every verdict refresh. Thread-safe (one
// mutex: only lookup threads use it, never the RCPT path).
//
// With a PolicyBacking (the verdict store, SPEC §6) the same holds across a
// restart and on every milter of a fleet: a fetched policy is written
// through to it, and a domain without a policy in memory is asked for there,
// so a policy learnt before a restart, or by another milter, keeps applying
// until its own max_age ends, whatever DNS and the policy host do meanwhile.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/sts/policy.hpp"

namespace dsm::sts {

// Where policies outlive the process. Calls come from lookup threads only;
// implementations are thread-safe, never throw, and answer "nothing" when
// they fail (the policy then lives in memory only, as without a backing).
class PolicyBacking {
  public:
    struct Record {
        Policy policy;
        std::string id;
        std::chrono::system_clock::time_point fetched{};  // wall clock: shared by hosts
    };
    virtual ~PolicyBacking() = default;
    // The unexpired policy stored for `domain`, if any.
    virtual std::optional<Record> load(const std::string& domain) = 0;
    // Stores (replaces) the policy of `domain`, kept until fetched + max_age.
    virtual void save(const std::string& domain, const Record& record) = 0;
};

class PolicyCache {
  public:
    using time_point = std::chrono::steady_clock::time_point;
    static constexpr std::chrono::minutes kRetryAfterFailure{5};
    // §3.3 asks senders to refresh cached policies before they expire, "for
    // example, daily": once a policy is this old (or half its max_age, if
    // shorter) it is fetched again even when the TXT id has not changed.
    static constexpr std::chrono::hours kProactiveRefresh{24};

    struct Entry {
        Policy policy;
        std::string id;
        time_point fetched{};
        std::chrono::system_clock::time_point fetched_wall{};
        [[nodiscard]] time_point expires() const {
            return fetched + std::chrono::seconds(policy.max_age);
        }
        // True once the policy should be fetched again (kProactiveRefresh).
        [[nodiscard]] bool refresh_due(time_point now) const;
    };

    explicit PolicyCache(std::size_t max_entries = 1000000,
                         std::shared_ptr<PolicyBacking> backing = nullptr)
        : max_entries_(max_entries), backing_(std::move(backing)) {}

    // The policy in force for `domain` at `now` (unexpired), if any: from
    // memory, else from the backing (then kept in memory).
    [[nodiscard]] std::optional<Entry> get(const std::string& domain, time_point now);
    // The policy in force from memory only, never asking the backing: for
    // answers that must not wait on a store (the policy map).
    [[nodiscard]] std::optional<Entry> peek(const std::string& domain, time_point now) const;
    // Keeps the policy in memory and writes it through to the backing.
    void put(const std::string& domain, Entry entry);

    // Drops the policy of `domain` from memory (control `flush`, SPEC §8;
    // the caller drops it from the store). True if there was one.
    bool forget(const std::string& domain);

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
    [[nodiscard]] std::optional<Entry> from_backing(const std::string& domain, time_point now);
    void keep(const std::string& domain, Entry entry);
    void evict_expired(time_point now);

    mutable std::mutex mu_;
    std::unordered_map<std::string, Slot> slots_;
    std::size_t max_entries_;
    std::shared_ptr<PolicyBacking> backing_;
};

}  // namespace dsm::sts
