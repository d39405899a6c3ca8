#include "milter/signals.hpp"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include "core/log/logging.hpp"
#include "milter/service_notify.hpp"
#include "milter/session_gate.hpp"

// libmilter's signal thread sigwait()s on SIGHUP, SIGTERM and SIGINT and stops
// the milter on any of them: there is no way to tell it that SIGHUP means
// "reload" (logrotate sends it, too). libmilter is a shared library that calls
// sigwait() through the PLT, so this definition in the executable interposes
// it: SIGHUP is taken out of every set passed to sigwait(), and the Reloader
// takes it with sigwaitinfo() instead. Nothing else in the process calls
// sigwait(). SIGTERM and SIGINT are handed to libmilter only after the drain.
extern "C" int sigwait(const sigset_t* set, int* sig) {
    using Fn = int (*)(const sigset_t*, int*);
    static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "sigwait"));
    sigset_t without_hup = *set;
    sigdelset(&without_hup, SIGHUP);
    const int rc = real(&without_hup, sig);
    if (rc == 0 && (*sig == SIGTERM || *sig == SIGINT)) {
        // Before the drain, which may take lookup_timeout_ms + kDrainGrace:
        // systemd must not read the wait as a hang.
        dsm::milter::notify_stopping("stopping: finishing open transactions");
        // libmilter drops every session as soon as it sees the stop: let the
        // transactions under way finish first (milter/session_gate.hpp).
        dsm::milter::session_gate().drain();
        // libmilter aborts on SIGINT (MILTER_ABRT: sessions quit at their
        // next command, mid-transaction); both are to stop cleanly.
        *sig = SIGTERM;
    }
    return rc;
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
bool same_stub_zones(const config::ResolverSettings& a, const config::ResolverSettings& b) {
    if (a.stub_zones.size() != b.stub_zones.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.stub_zones.size(); ++i) {
        if (a.stub_zones[i].zone != b.stub_zones[i].zone ||
            a.stub_zones[i].address != b.stub_zones[i].address) {
            return false;
        }
    }
    return true;
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
        // READY=1 follows whatever happens: systemd holds the unit in
        // "reloading" until it comes.
        notify_reloading();
        bool applied = false;
        try {
            applied = reload();
        } catch (const std::exception& ex) {
            spdlog::error("reload failed: {}; keeping the current configuration", ex.what());
        }
        notify_ready(service_status(runtime_) + (applied ? " reload=ok" : " reload=refused"));
    }
}

bool Reloader::reload() {
    auto fresh = config::load_config(path_);
    const auto old = runtime_.config.load();
    if (!fresh) {
        // logrotate sends SIGHUP whatever the state of the file: reopen the
        // current log target all the same.
        if (auto logging = log::setup_logging(old->milter); !logging) {
            spdlog::error("reload: [milter] {}; keeping the current log target", logging.error());
        }
        spdlog::error("reload refused: {}; keeping the current configuration", fresh.error());
        return false;
    }
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
        !same_stub_zones(next.resolver, old->resolver) || next.sts.ca_file != old->sts.ca_file ||
        next.sts.https_port != old->sts.https_port ||
        next.sts.fetch_timeout != old->sts.fetch_timeout) {
        spdlog::warn("reload: [resolver] and [sts] changes take effect after a restart");
    }
    const auto& nc = next.cache;
    const auto& oc = old->cache;
    const auto& np = next.prefetch;
    const auto& op = old->prefetch;
    if (nc.store != oc.store || nc.max_entries != oc.max_entries || nc.min_ttl != oc.min_ttl ||
        nc.max_ttl != oc.max_ttl || nc.error_ttl != oc.error_ttl || nc.stale_ttl != oc.stale_ttl ||
        np.concurrency != op.concurrency || np.refresh_ahead != op.refresh_ahead ||
        np.active_window != op.active_window || np.warm_list != op.warm_list ||
        next.milter.umask != old->milter.umask || next.probe.enabled != old->probe.enabled ||
        next.probe.port != old->probe.port || next.probe.timeout != old->probe.timeout ||
        next.probe.bind_address != old->probe.bind_address ||
        next.probe.bind_address6 != old->probe.bind_address6) {
        spdlog::warn(
            "reload: [cache], [prefetch], [probe] and [milter] umask changes take effect after "
            "a restart");
    }
    // Both listeners are bound before privileges are dropped: a new address
    // could not be bound now.
    const auto listen_of = [](const auto& section) {
        return section ? section->listen : std::string();
    };
    if (listen_of(next.policy_map) != listen_of(old->policy_map) ||
        listen_of(next.metrics) != listen_of(old->metrics)) {
        spdlog::warn(
            "reload: [policy_map] and [metrics] listen changes take effect after a restart");
    }
    runtime_.config.store(*fresh);
    session_gate().set_lookup_timeout(next.rcpt.lookup_timeout);
    spdlog::info("reloaded config={} connectors={}", path_, next.connectors.connectors().size());
    for (const auto& c : next.connectors.connectors()) {
        if (c.validates_nothing()) {
            spdlog::warn("connector={} validates neither DANE nor MTA-STS (mode none)", c.name);
        }
    }
    return true;
}

}  // namespace dsm::milter
