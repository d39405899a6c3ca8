// Where verdicts outlive the process (SPEC §6): `sqlite:PATH` (embedded, one
// host) or `redis://HOST:PORT[/DB]` (shared by a fleet of milters). The
// in-memory VerdictCache stays the source for the RCPT path; stores are read
// at start-up and on a cache miss (from lookup threads) and written behind,
// never on the RCPT path.
//
// Failure contract: a store never throws and never blocks for long; a failing
// store (file unwritable, disk full, Redis down or slow) answers "nothing"
// and reports unhealthy, and the milter carries on in memory. Implementations
// are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/report/count_key.hpp"
#include "core/util/clock.hpp"
#include "core/util/result.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::cache {

// The cache and its stores age entries on the injectable clock of
// core/util (tests move a ManualClock instead of sleeping).
using util::Clock;
using util::SystemClock;

struct StoredVerdict {
    verdict::DomainVerdict verdict;
    // Wall-clock end of the verdict's lifetime (its TTL, clamped).
    std::chrono::system_clock::time_point expires{};
};

class Store {
  public:
    virtual ~Store() = default;
    // "sqlite:/var/lib/..." or "redis://host:port/db", for logs and metrics.
    [[nodiscard]] virtual std::string name() const = 0;
    // Unexpired verdicts, at most `max`, for warming the cache at start.
    virtual std::vector<StoredVerdict> load(std::size_t max) = 0;
    // The stored, unexpired verdict of `domain`, if any (a fleet member may
    // have looked it up).
    virtual std::optional<StoredVerdict> get(const std::string& domain) = 0;
    // Stores (replaces) verdicts; expired ones may be dropped.
    virtual void put(const std::vector<StoredVerdict>& verdicts) = 0;
    // MTA-STS policies (RFC 8461 §3.3, §5.1), kept apart from verdicts since
    // they live for their max_age, not a DNS TTL. `record` is opaque here
    // (core/cache/policy_store.hpp encodes it). get_policy gives the
    // unexpired record of `domain`, if any; put_policy stores (replaces) it
    // until `expires`. Same failure contract as verdicts.
    virtual std::optional<std::string> get_policy(const std::string& domain) = 0;
    virtual void put_policy(const std::string& domain, const std::string& record,
                            std::chrono::system_clock::time_point expires) = 0;
    // Deletes the verdict and the policy of `domain` (control `flush`, SPEC
    // §8). False when the store failed (nothing or part deleted).
    virtual bool erase(const std::string& domain) = 0;
    // Readiness counts (SPEC §11). add_counts adds each row's count to what
    // the store holds for its key (a fleet's milters add up) and forgets
    // days before the last `keep_days` UTC days ([report] days); false when
    // the store failed (the caller keeps the counts and tries again).
    // read_counts gives the summed rows of the days first_day..last_day
    // (YYYY-MM-DD, inclusive), nullopt when the store failed. A store that
    // keeps no counts answers false / nullopt.
    virtual bool add_counts(const std::vector<report::CountRow>& /*rows*/, unsigned /*keep_days*/) {
        return false;
    }
    virtual std::optional<std::vector<report::CountRow>> read_counts(
        const std::string& /*first_day*/, const std::string& /*last_day*/) {
        return std::nullopt;
    }
    // False while the backing store is failing (for logs and metrics).
    [[nodiscard]] virtual bool healthy() const = 0;
    // Errors so far (for metrics).
    [[nodiscard]] virtual std::uint64_t errors() const = 0;
};

// From [cache] store: "memory" gives nullptr (no store); errors only for a
// spec that cannot be parsed. A store that cannot be opened yet is returned
// unhealthy and retries by itself (SPEC §6: never fatal).
Result<std::unique_ptr<Store>> make_store(const std::string& spec);

// A stable text encoding of a verdict for stores (versioned: a record of an
// unknown version decodes to nullopt and is ignored).
std::string encode_verdict(const StoredVerdict& v);
std::optional<StoredVerdict> decode_verdict(const std::string& text);

}  // namespace dsm::cache
