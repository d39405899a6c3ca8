#include "milter/signals.hpp"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include "core/log/logging.hpp"

// libmilter's signal thread sigwait()s on SIGHUP, SIGTERM and SIGINT and stops
// the milter on any of them: there is no way to tell it that SIGHUP means
// "reload" (logrotate sends it, too). libmilter is a shared library that calls
// sigwait() through the PLT, so this definition in the executable interposes
// it: SIGHUP is taken out of every set passed to sigwait(), and the Reloader
// takes it with sigwaitinfo() instead. Nothing else in the process calls
// sigwait().
extern "C" int sigwait(const sigset_t* set, int* sig) {
    using Fn = int (*)(const sigset_t*, int*);
    static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "sigwait"));
    sigset_t without_hup = *set;
    sigdelset(&without_hup, SIGHUP);
    return real(&without_hup, sig);
}

namespace dsm::milter {

namespace {
sigset_t stop_and_reload_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
}
}  // namespace

void block_signals() {
    const sigset_t set = stop_and_reload_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Reloader::Reloader(Runtime& runtime, std::string config_path)
    : runtime_(runtime), path_(std::move(config_path)), thread_([this] { run(); }) {}

Reloader::~Reloader() {
    stopping_ = true;
    pthread_kill(thread_.native_handle(), SIGHUP);
    thread_.join();
}

void Reloader::run() {
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    while (!stopping_) {
        siginfo_t info{};
        if (sigwaitinfo(&hup, &info) != SIGHUP || stopping_) {
            continue;
        }
        try {
            reload();
        } catch (const std::exception& ex) {
            spdlog::error("reload failed: {}; keeping the current configuration", ex.what());
        }
    }
}

void Reloader::reload() {
    auto fresh = config::load_config(path_);
    if (!fresh) {
        spdlog::error("reload refused: {}; keeping the current configuration", fresh.error());
        return;
    }
    const auto old = runtime_.config.load();
    const auto& next = **fresh;
    if (auto logging = log::setup_logging(next.milter); !logging) {
        spdlog::error("reload: [milter] {}; keeping the current log target", logging.error());
    }
    // The resolver, cache sizes and the listening socket are built once at
    // start; say so rather than silently ignoring a change.
    if (next.milter.socket != old->milter.socket || next.milter.user != old->milter.user) {
        spdlog::warn("reload: [milter] socket/user changes take effect after a restart");
    }
    if (next.resolver.trust_anchor_file != old->resolver.trust_anchor_file ||
        next.resolver.forwarders != old->resolver.forwarders ||
        next.resolver.unbound_config != old->resolver.unbound_config ||
        next.resolver.timeout != old->resolver.timeout ||
        next.resolver.stub_zones.size() != old->resolver.stub_zones.size() ||
        next.cache.store != old->cache.store || next.cache.max_entries != old->cache.max_entries ||
        next.sts.ca_file != old->sts.ca_file || next.sts.https_port != old->sts.https_port ||
        next.prefetch.concurrency != old->prefetch.concurrency) {
        spdlog::warn(
            "reload: changes to [resolver], [sts], [cache] store/max_entries and [prefetch] "
            "concurrency take effect after a restart");
    }
    runtime_.config.store(*fresh);
    spdlog::info("reloaded config={} connectors={}", path_, next.connectors.connectors().size());
    for (const auto& c : next.connectors.connectors()) {
        if (c.validates_nothing()) {
            spdlog::warn("connector={} validates neither DANE nor MTA-STS (mode none)", c.name);
        }
    }
}

}  // namespace dsm::milter
