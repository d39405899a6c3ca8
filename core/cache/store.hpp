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

#include "core/util/result.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::cache {

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
