// Cold verdicts per second against a local authoritative DNSSEC server (SPEC
// §9: at least 2,000 domains/s): every domain of bench_zone.sh's zone once,
// through the real parts and the real concurrency — UnboundResolver (fresh,
// so nothing is cached; as many libunbound contexts as the milter makes on
// this machine), VerdictBuilder (the RFC
// 7672 walk: MX, A, AAAA, TLSA, each validated), and VerdictCache's lookup
// pool fed the way the prefetcher and warm_list feed it. Then the peer on the
// same names in the same run: Debian's unbound-host (unbound_host_peer.sh).
//
// Where the time goes is printed too (CPU per thread group, knotd's CPU, the
// machine's idle time): without perf, that is the profile.
//
// Usage: cold_bench DIR [--workers N] [--peer SCRIPT | --no-peer]
//                       [--peer-jobs N] [--rows FILE]
//                       [--unbound-config FILE] [--contexts K]
// The last two are for finding what limits the rate: --unbound-config is the
// milter's own [resolver] unbound_config; --contexts K gives the resolver K
// libunbound contexts instead of the milter's default (K = 1: one validating
// thread, as before the resolver had several).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/cache/verdict_cache.hpp"
#include "core/dns/unbound_resolver.hpp"
#include "core/sts/policy_cache.hpp"
#include "core/verdict/verdict_builder.hpp"
#include "tests/bench/bench_util.hpp"

namespace {

using namespace std::chrono_literals;
using dsm::dns::DnsAnswer;
using dsm::dns::RrType;
using Seconds = std::chrono::duration<double>;

// Counts queries and their time in flight: with the wall time, Little's law
// gives how many were outstanding on average, i.e. whether the workers were
// starved or the resolver was the queue.
class TimingResolver final : public dsm::dns::Resolver {
  public:
    explicit TimingResolver(dsm::dns::Resolver& inner) : inner_(inner) {}
    DnsAnswer query(const std::string& name, RrType type) override {
        const auto start = std::chrono::steady_clock::now();
        DnsAnswer a = inner_.query(name, type);
        const auto took = std::chrono::steady_clock::now() - start;
        nanos_.fetch_add(static_cast<std::uint64_t>(
                             std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()),
                         std::memory_order_relaxed);
        queries_.fetch_add(1, std::memory_order_relaxed);
        if (a.outcome == dsm::dns::DnsOutcome::tempfail) {
            failures_.fetch_add(1, std::memory_order_relaxed);
        }
        return a;
    }
    [[nodiscard]] std::uint64_t queries() const { return queries_; }
    [[nodiscard]] std::uint64_t failures() const { return failures_; }
    [[nodiscard]] Seconds in_flight() const { return std::chrono::nanoseconds(nanos_.load()); }

  private:
    dsm::dns::Resolver& inner_;
    std::atomic<std::uint64_t> queries_{0}, failures_{0}, nanos_{0};
};

std::chrono::nanoseconds own_cpu() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

// The CPU time of each of this process's threads, by thread id.
std::map<std::string, double> thread_cpu() {
    std::map<std::string, double> cpu;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
        const std::string tid = e.path().filename();
        if (auto s = dsm::bench::stat_cpu_seconds(e.path() / "stat")) {
            cpu[tid] = *s;
        }
    }
    return cpu;
}

std::set<std::string> keys(const std::map<std::string, double>& m) {
    std::set<std::string> k;
    for (const auto& [tid, s] : m) {
        k.insert(tid);
    }
    return k;
}

// Busy and total jiffies of the whole machine (first line of /proc/stat), to
// tell "our threads were idle" from "the machine was busy with others".
std::pair<double, double> machine_jiffies() {
    std::ifstream in("/proc/stat");
    std::string cpu;
    in >> cpu;
    double total = 0, idle = 0, v = 0;
    for (int i = 0; i < 8 && in >> v; ++i) {
        total += v;
        if (i == 3 || i == 4) {  // idle, iowait
            idle += v;
        }
    }
    return {total - idle, total};
}

std::vector<std::string> read_lines(const std::string& path) {
    std::vector<std::string> lines;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) {
            lines.push_back(line);
        }
    }
    return lines;
}

struct PeerResult {
    long names = 0, secure = 0;
    double seconds = 0, per_second = 0;
};

