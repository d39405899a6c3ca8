#include "milter/runtime.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>

#include "core/address/recipient.hpp"
#include "core/cache/policy_store.hpp"
#include "core/dns/unbound_resolver.hpp"
#include "core/metrics/cache_metrics.hpp"
#include "core/metrics/metered_fetcher.hpp"
#include "core/metrics/metered_prober.hpp"
#include "core/metrics/metered_resolver.hpp"
#include "core/pipeline/recipient_check.hpp"
#include "core/policymap/policy_answer.hpp"
#include "core/probe/source_address.hpp"

namespace dsm::milter {

namespace {

// One domain a line; blank lines and # comments skipped; bad names logged
// and skipped (a typo must not keep the milter from starting).
Result<std::vector<std::string>> read_warm_list(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return Error{"cannot read " + path};
    }
    std::vector<std::string> domains;
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        const auto first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#') {
            continue;
        }
        const auto last = line.find_last_not_of(" \t\r");
        auto d = address::normalize_domain(line.substr(first, last - first + 1));
        if (!d) {
            spdlog::warn("[prefetch] warm_list {}:{}: {}", path, lineno, d.error());
            continue;
        }
        domains.push_back(std::move(*d));
    }
    return domains;
}

}  // namespace

namespace {

// The lookup side: resolver, MTA-STS fetcher, store, policies, prober,
// verdict builder.
std::optional<Error> make_lookups(Runtime& rt, const config::Config& config) {
    auto resolver = dns::UnboundResolver::create(config.resolver);
    if (!resolver) {
        return Error{config.path + ": [resolver]: " + resolver.error()};
    }
    rt.resolver =
        std::make_unique<metrics::MeteredResolver>(std::move(resolver.value()), *rt.metrics);
    rt.clock = std::make_shared<util::SystemClock>();
    rt.fetcher = std::make_unique<metrics::MeteredFetcher>(
        sts::make_https_fetcher(*rt.resolver, config.sts), *rt.metrics);
    auto store = cache::make_store(config.cache.store);
    if (!store) {
        return Error{config.path + ": [cache] store: " + store.error()};
    }
    rt.store = std::move(store.value());
    // RFC 8461 §3.3, §5.1: a fetched policy outlives a restart and is shared
    // by a fleet, like the verdicts.
    rt.policies = std::make_unique<sts::PolicyCache>(
        config.cache.max_entries,
        rt.store ? std::make_shared<cache::StorePolicies>(rt.store) : nullptr);
    if (config.probe.enabled) {
        if (auto error = probe::check_source_addresses(config.probe)) {
            return Error{config.path + ": " + *error};
        }
        rt.prober = std::make_unique<metrics::MeteredProber>(
            probe::make_smtp_prober(config.probe, config.sts.ca_file), *rt.metrics);
    }
    rt.builder = std::make_unique<verdict::VerdictBuilder>(
        *rt.resolver, rt.fetcher.get(), *rt.policies, *rt.clock, rt.prober.get());
    return std::nullopt;
}

// With a store: the write-behind queue, the decision counts and how the
// verdict cache reads and writes the store.
cache::VerdictCache::Persistence make_persistence(Runtime& rt, const config::Config& config) {
    cache::VerdictCache::Persistence persistence;
    if (!rt.store) {
        return persistence;
    }
    Runtime* self = &rt;
    rt.writer = std::make_unique<cache::WriteBehind>(rt.store);
    rt.counter = std::make_unique<report::DecisionCounter>();
    rt.count_flusher =
        std::make_unique<report::CountFlusher>(*rt.counter, rt.store, config.report.days);
    persistence.load = [self](const std::string& domain)
        -> std::optional<std::pair<verdict::DomainVerdict, std::chrono::system_clock::time_point>> {
        auto stored = self->store->get(domain);
        if (!stored) {
            return std::nullopt;
        }
        return std::make_pair(std::move(stored->verdict), stored->expires);
    };
    persistence.save = [self](const verdict::DomainVerdict& v,
                              std::chrono::system_clock::time_point expires) {
        self->writer->enqueue(cache::StoredVerdict{v, expires});
    };
    return persistence;
}

// SPEC §6: verdicts survive restarts (SQLite); Redis is read per miss. Then
// the prefetcher and the warm list.
void fill_and_start_cache(Runtime& rt, const config::Config& config) {
    if (rt.store) {
        const auto loaded = rt.store->load(config.cache.max_entries);
        for (const auto& sv : loaded) {
            rt.cache->insert(sv.verdict, sv.expires);
        }
        spdlog::info("store={} loaded={} healthy={}", rt.store->name(), loaded.size(),
                     rt.store->healthy() ? "yes" : "no");
    }
    metrics::register_cache_metrics(rt.metrics->registry(), *rt.cache, rt.store.get(),
                                    rt.writer.get());
    rt.cache->start_prefetcher();
    if (!config.prefetch.warm_list.empty()) {
        auto domains = read_warm_list(config.prefetch.warm_list);
        if (!domains) {
            spdlog::warn("[prefetch] warm_list: {}", domains.error());
        } else {
            spdlog::info("warm_list={} domains={}", config.prefetch.warm_list, domains->size());
            rt.cache->warm(*domains);
        }
    }
}

}  // namespace

