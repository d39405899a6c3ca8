#include "milter/runtime.hpp"

#include "core/dns/unbound_resolver.hpp"

namespace dsm::milter {

Result<std::unique_ptr<Runtime>> make_runtime(std::shared_ptr<const config::Config> config) {
    auto rt = std::make_unique<Runtime>();
    auto resolver = dns::UnboundResolver::create(config->resolver);
    if (!resolver) {
        return Error{config->path + ": [resolver]: " + resolver.error()};
    }
    rt->resolver = std::move(resolver.value());
    rt->clock = std::make_shared<cache::SystemClock>();
    rt->fetcher = sts::make_https_fetcher(*rt->resolver, config->sts);
    rt->policies = std::make_unique<sts::PolicyCache>(config->cache.max_entries);
    rt->builder = std::make_unique<verdict::VerdictBuilder>(*rt->resolver, rt->fetcher.get(),
                                                            *rt->policies, *rt->clock);
    Runtime* self = rt.get();
    rt->cache = std::make_unique<cache::VerdictCache>(
        config->cache, config->prefetch.concurrency,
        [self](const std::string& domain) {
            const auto cfg = self->config.load();
            return self->builder->compute(domain, cfg->connectors.validates_sts_for(domain));
        },
        rt->clock);
    rt->config.store(std::move(config));
    return rt;
}

}  // namespace dsm::milter