std::optional<PeerResult> run_peer(const std::string& script, const std::string& dir,
                                   unsigned jobs) {
    const std::string cmd = fmt::format("'{}' '{}' {}", script, dir, jobs);
    std::FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) {
        return std::nullopt;
    }
    PeerResult r;
    const int n = std::fscanf(p, "names=%ld secure=%ld seconds=%lf names_per_s=%lf", &r.names,
                              &r.secure, &r.seconds, &r.per_second);
    const int status = pclose(p);
    if (n != 4 || status != 0) {
        return std::nullopt;
    }
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    dsm::bench::Args args(argc, argv);
    const unsigned workers = std::stoul(args.take("--workers").value_or("64"));
    const unsigned peer_jobs = std::stoul(args.take("--peer-jobs").value_or("64"));
    const bool no_peer = args.flag("--no-peer");
    const std::string peer_script =
        args.take("--peer").value_or(std::string(DSM_BENCH_DIR) + "/unbound_host_peer.sh");
    const std::string rows = args.take("--rows").value_or("");
    const std::string unbound_config = args.take("--unbound-config").value_or("");
    // 0: the milter's default for this machine.
    const unsigned contexts = std::stoul(args.take("--contexts").value_or("0"));
    if (!args.ok() || args.rest().size() != 1 || workers == 0 || peer_jobs == 0) {
        fmt::print(stderr,
                   "usage: cold_bench DIR [--workers N] [--peer SCRIPT | --no-peer] "
                   "[--peer-jobs N] [--rows FILE] [--unbound-config FILE] [--contexts K]\n"
                   "  DIR: as given to bench_zone.sh\n");
        return 2;
    }
    const std::string dir = args.rest().front();
    const std::vector<std::string> domains = read_lines(dir + "/domains.txt");
    const auto knotd_pid = read_lines(dir + "/knotd.pid");
    if (domains.empty() || knotd_pid.empty()) {
        fmt::print(stderr, "cold_bench: no bench zone served from {} (bench_zone.sh)\n", dir);
        return 2;
    }
    const std::string knotd_stat = "/proc/" + knotd_pid.front() + "/stat";
    // Written by bench_zone.sh: what signs the zone, hence what validation costs.
    const auto algorithm_line = read_lines(dir + "/algorithm");
    const std::string algorithm = algorithm_line.empty() ? "?" : algorithm_line.front();

    // As a milter.conf would say it: [resolver] trust_anchor_file, stub_zones.
    dsm::config::ResolverSettings rs;
    rs.trust_anchor_file = dir + "/bench.ds";
    rs.stub_zones.push_back({"bench.test.", "127.0.11.53@53"});
    rs.unbound_config = unbound_config;
    const auto base_threads = keys(thread_cpu());
    auto created = dsm::dns::UnboundResolver::create(rs, contexts);
    if (!created) {
        fmt::print(stderr, "cold_bench: {}\n", created.error());
        return 1;
    }
    const std::unique_ptr<dsm::dns::UnboundResolver> unbound = std::move(*created);
    const std::size_t n_contexts = unbound->contexts();
    const auto resolver_threads = keys(thread_cpu());
    TimingResolver resolver(*unbound);

    const auto clock = std::make_shared<dsm::util::SystemClock>();
    dsm::sts::PolicyCache policies;
    // No fetcher: MTA-STS `skipped`, so a verdict is the DANE walk alone.
    const dsm::verdict::VerdictBuilder builder(resolver, nullptr, policies, *clock);

    std::mutex mu;
    std::condition_variable all_done;
    std::atomic<std::size_t> done{0};
    std::atomic<std::int64_t> worker_ns{0};
    dsm::config::CacheSettings cs;
    cs.store = "memory";
    cs.max_entries = domains.size() * 2;
    dsm::config::PrefetchSettings ps;
    ps.concurrency = workers;
    dsm::cache::VerdictCache cache(
        cs, ps,
        [&](const std::string& domain) {
            // Measured here: /proc counts in 10 ms ticks per thread, which
            // rounds 64 workers' few milliseconds each down to nothing.
            const auto cpu_start = own_cpu();
            auto v = builder.compute(domain, /*with_sts=*/false);
            worker_ns.fetch_add((own_cpu() - cpu_start).count(), std::memory_order_relaxed);
            if (done.fetch_add(1) + 1 == domains.size()) {
                std::lock_guard lock(mu);
                all_done.notify_all();
            }
            return v;
        },
        clock);
    const auto pool_threads = keys(thread_cpu());

    const auto cpu_before = thread_cpu();
    const auto knotd_before = dsm::bench::stat_cpu_seconds(knotd_stat).value_or(0);
    const auto machine_before = machine_jiffies();
    const auto start = std::chrono::steady_clock::now();

    // As the prefetcher does: queue lookups, never more than the pool's queue
    // takes (a full queue drops them).
    constexpr std::size_t kBatch = 4096;
    for (std::size_t i = 0; i < domains.size(); i += kBatch) {
        while (cache.queued_lookups() > kBatch) {
            std::this_thread::sleep_for(1ms);
        }
        const auto end = std::min(domains.size(), i + kBatch);
        cache.warm({domains.begin() + static_cast<std::ptrdiff_t>(i),
                    domains.begin() + static_cast<std::ptrdiff_t>(end)});
    }
    {
        std::unique_lock lock(mu);
        if (!all_done.wait_for(lock, 10min, [&] { return done == domains.size(); })) {
            fmt::print(stderr, "cold_bench: only {} of {} verdicts after 10 minutes\n", done.load(),
                       domains.size());
            return 1;
        }
    }
    const Seconds wall = std::chrono::steady_clock::now() - start;
    const auto cpu_after = thread_cpu();
    const auto knotd_after = dsm::bench::stat_cpu_seconds(knotd_stat).value_or(0);
    const auto machine_after = machine_jiffies();

    // Every verdict, read back through the RCPT entry point.
    std::map<std::string, std::size_t> by_dane;
    std::vector<std::string> examples;
    for (const auto& d : domains) {
        const auto v = cache.get(d, 60s);
        ++by_dane[std::string(dsm::verdict::to_string(v->dane))];
        if (v->dane != dsm::verdict::DaneField::pass && examples.size() < 3) {
            examples.push_back(d + ": " + v->dane_why);
        }
    }
    const std::size_t pass = by_dane["pass"];
    const double rate = static_cast<double>(domains.size()) / wall.count();

    fmt::print(
        "Cold verdicts: {} domains of bench.test ({}; MX + A + AAAA + TLSA, all signed) "
        "from knotd 127.0.11.53, {} lookup workers, {} libunbound context{}{}\n",
        domains.size(), algorithm, workers, n_contexts, n_contexts == 1 ? "" : "s",
        unbound_config.empty() ? "" : ", unbound_config " + unbound_config);
    fmt::print("  dane-sts-milter  {:>8.0f} domains/s  ({:.2f} s; pass {} of {}", rate,
               wall.count(), pass, domains.size());
    for (const auto& [field, n] : by_dane) {
        if (field != "pass") {
            fmt::print(", {} {}", field, n);
        }
    }
    fmt::print(")\n");
    for (const auto& e : examples) {
        fmt::print("    not pass: {}\n", e);
    }

    // The profile from timings.
    const auto queries = static_cast<double>(resolver.queries());
    fmt::print(
        "  {} queries ({:.1f} per domain, {} failed), {:.0f} queries/s; "
        "mean query latency {:.2f} ms, mean queries in flight {:.1f} of {} workers\n",
        resolver.queries(), queries / static_cast<double>(domains.size()), resolver.failures(),
        queries / wall.count(), 1e3 * resolver.in_flight().count() / std::max(queries, 1.0),
        resolver.in_flight().count() / wall.count(), workers);
    const auto group_cpu = [&](auto&& in_group) {
        double s = 0;
        std::size_t n = 0;
        for (const auto& [tid, after] : cpu_after) {
            if (in_group(tid)) {
                const auto b = cpu_before.find(tid);
                s += after - (b == cpu_before.end() ? 0 : b->second);
                ++n;
            }
        }
        return std::pair{s, n};
    };
    const auto [ub_cpu, ub_n] = group_cpu([&](const std::string& t) {
        return !pool_threads.contains(t);  // started by libunbound after the first query
    });
    const auto [ev_cpu, ev_n] = group_cpu([&](const std::string& t) {
        return resolver_threads.contains(t) && !base_threads.contains(t);
    });
    const std::size_t pool_n = pool_threads.size() - resolver_threads.size();
    const double pool_cpu = static_cast<double>(worker_ns.load()) / 1e9;
    const auto [main_cpu, main_n] =
        group_cpu([&](const std::string& t) { return base_threads.contains(t); });
    const double knotd_cpu = knotd_after - knotd_before;
    const double machine_busy = (machine_after.first - machine_before.first) /
                                (machine_after.second - machine_before.second);
    const unsigned cores = std::thread::hardware_concurrency();
    const auto share = [&](double s) { return 100.0 * s / wall.count(); };
    fmt::print("  CPU during the run, % of one core (machine: {} cores, {:.0f}% busy overall):\n",
               cores, 100.0 * machine_busy);
    fmt::print("    libunbound background thread{} (resolving, validating): {:5.1f}%\n",
               ub_n == 1 ? "" : "s", share(ub_cpu));
    fmt::print("    UnboundResolver event thread{} (ub_process, callbacks):   {:5.1f}%\n",
               ev_n == 1 ? "" : "s", share(ev_cpu));
    fmt::print("    {} lookup workers (DANE walk, verdicts):              {:5.1f}%\n", pool_n,
               share(pool_cpu));
    fmt::print("    main thread{}:                                         {:5.1f}%\n",
               main_n == 1 ? "" : "s", share(main_cpu));
    fmt::print("    knotd:                                                  {:5.1f}%\n",
               share(knotd_cpu));
    fmt::print("    everything else on the machine:                         {:5.1f}%\n",
               std::max(0.0, 100.0 * machine_busy * cores -
                                 share(ub_cpu + ev_cpu + pool_cpu + main_cpu + knotd_cpu)));
    // The ceiling the contexts set whatever the load: all resolving and
    // validating happens on their background threads, one per context, and
    // never on more cores than the machine has.
    const double ub_ms = 1e3 * ub_cpu / static_cast<double>(domains.size());
    const double ceiling =
        1e3 / ub_ms * static_cast<double>(std::min<std::size_t>(n_contexts, cores));
    fmt::print(
        "  libunbound threads' CPU per domain: {:.2f} ms, so {} context{} top{} out near {:.0f} "
        "domains/s if nothing else needed the CPU\n",
        ub_ms, n_contexts, n_contexts == 1 ? "" : "s", n_contexts == 1 ? "s" : "", ceiling);

    std::optional<PeerResult> peer;
    if (!no_peer) {
        fmt::print("  peer: {} {} {} ...\n", peer_script, dir, peer_jobs);
        std::fflush(stdout);
        peer = run_peer(peer_script, dir, peer_jobs);
        if (!peer) {
            fmt::print(stderr, "cold_bench: the peer script failed\n");
            return 1;
        }
        fmt::print(
            "  unbound-host     {:>8.0f} names/s    ({:.2f} s; secure TLSA {} of {}; "
            "one process per name, xargs -P {})\n",
            peer->per_second, peer->seconds, peer->secure, peer->names, peer_jobs);
    }
    fmt::print("  SPEC §9 target, at least 2,000 domains/s: {}\n",
               rate >= 2000 ? "met" : "NOT met");

    dsm::bench::append_rows(
        rows, {{fmt::format("Cold verdicts/s ({} {}-signed DANE domains, local knotd, {} workers, "
                            "{} libunbound context{}{})",
                            dsm::bench::human(static_cast<double>(domains.size())), algorithm,
                            workers, n_contexts, n_contexts == 1 ? "" : "s",
                            unbound_config.empty() ? "" : ", unbound_config " + unbound_config),
                fmt::format("{} /s (pass {}/{}; libunbound thread {:.2f} ms CPU per domain)",
                            dsm::bench::human(rate), pass, domains.size(), ub_ms),
                peer ? fmt::format("{} names/s (unbound-host -t TLSA, xargs -P {}; secure {}/{})",
                                   dsm::bench::human(peer->per_second), peer_jobs, peer->secure,
                                   peer->names)
                     : std::string("not run"),
                peer ? fmt::format("{:.1f}×", rate / peer->per_second) : std::string("—"),
                "≥ 2,000 /s"}});
    return pass == domains.size() && (!peer || peer->secure == peer->names) ? 0 : 1;
}
