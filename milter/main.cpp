// dane-sts-milter: option parsing and start-up. See dane-sts-milter(8).
#include <getopt.h>
#include <grp.h>
#include <libmilter/mfapi.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config.hpp"
#include "core/log/logging.hpp"
#include "core/probe/source_address.hpp"
#include "milter/callbacks.hpp"
#include "milter/check_command.hpp"
#include "milter/control_commands.hpp"
#include "milter/descriptor_limit.hpp"
#include "milter/listener_heartbeat.hpp"
#include "milter/report_command.hpp"
#include "milter/runtime.hpp"
#include "milter/service_notify.hpp"
#include "milter/session.hpp"
#include "milter/session_gate.hpp"
#include "milter/signals.hpp"
#include "milter/socket_options.hpp"

namespace {

constexpr const char* kDefaultConfig = "/etc/dane-sts-milter/milter.conf";

void usage(std::FILE* to) {
    std::fprintf(to,
                 "usage: dane-sts-milter [-c FILE] [-n]\n"
                 "       dane-sts-milter [-c FILE] --check [--json] DOMAIN...\n"
                 "       dane-sts-milter [-c FILE] --control flush|show DOMAIN... | stats\n"
                 "       dane-sts-milter [-c FILE] --report [--connector NAME] [--days N] "
                 "[--json]\n"
                 "       dane-sts-milter --version | -V\n"
                 "       dane-sts-milter --help | -h\n"
                 "  -c FILE      configuration (default %s)\n"
                 "  -n           check the configuration and exit 0 (valid) or 1\n"
                 "  --check      resolve DOMAINs and print every step and each connector's "
                 "decision\n"
                 "  --json       with --check: print JSON\n"
                 "  --control    send a command to the running daemon's [control] socket\n"
                 "  --report     print the readiness report from the store (SPEC 11)\n",
                 kDefaultConfig);
}

// SPEC §1: `none` gives up all protection against downgrade and spoofed MX.
void warn_unprotected(const dsm::config::Config& cfg) {
    for (const auto& c : cfg.connectors.connectors()) {
        if (c.validates_nothing()) {
            spdlog::warn(
                "connector={} validates neither DANE nor MTA-STS (mode none): mail to its "
                "domains is not protected against STARTTLS downgrade or spoofed MX records",
                c.name);
        }
    }
}

// Drops to [milter] user after the socket is bound (SPEC §2).
bool drop_privileges(const std::string& user) {
    if (user.empty()) {
        return true;
    }
    const passwd* pw = getpwnam(user.c_str());
    if (pw == nullptr) {
        spdlog::error("[milter] user: no such user \"{}\"", user);
        return false;
    }
    if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid && getgid() == pw->pw_gid) {
        return true;  // started as that user already (e.g. systemd User=)
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        spdlog::error("[milter] user: cannot switch to \"{}\": {}", user, std::strerror(errno));
        return false;
    }
    // setuid() from root sets the real, effective and saved ids: there must be
    // no way back (a compromised process must not regain root).
    if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid || getgid() != pw->pw_gid ||
        getegid() != pw->pw_gid || (pw->pw_uid != 0 && setuid(0) == 0)) {
        spdlog::error("[milter] user: switching to \"{}\" left a way back to other ids", user);
        return false;
    }
    spdlog::info("running as user={} uid={} gid={}", user, pw->pw_uid, pw->pw_gid);
    return true;
}

// SIGTERM/SIGINT (SPEC §8): the transactions under way have been waited for
// before libmilter was told to stop (SessionGate::drain(), called from the
// sigwait() interposer); smfi_main() has returned. Callbacks may still run (a
// late RCPT in its lookup): close the gate and wait for them, bounded the same
// way. False when one still runs: the Runtime must then not be destroyed.
bool finish_sessions() {
    auto& gate = dsm::milter::session_gate();
    gate.drain();  // when smfi_main() returned for another reason
    if (!gate.close(gate.drain_bound())) {
        spdlog::warn("stopping: a milter callback is still running after {} ms",
                     gate.drain_bound().count());
        return false;
    }
    // Connections libmilter dropped without xxfi_close.
    dsm::milter::release_remaining_sessions();
    return true;
}

// Registers the callbacks and binds [milter] socket (SPEC §2).
bool open_milter_socket(dsm::milter::Runtime& runtime, const dsm::config::Config& cfg) {
    smfiDesc desc = dsm::milter::make_filter_description(runtime);
    if (smfi_register(desc) == MI_FAILURE) {
        spdlog::error("smfi_register failed");
        return false;
    }
    const std::string& socket = cfg.milter.socket;
    if (smfi_setconn(const_cast<char*>(socket.c_str())) == MI_FAILURE) {
        spdlog::error("[milter] socket: cannot use \"{}\"", socket);
        return false;
    }
    const mode_t old_mask = umask(static_cast<mode_t>(cfg.milter.umask));
    const int opened = smfi_opensocket(1);
    umask(old_mask);
    if (opened == MI_FAILURE) {
        spdlog::error("[milter] socket: cannot listen on \"{}\"", socket);
        return false;
    }
    if (socket.rfind("inet", 0) == 0) {
        // Nothing but the milter listens yet (the policy map and metrics
        // are bound later).
        const auto listeners = dsm::milter::tcp_listeners();
        if (listeners.size() != 1 || !dsm::milter::tune_milter_listener(listeners.front())) {
            spdlog::warn(
                "could not tune the milter's TCP socket (TCP_NODELAY, quick ACKs): expect "
                "~40 ms pauses per message behind Postfix and Sendmail");
        }
    }
    return true;
}