Result<std::unique_ptr<Runtime>> make_runtime(std::shared_ptr<const config::Config> config) {
    auto rt = std::make_unique<Runtime>();
    rt->metrics = std::make_unique<metrics::MilterMetrics>();
    if (auto e = make_lookups(*rt, *config)) {
        return *e;
    }
    Runtime* self = rt.get();
    rt->cache = std::make_unique<cache::VerdictCache>(
        config->cache, config->prefetch,
        [self](const std::string& domain) {
            const auto cfg = self->config.load();
            return self->builder->compute(domain, cfg->connectors.validates_sts_for(domain));
        },
        rt->clock, make_persistence(*rt, *config));
    rt->config.store(config);
    fill_and_start_cache(*rt, *config);
    return rt;
}

namespace {

// What a postfix-tlsrpt answer for an enforce policy adds beyond the verdict
// (SPEC §7, policy_answer.hpp): the policy in force, for its max_age, and
// how long Postfix may cache the answer, that is, what is left of the
// verdict's lifetime (VerdictCache clamps the verdict's DNS TTL to
// [cache] min_ttl..max_ttl). Nothing for other names and verdicts: the
// policy cache is not asked on their behalf.
policymap::TlsrptExtras tlsrpt_extras(Runtime& runtime, const config::Config& cfg,
                                      const verdict::DomainVerdict& v,
                                      policymap::MapClient client) {
    policymap::TlsrptExtras extras;
    if (client != policymap::MapClient::postfix_tlsrpt || v.sts != verdict::StsField::enforce) {
        return extras;
    }
    if (runtime.policies) {
        // Memory only: the policy map never waits on the store.
        if (auto entry = runtime.policies->peek(v.domain, runtime.clock->now())) {
            extras.policy = std::move(entry->policy);
        }
    }
    const auto lifetime = std::clamp(v.ttl, cfg.cache.min_ttl, cfg.cache.max_ttl);
    extras.ttl =
        std::chrono::duration_cast<std::chrono::seconds>(v.at + lifetime - runtime.clock->wall());
    return extras;
}

}  // namespace

std::string answer_policy_query(Runtime& runtime, const std::string& name, const std::string& key) {
    const auto cfg = runtime.config.load();
    // After a NOTFOUND, Postfix's smtp client also asks for the parent
    // domains (".example.com", ".com"); a bracketed next hop ("[host]") or
    // one with a port names a host, not a domain. None of them is ours to
    // answer, and PERM would make Postfix defer the message (it treats it as
    // a broken policy), so they are NOTFOUND.
    if (key.empty() || key.front() == '.' || key.find_first_of("[:") != std::string::npos) {
        return "NOTFOUND ";
    }
    // A key that is no valid domain name is a bad request (SPEC §7: PERM);
    // RCPT refused such recipients already (SPEC §3, 550 5.1.3).
    auto domain = address::normalize_domain(key);
    if (!domain) {
        spdlog::debug("policy_map name={} key=\"{}\" answer=PERM: {}", name,
                      address::printable(key), domain.error());
        return "PERM invalid domain name: " + domain.error();
    }
    const config::Connector& c = cfg->connectors.select(*domain);
    cache::VerdictCache::VerdictPtr v;
    if (c.validates_nothing()) {
        v = std::make_shared<const verdict::DomainVerdict>(
            pipeline::skipped_verdict(*domain, std::chrono::system_clock::now()));
    } else {
        v = runtime.cache->get(*domain, cfg->rcpt.lookup_timeout);
    }
    const auto client = policymap::map_client(name);
    std::string answer = policymap::policy_answer(c, *v, v->sts_mx, client,
                                                  tlsrpt_extras(runtime, *cfg, *v, client));
    spdlog::debug("policy_map name={} key={} connector={} dnssec={} dane={} sts={} answer=\"{}\"",
                  name, *domain, c.name, verdict::to_string(v->dnssec), verdict::to_string(v->dane),
                  verdict::to_string(v->sts), answer);
    return answer;
}

Result<bool> bind_policy_map(Runtime& runtime) {
    const auto cfg = runtime.config.load();
    if (!cfg->policy_map) {
        return false;
    }
    Runtime* rt = &runtime;
    auto server = policymap::SocketmapServer::create(
        cfg->policy_map->listen,
        [rt](const std::string& name, const std::string& key) {
            std::string answer = answer_policy_query(*rt, name, key);
            rt->metrics->policy_answer(answer);
            return answer;
        },
        // Threads answer requests that have arrived (a miss waits up to
        // rcpt.lookup_timeout_ms, a hit takes microseconds); idle
        // connections hold none.
        std::max(64U, cfg->prefetch.concurrency), policymap::SocketmapServer::kDefaultIdleTimeout,
        cfg->policy_map->max_connections);
    if (!server) {
        return Error{cfg->path + ": [policy_map] listen: " + server.error()};
    }
    metrics::MilterMetrics* m = runtime.metrics.get();
    server.value()->on_malformed([m](std::string_view kind) { m->policy_malformed(kind); });
    runtime.policy_map = std::move(server.value());
    return true;
}

Result<bool> bind_metrics(Runtime& runtime) {
    const auto cfg = runtime.config.load();
    if (!cfg->metrics) {
        return false;
    }
    metrics::MilterMetrics* m = runtime.metrics.get();
    auto server = metrics::MetricsServer::create(cfg->metrics->listen, [m] { return m->render(); });
    if (!server) {
        return Error{cfg->path + ": [metrics] listen: " + server.error()};
    }
    runtime.metrics_server = std::move(server.value());
    return true;
}

}  // namespace dsm::milter
