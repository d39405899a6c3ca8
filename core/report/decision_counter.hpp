// The in-memory readiness counts between two flushes (SPEC §11). add() is
// on the RCPT path: no I/O, one short lock of one of 16 shards. Memory is
// bounded: past `max_keys` distinct keys a new key's domain is replaced by
// "(other)" (kOtherDomain), so the extra keys are at most connectors x days
// x views x outcomes x causes; the first fold is logged once as a warning.
// take() hands the deltas to the flusher and starts again from zero.
//
// Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/report/count_key.hpp"

namespace dsm::report {

class DecisionCounter {
  public:
    static constexpr std::size_t kDefaultMaxKeys = 100000;

    explicit DecisionCounter(std::size_t max_keys = kDefaultMaxKeys);

    void add(CountKey key, std::uint64_t n = 1);
    // Every count since the last take(), in no particular order.
    std::vector<CountRow> take();

    [[nodiscard]] std::size_t keys() const { return keys_.load(); }
    // Counts added under "(other)" instead of their own domain.
    [[nodiscard]] std::uint64_t folded() const { return folded_.load(); }

  private:
    static constexpr std::size_t kShards = 16;
    struct Shard {
        std::mutex mu;
        std::unordered_map<CountKey, std::uint64_t, CountKeyHash> counts;
    };

    // Adds to an existing key; false when `key` is not there yet.
    bool bump(Shard& shard, const CountKey& key, std::uint64_t n);
    Shard& shard_of(const CountKey& key);

    const std::size_t max_keys_;
    std::array<Shard, kShards> shards_;
    std::atomic<std::size_t> keys_{0};  // distinct keys with their own domain
    std::atomic<std::uint64_t> folded_{0};
    std::atomic<bool> warned_{false};
};

}  // namespace dsm::report