// The policy map, metrics and control sockets, bound before the privilege
// drop (a port below 1024, a socket in /run).
bool bind_listeners(dsm::milter::Runtime& runtime, const dsm::config::Config& cfg) {
    const std::function<dsm::Result<bool>()> binds[] = {
        [&] { return dsm::milter::bind_policy_map(runtime); },
        [&] { return dsm::milter::bind_metrics(runtime); },
        [&] { return dsm::milter::bind_control(runtime, cfg.milter.user); },
    };
    for (const auto& bind : binds) {
        if (const auto bound = bind(); !bound) {
            spdlog::error("{}", bound.error());
            return false;
        }
    }
    return true;
}

void log_start(const dsm::config::Config& cfg, std::uint64_t descriptors) {
    warn_unprotected(cfg);
    spdlog::info("starting version={} config={} socket={} connectors={}", DSM_VERSION, cfg.path,
                 cfg.milter.socket, cfg.connectors.connectors().size());
    spdlog::info("descriptors limit={}", descriptors);
    // Headroom for the milter's own connections, the store, DNS and HTTPS.
    if (cfg.policy_map && descriptors < cfg.policy_map->max_connections + 256) {
        spdlog::warn(
            "descriptors limit={} is below [policy_map] max_connections={} + 256: raise "
            "LimitNOFILE (systemd) or ulimit -n",
            descriptors, cfg.policy_map->max_connections);
    }
}

void start_listeners(dsm::milter::Runtime& runtime, const dsm::config::Config& cfg) {
    if (runtime.policy_map) {
        runtime.policy_map->start();
        spdlog::info("policy_map listen={}", cfg.policy_map->listen);
    }
    if (runtime.metrics_server) {
        runtime.metrics_server->start();
        spdlog::info("metrics listen={}", cfg.metrics->listen);
    }
    if (runtime.control) {
        runtime.control->start();
        spdlog::info("control socket={}", cfg.control->socket);
    }
}

// After the sessions: no listener serves any more, no lookup waits on a
// slow name server (a background refresh would otherwise hold the exit up by
// its whole timeout, per query), and what the store has not taken yet is
// written.
void stop_listeners_and_flush(dsm::milter::Runtime& runtime) {
    if (runtime.control) {
        runtime.control->stop();
    }
    if (runtime.policy_map) {
        runtime.policy_map->stop();
    }
    if (runtime.metrics_server) {
        runtime.metrics_server->stop();
    }
    // The cache first: what the shutdown cuts short must not be kept. Then
    // DNS, the MTA-STS fetches and the probes under way end at once.
    runtime.cache->stop();
    std::size_t cut = runtime.resolver->shutdown() + runtime.fetcher->shutdown();
    if (runtime.prober) {
        cut += runtime.prober->shutdown();
    }
    if (cut > 0) {
        spdlog::info("stopping: lookups cut short={} (their verdicts are not kept)", cut);
    }
    if (runtime.writer && !runtime.writer->flush()) {
        spdlog::warn("store={}: not every verdict could be written before stopping",
                     runtime.store->name());
    }
    if (runtime.count_flusher && !runtime.count_flusher->flush()) {
        spdlog::warn("store={}: the last readiness counts could not be written before stopping",
                     runtime.store->name());
    }
}

int run_milter(const std::shared_ptr<const dsm::config::Config>& cfg) {
    dsm::milter::block_signals();
    const std::uint64_t descriptors = dsm::milter::raise_descriptor_limit();
    auto runtime = dsm::milter::make_runtime(cfg);
    if (!runtime) {
        spdlog::error("{}", runtime.error());
        return 1;
    }
    if (!open_milter_socket(**runtime, *cfg) || !bind_listeners(**runtime, *cfg) ||
        !drop_privileges(cfg->milter.user)) {
        return 1;
    }
    log_start(*cfg, descriptors);
    start_listeners(**runtime, *cfg);
    dsm::milter::session_gate().set_lookup_timeout(cfg->rcpt.lookup_timeout);
    const dsm::milter::Reloader reloader(**runtime, cfg->path);
    // SPEC §8: READY once every socket listens (a connection made now waits
    // in the backlog for smfi_main()'s accept loop) and privileges are
    // dropped. The watchdog pings while that loop turns.
    dsm::milter::notify_ready(dsm::milter::service_status(**runtime));
    dsm::milter::arm_listener_heartbeat();
    int rc = MI_FAILURE;
    {
        const dsm::milter::Watchdog watchdog(dsm::milter::listener_alive);
        rc = smfi_main();
    }
    // Already sent on SIGTERM/SIGINT; this covers smfi_main() failing.
    dsm::milter::notify_stopping("stopping");
    const bool drained = finish_sessions();
    stop_listeners_and_flush(**runtime);
    if (!drained) {
        // Left to the process's end rather than destroyed under that callback.
        static_cast<void>(runtime->release());
    }
    spdlog::info("stopped");
    return rc == MI_SUCCESS ? 0 : 1;
}

