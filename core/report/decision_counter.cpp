#include "core/report/decision_counter.hpp"

#include <spdlog/spdlog.h>

namespace dsm::report {

DecisionCounter::DecisionCounter(std::size_t max_keys) : max_keys_(max_keys) {}

DecisionCounter::Shard& DecisionCounter::shard_of(const CountKey& key) {
    return shards_[CountKeyHash{}(key) % kShards];
}

bool DecisionCounter::bump(Shard& shard, const CountKey& key, std::uint64_t n) {
    const auto it = shard.counts.find(key);
    if (it == shard.counts.end()) {
        return false;
    }
    it->second += n;
    return true;
}

void DecisionCounter::add(CountKey key, std::uint64_t n) {
    if (key.domain != kOtherDomain) {
        Shard& shard = shard_of(key);
        const std::lock_guard lock(shard.mu);
        if (bump(shard, key, n)) {
            return;
        }
        // Reserve a slot; give it back when the bound is reached.
        if (keys_.fetch_add(1) < max_keys_) {
            shard.counts.emplace(std::move(key), n);
            return;
        }
        keys_.fetch_sub(1);
    }
    if (key.domain != kOtherDomain) {
        folded_ += n;
        if (!warned_.exchange(true)) {
            spdlog::warn(
                "report_counts=folded max_keys={} domain={}: more distinct domains than the "
                "report counts one by one; the rest are counted as \"{}\"",
                max_keys_, key.domain, kOtherDomain);
        }
        key.domain = std::string(kOtherDomain);
    }
    // "(other)" keys are few by construction and always kept.
    Shard& shard = shard_of(key);
    const std::lock_guard lock(shard.mu);
    if (!bump(shard, key, n)) {
        shard.counts.emplace(std::move(key), n);
    }
}

std::vector<CountRow> DecisionCounter::take() {
    std::vector<CountRow> out;
    for (Shard& shard : shards_) {
        std::unordered_map<CountKey, std::uint64_t, CountKeyHash> taken;
        {
            const std::lock_guard lock(shard.mu);
            taken.swap(shard.counts);
        }
        for (auto& [key, count] : taken) {
            if (key.domain != kOtherDomain) {
                keys_.fetch_sub(1);
            }
            out.push_back(CountRow{key, count});
        }
    }
    return out;
}

}  // namespace dsm::report
