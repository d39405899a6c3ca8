// Warm-cache hits per second (the RCPT path, SPEC §6: "takes no global lock
// and does no I/O on a hit"): the real VerdictCache against the design it
// replaces, one std::mutex around one std::unordered_map, on the same names,
// the same random access pattern and the same thread counts, in one run.
//
// Usage: cache_bench [--domains N] [--seconds S] [--repeats R] [--rows FILE]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "core/cache/verdict_cache.hpp"
#include "tests/bench/bench_util.hpp"

namespace {

using dsm::cache::VerdictCache;
using dsm::verdict::DomainVerdict;
using Clock = std::chrono::steady_clock;

// The naive design: every lookup of every thread takes the one lock.
class MutexMap {
  public:
    void put(const std::string& domain, VerdictCache::VerdictPtr v) {
        std::lock_guard lock(mu_);
        map_[domain] = std::move(v);
    }
    VerdictCache::VerdictPtr get(const std::string& domain) {
        std::lock_guard lock(mu_);
        auto it = map_.find(domain);
        return it == map_.end() ? nullptr : it->second;
    }

  private:
    std::mutex mu_;
    std::unordered_map<std::string, VerdictCache::VerdictPtr> map_;
};

// splitmix64: cheap next to a hash and a lock, and seeded per thread, so that
// both designs see exactly the same sequence of names.
struct Rng {
    std::uint64_t s;
    std::uint64_t operator()() {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
};

// Lookups per second of wall time and per second of the threads' own CPU
// time. The first is the figure; the second shows the cost of one lookup even
// when other work on the machine takes CPU from the run.
struct Rate {
    double per_wall = 0, per_cpu = 0;
    std::uint64_t misses = 0;  // not 0: the cache was not warm, nothing measured
};

std::chrono::nanoseconds thread_cpu() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

// `threads` threads looking up random names for `seconds`. `lookup` returns
// the verdict found, null for a miss.
template <typename Lookup>
Rate hits_per_second(const std::vector<std::string>& names, unsigned threads,
                     std::chrono::duration<double> seconds, Lookup lookup) {
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> total{0};
    std::atomic<std::uint64_t> misses{0};
    std::atomic<std::int64_t> cpu_ns{0};
    std::latch ready(threads + 1);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            Rng rng{0x5eed0000ULL + t};
            std::uint64_t n = 0, missed = 0;
            ready.arrive_and_wait();
            const auto cpu_start = thread_cpu();
            // Checking the flag every 256 lookups keeps it off the measured
            // path; overrunning by 256 lookups is noise.
            while (!stop.load(std::memory_order_relaxed)) {
                for (int i = 0; i < 256; ++i) {
                    auto v = lookup(names[rng() % names.size()]);
                    missed += v == nullptr ? 1 : 0;
                }
                n += 256;
            }
            total += n;
            misses += missed;
            cpu_ns += (thread_cpu() - cpu_start).count();
        });
    }
    ready.arrive_and_wait();
    const auto start = Clock::now();
    std::this_thread::sleep_for(seconds);
    stop = true;
    const auto elapsed = std::chrono::duration<double>(Clock::now() - start);
    for (auto& th : pool) {
        th.join();
    }
    const auto n = static_cast<double>(total);
    return {n / elapsed.count(), n / (static_cast<double>(cpu_ns) / 1e9), misses};
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// What a real lookup of a DANE domain leaves: enough to be a verdict, cheap
// to make, so that warming 100,000 domains costs nothing worth measuring.
DomainVerdict trivial_verdict(const std::string& domain) {
    DomainVerdict v;
    v.domain = domain;
    v.dnssec = dsm::verdict::DnssecField::secure;
    v.dane = dsm::verdict::DaneField::pass;
    v.sts = dsm::verdict::StsField::skipped;
    v.dane_why = "MX host mx." + domain + " publishes usable TLSA records";
    v.at = std::chrono::system_clock::now();
    v.ttl = std::chrono::hours(24);
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    dsm::bench::Args args(argc, argv);
    const std::size_t domains = std::stoul(args.take("--domains").value_or("100000"));
    const double seconds = std::stod(args.take("--seconds").value_or("1"));
    const int repeats = std::stoi(args.take("--repeats").value_or("3"));
    const std::string rows = args.take("--rows").value_or("");
    if (!args.ok() || !args.rest().empty() || domains == 0 || repeats < 1 || seconds <= 0) {
        fmt::print(stderr,
                   "usage: cache_bench [--domains N] [--seconds S] [--repeats R] [--rows FILE]\n");
        return 2;
    }

    std::vector<std::string> names;
    names.reserve(domains);
    for (std::size_t i = 0; i < domains; ++i) {
        names.push_back(fmt::format("d{:07}.example.net", i));
    }

    // Room for every name: this measures hits, not eviction.
    dsm::config::CacheSettings settings;
    settings.store = "memory";
    settings.max_entries = domains * 2;
    dsm::config::PrefetchSettings prefetch;  // 64 lookup workers, as shipped
    VerdictCache cache(settings, prefetch, trivial_verdict,
                       std::make_shared<dsm::util::SystemClock>());

    // Warm through the miss path (single flight, worker pool, Compute), as
    // RCPT traffic would; two threads, because each get() waits for its
    // lookup.
    {
        std::vector<std::thread> warmers;
        for (unsigned t = 0; t < 2; ++t) {
            warmers.emplace_back([&, t] {
                for (std::size_t i = t; i < names.size(); i += 2) {
                    cache.get(names[i], std::chrono::seconds(60));
                }
            });
        }
        for (auto& th : warmers) {
            th.join();
        }
    }
    MutexMap naive;
    for (const auto& n : names) {
        naive.put(n, std::make_shared<const DomainVerdict>(trivial_verdict(n)));
    }
    const auto warm = cache.stats();
    if (cache.size() != domains || warm.misses != domains) {
        fmt::print(stderr, "cache_bench: warming left {} entries after {} lookups\n", cache.size(),
                   warm.misses);
        return 1;
    }

    const auto timeout = std::chrono::milliseconds(3000);
    fmt::print(
        "Warm-cache hits/s: {} domains, uniform random access, {} s per run, median of "
        "{} runs, {} hardware threads\n",
        domains, seconds, repeats, std::thread::hardware_concurrency());
    fmt::print("{:>7} | {:>29} | {:>29} | {:>5} | {:>19}\n", "", "VerdictCache (64 shards, LRU)",
               "std::mutex + unordered_map", "", "per CPU-second");
    fmt::print("{:>7} | {:>29} | {:>29} | {:>5} | {:>9} | {:>9}\n", "threads", "hits/s", "hits/s",
               "ratio", "ours", "peer");
    std::vector<dsm::bench::Row> table;
    for (unsigned threads : {1U, 2U, 8U}) {
        std::vector<double> ours, peer, ours_cpu, peer_cpu;
        // Alternating runs, so that a burst of other load on the machine
        // hurts both columns alike.
        for (int r = 0; r < repeats; ++r) {
            const auto span = std::chrono::duration<double>(seconds);
            const Rate o = hits_per_second(
                names, threads, span, [&](const std::string& d) { return cache.get(d, timeout); });
            const Rate p = hits_per_second(names, threads, span,
                                           [&](const std::string& d) { return naive.get(d); });
            if (o.misses != 0 || p.misses != 0) {
                fmt::print(stderr, "cache_bench: {} lookups missed: the cache was not warm\n",
                           o.misses + p.misses);
                return 1;
            }
            ours.push_back(o.per_wall);
            ours_cpu.push_back(o.per_cpu);
            peer.push_back(p.per_wall);
            peer_cpu.push_back(p.per_cpu);
        }
        const double o = median(ours), p = median(peer);
        fmt::print("{:>7} | {:>29} | {:>29} | {:>4.2f}x | {:>9} | {:>9}\n", threads,
                   dsm::bench::human(o), dsm::bench::human(p), o / p,
                   dsm::bench::human(median(ours_cpu)), dsm::bench::human(median(peer_cpu)));
        table.push_back({fmt::format("Warm-cache hits/s, {} thread{} ({} domains, random)", threads,
                                     threads == 1 ? "" : "s", dsm::bench::human(double(domains))),
                         fmt::format("{} ({} per CPU-s)", dsm::bench::human(o),
                                     dsm::bench::human(median(ours_cpu))),
                         fmt::format("{} ({} per CPU-s; one std::mutex)", dsm::bench::human(p),
                                     dsm::bench::human(median(peer_cpu))),
                         fmt::format("{:.2f}×", o / p), "no global lock on a hit (§6)"});
    }
    const auto after = cache.stats();
    if (after.misses != warm.misses) {
        fmt::print(stderr, "cache_bench: {} lookups missed during the runs\n",
                   after.misses - warm.misses);
        return 1;
    }
    dsm::bench::append_rows(rows, table);
    return 0;
}