// `--control COMMAND…` (SPEC §8, like unbound-control): 0 when the daemon
// answered ok, 1 when it answered an error or cannot be reached, 2 for a
// configuration without [control].
int control_client(const std::string& config_path, const std::vector<std::string>& words) {
    auto cfg = dsm::config::load_config(config_path);
    if (!cfg) {
        std::fprintf(stderr, "dane-sts-milter: %s\n", cfg.error().c_str());
        return 2;
    }
    if (!(*cfg)->control) {
        std::fprintf(stderr, "dane-sts-milter: %s: no [control] socket configured\n",
                     config_path.c_str());
        return 2;
    }
    // A flush waits for each domain's fresh lookup (rcpt.lookup_timeout_ms).
    const auto timeout = std::chrono::milliseconds(10000) +
                         (*cfg)->rcpt.lookup_timeout * static_cast<long>(words.size());
    auto reply = dsm::control::send_command((*cfg)->control->socket, words, timeout);
    if (!reply) {
        std::fprintf(stderr, "dane-sts-milter: %s\n", reply.error().c_str());
        return 1;
    }
    if (!reply->ok) {
        std::fprintf(stderr, "dane-sts-milter: %s\n", reply->text.c_str());
        return 1;
    }
    std::fputs(reply->text.c_str(), stdout);
    return 0;
}

struct Options {
    std::string config_path = kDefaultConfig;
    bool check_only = false;
    bool check_domains = false;
    bool json = false;
    bool control = false;
};

// Reads the options into `o`; an exit status when there is nothing more to
// do (--version, --help, a bad option).
std::optional<int> parse_options(int argc, char** argv, Options& o) {
    enum { kVersion = 1000, kCheck, kJson, kHelp, kControl };
    const option long_options[] = {
        {"version", no_argument, nullptr, kVersion}, {"check", no_argument, nullptr, kCheck},
        {"json", no_argument, nullptr, kJson},       {"control", no_argument, nullptr, kControl},
        {"help", no_argument, nullptr, kHelp},       {nullptr, 0, nullptr, 0},
    };
    int opt = 0;
    while ((opt = getopt_long(argc, argv, "c:nhV", long_options, nullptr)) != -1) {
        switch (opt) {
            case 'c':
                o.config_path = optarg;
                break;
            case 'n':
                o.check_only = true;
                break;
            case kCheck:
                o.check_domains = true;
                break;
            case kJson:
                o.json = true;
                break;
            case kControl:
                o.control = true;
                break;
            case 'V':
            case kVersion:
                std::printf("dane-sts-milter %s\n", DSM_VERSION);
                return 0;
            case 'h':
            case kHelp:
                usage(stdout);
                return 0;
            default:
                usage(stderr);
                return 2;
        }
    }
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    if (dsm::milter::wants_report(argc, argv)) {
        return dsm::milter::report_main(argc, argv, kDefaultConfig);
    }
    Options o;
    if (const auto done = parse_options(argc, argv, o)) {
        return *done;
    }
    const std::string& config_path = o.config_path;
    const bool check_only = o.check_only;
    const bool check_domains = o.check_domains;
    const bool json = o.json;
    const bool control = o.control;
    std::vector<std::string> domains(argv + optind, argv + argc);
    if (control) {
        if (domains.empty() || check_domains || json || check_only) {
            usage(stderr);
            return 2;
        }
        return control_client(config_path, domains);
    }
    if ((!check_domains && !domains.empty()) || (check_domains && domains.empty()) ||
        (json && !check_domains)) {
        usage(stderr);
        return 2;
    }

    auto cfg = dsm::config::load_config(config_path);
    if (!cfg) {
        std::fprintf(stderr, "dane-sts-milter: %s\n", cfg.error().c_str());
        return check_domains ? 2 : 1;
    }
    if (check_only) {
        // What the start would refuse beyond the file itself.
        if (const auto& c = **cfg; c.probe.enabled) {
            if (auto error = dsm::probe::check_source_addresses(c.probe)) {
                std::fprintf(stderr, "dane-sts-milter: %s: %s\n", config_path.c_str(),
                             error->c_str());
                return 1;
            }
        }
        std::printf("%s: configuration OK\n", config_path.c_str());
        return 0;
    }
    if (check_domains) {
        // Logs would interleave with the report: warnings only, on stderr.
        spdlog::set_level(spdlog::level::warn);
        return dsm::milter::run_check(**cfg, domains, json, std::cout);
    }
    if (auto logging = dsm::log::setup_logging((*cfg)->milter); !logging) {
        std::fprintf(stderr, "dane-sts-milter: %s: [milter] %s\n", config_path.c_str(),
                     logging.error().c_str());
        return 1;
    }
    return run_milter(*cfg);
}
