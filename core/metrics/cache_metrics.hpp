// The verdict cache's, prefetcher's and store's metrics (SPEC §8): they
// already count in atomics of their own (VerdictCache::stats(),
// Store::errors(), WriteBehind), so these are callback metrics read at
// scrape time and the RCPT path does nothing more for them.
#pragma once

#include "core/cache/store.hpp"
#include "core/cache/verdict_cache.hpp"
#include "core/cache/write_behind.hpp"
#include "core/metrics/registry.hpp"

namespace dsm::metrics {

// "sqlite" or "redis" from a store's name (SPEC §6); "memory" for none.
std::string store_kind(const cache::Store* store);

// Registers dane_sts_milter_cache_*, _prefetch_* and _store_* in `registry`.
// `store` and `writer` may be null ([cache] store = memory). All three must
// outlive every scrape of `registry`.
void register_cache_metrics(Registry& registry, const cache::VerdictCache& cache,
                            const cache::Store* store, const cache::WriteBehind* writer);

}  // namespace dsm::metrics
