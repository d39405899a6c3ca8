#include "milter/runtime.hpp"

#include "core/dane/dane_lookup.hpp"
#include "core/dns/unbound_resolver.hpp"
#include "core/verdict/dane_verdict.hpp"

namespace dsm::milter {

Result<std::unique_ptr<Runtime>> make_runtime(std::shared_ptr<const config::Config> config) {
    auto rt = std::make_unique<Runtime>();
    auto resolver = dns::UnboundResolver::create(config->resolver);
    if (!resolver) {
        return Error{config->path + ": [resolver]: " + resolver.error()};
    }
    rt->resolver = std::move(resolver.value());
    rt->clock = std::make_shared<cache::SystemClock>();
    dns::Resolver* res = rt->resolver.get();
    const cache::Clock* clock = rt->clock.get();
    rt->cache = std::make_unique<cache::VerdictCache>(
        config->cache, config->prefetch.concurrency,
        [res, clock](const std::string& domain) {
            return verdict::verdict_from_dane(dane::lookup_dane(*res, domain), clock->wall());
        },
        rt->clock);
    rt->config.store(std::move(config));
    return rt;
}

}  // namespace dsm::milter
