// What the libmilter callbacks share: the current configuration snapshot and
// the verdict cache. libmilter passes no user pointer to callbacks, so there is
// exactly one Runtime per process, set before smfi_main() and never moved.
#pragma once

#include <memory>

#include "core/cache/store.hpp"
#include "core/cache/verdict_cache.hpp"
#include "core/cache/write_behind.hpp"
#include "core/config/config.hpp"
#include "core/control/control_server.hpp"
#include "core/dns/resolver.hpp"
#include "core/metrics/metrics_server.hpp"
#include "core/metrics/milter_metrics.hpp"
#include "core/policymap/socketmap_server.hpp"
#include "core/report/count_flusher.hpp"
#include "core/report/decision_counter.hpp"
#include "core/sts/policy_cache.hpp"
#include "core/sts/policy_fetcher.hpp"
#include "core/util/shared_slot.hpp"
#include "core/verdict/verdict_builder.hpp"

namespace dsm::milter {

// Members are destroyed bottom-up: the cache (and its lookup threads) goes
// first, while everything the lookups use still exists.
struct Runtime {
    // Swapped whole on reload; a transaction keeps the snapshot it started with.
    util::SharedSlot<const config::Config> config;
    // Before everything that records into it (SPEC §8 metrics).
    std::unique_ptr<metrics::MilterMetrics> metrics;
    std::unique_ptr<dns::Resolver> resolver;
    std::shared_ptr<const util::Clock> clock;
    std::unique_ptr<sts::PolicyFetcher> fetcher;
    std::unique_ptr<sts::PolicyCache> policies;
    std::unique_ptr<probe::Prober> prober;  // null unless [probe] enabled
    std::unique_ptr<verdict::VerdictBuilder> builder;
    // [cache] store (null for memory) and its writer; the writer flushes when
    // destroyed, after the cache's lookup threads have stopped.
    std::shared_ptr<cache::Store> store;
    std::unique_ptr<cache::WriteBehind> writer;
    // SPEC §11 readiness counts, with a store only: RCPT adds to the
    // counter, the flusher moves the counts to the store (and flushes once
    // more when destroyed, before the store goes).
    std::unique_ptr<report::DecisionCounter> counter;
    std::unique_ptr<report::CountFlusher> count_flusher;
    std::unique_ptr<cache::VerdictCache> cache;
    // Last: stopped first, while the cache its handler reads still exists.
    std::unique_ptr<policymap::SocketmapServer> policy_map;
    // After the policy map: stopped first, while what its scrapes read exists.
    std::unique_ptr<metrics::MetricsServer> metrics_server;
    // Last of all: its commands reach into everything above.
    std::unique_ptr<control::ControlServer> control;
};

// Builds the resolver and the cache for `config`. Errors name the setting.
Result<std::unique_ptr<Runtime>> make_runtime(std::shared_ptr<const config::Config> config);

// Binds [policy_map] listen (when configured) so that it can be bound before
// privileges are dropped; start() it afterwards. Errors name the setting.
Result<bool> bind_policy_map(Runtime& runtime);

// The socketmap answer for next-hop `key` asked under socketmap `name` (SPEC
// §7: "postfix" and others get Postfix's answers, "sts" Sendmail's), from the
// same cache and connectors as RCPT; waits at most rcpt.lookup_timeout_ms.
std::string answer_policy_query(Runtime& runtime, const std::string& name, const std::string& key);

// Binds [metrics] listen (when configured) before privileges are dropped;
// start() it afterwards. Errors name the setting.
Result<bool> bind_metrics(Runtime& runtime);

}  // namespace dsm::milter
