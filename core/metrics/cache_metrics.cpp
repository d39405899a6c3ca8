#include "core/metrics/cache_metrics.hpp"

#include <cstdint>
#include <string>

namespace dsm::metrics {

std::string store_kind(const cache::Store* store) {
    if (store == nullptr) {
        return "memory";
    }
    const std::string name = store->name();
    return name.substr(0, name.find_first_of(":/"));
}

void register_cache_metrics(Registry& r, const cache::VerdictCache& cache,
                            const cache::Store* store, const cache::WriteBehind* writer) {
    const cache::VerdictCache* c = &cache;
    const auto stat = [c](std::uint64_t cache::VerdictCache::Stats::*field) {
        return [c, field] { return static_cast<double>(c->stats().*field); };
    };
    using S = cache::VerdictCache::Stats;
    r.counter_fn("dane_sts_milter_cache_hits_total", "Verdict cache lookups answered fresh.", {},
                 stat(&S::hits));
    r.counter_fn("dane_sts_milter_cache_misses_total",
                 "Verdict cache lookups that started a verdict lookup.", {}, stat(&S::misses));
    r.counter_fn("dane_sts_milter_cache_joined_total",
                 "Verdict cache lookups that joined a verdict lookup already running.", {},
                 stat(&S::joined));
    r.counter_fn("dane_sts_milter_cache_pending_total",
                 "Callers that stopped waiting (rcpt.lookup_timeout_ms) and got a pending verdict.",
                 {}, stat(&S::timeouts));
    r.counter_fn("dane_sts_milter_cache_stale_served_total",
                 "Expired verdicts served while their refresh failed or ran (RFC 8767).", {},
                 stat(&S::stale));
    r.counter_fn("dane_sts_milter_cache_evictions_total",
                 "Verdicts evicted to keep the cache within cache.max_entries.", {},
                 stat(&S::evictions));
    r.counter_fn("dane_sts_milter_cache_store_hits_total",
                 "Verdict lookups answered by the persistent store.", {}, stat(&S::store_hits));
    r.gauge_fn("dane_sts_milter_cache_entries", "Verdicts held in the in-memory cache.", {},
               [c] { return static_cast<double>(c->size()); });
    r.counter_fn("dane_sts_milter_prefetch_refreshes_total",
                 "Verdict refreshes started ahead of expiry (prefetch and warm_list).", {},
                 stat(&S::prefetches));
    r.gauge_fn("dane_sts_milter_prefetch_queue_depth",
               "Verdict lookups (refreshes and misses) waiting for a lookup thread.", {},
               [c] { return static_cast<double>(c->queued_lookups()); });

    const Labels labels = {{"store", store_kind(store)}};
    const cache::Store* st = store;
    r.counter_fn("dane_sts_milter_store_errors_total", "Errors of the verdict store by store.",
                 labels, [st] { return st != nullptr ? static_cast<double>(st->errors()) : 0.0; });
    r.gauge_fn("dane_sts_milter_store_healthy", "1 while the verdict store works, else 0.", labels,
               [st] { return st == nullptr || st->healthy() ? 1.0 : 0.0; });
    const cache::WriteBehind* w = writer;
    r.gauge_fn("dane_sts_milter_store_write_queue_depth",
               "Verdicts waiting to be written to the store.", labels,
               [w] { return w != nullptr ? static_cast<double>(w->queued()) : 0.0; });
    r.counter_fn("dane_sts_milter_store_writes_total", "Verdicts handed to the store.", labels,
                 [w] { return w != nullptr ? static_cast<double>(w->written()) : 0.0; });
    r.counter_fn("dane_sts_milter_store_writes_dropped_total",
                 "Verdicts dropped because the store could not keep up.", labels,
                 [w] { return w != nullptr ? static_cast<double>(w->dropped()) : 0.0; });
}

}  // namespace dsm::metrics
