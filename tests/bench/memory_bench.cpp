// Resident memory of a full cache (SPEC §9: 1,000,000 cached domains in
// under 1 GiB RSS): the real VerdictCache::insert against the least a cache
// can hold, a plain std::unordered_map<std::string, DomainVerdict>, on the
// same verdicts, in one run.
//
// Each figure comes from its own forked child: freed memory is not always
// given back to the kernel, so a second measurement in the same process
// would start from a heap the first one left behind.
//
// Usage: memory_bench [--entries N] [--max-entries M] [--rows FILE]
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>

#include <fmt/format.h>

#include "core/cache/verdict_cache.hpp"
#include "tests/bench/bench_util.hpp"

namespace {

using dsm::verdict::DomainVerdict;

// As the DANE walk leaves a signed domain without TLSA records, the most
// common case: a ~20-character name, ~60-character reason, no MTA-STS
// policy (sts_mx empty). Long enough that no string fits in-place (SSO).
DomainVerdict realistic_verdict(std::size_t i) {
    DomainVerdict v;
    v.domain = fmt::format("d{:07}.example.net", i);
    v.dnssec = dsm::verdict::DnssecField::secure;
    v.dane = dsm::verdict::DaneField::none;
    v.sts = dsm::verdict::StsField::none;
    v.dane_why = fmt::format("no MX host of {} publishes TLSA records", v.domain);
    v.sts_why = "no MTA-STS TXT record";
    v.at = std::chrono::system_clock::now();
    v.ttl = std::chrono::hours(1);
    return v;
}

struct Measure {
    std::uint64_t before = 0, after = 0, held = 0;
};

// Runs `fill` (which measures) in a child and returns what it measured.
template <typename Fill>
std::optional<Measure> in_child(Fill fill) {
    std::array<int, 2> fds{};
    if (pipe(fds.data()) != 0) {
        fmt::print(stderr, "memory_bench: pipe: {}\n", std::generic_category().message(errno));
        return std::nullopt;
    }
    const pid_t pid = fork();
    if (pid < 0) {
        fmt::print(stderr, "memory_bench: fork: {}\n", std::generic_category().message(errno));
        return std::nullopt;
    }
    if (pid == 0) {
        close(fds[0]);
        const Measure m = fill();
        const bool ok = write(fds[1], &m, sizeof m) == sizeof m;
        _exit(ok ? 0 : 1);  // no destructors: the figure is taken
    }
    close(fds[1]);
    Measure m;
    const bool got = read(fds[0], &m, sizeof m) == sizeof m;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fmt::print(stderr, "memory_bench: a measuring child failed\n");
        return std::nullopt;
    }
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    dsm::bench::Args args(argc, argv);
    const std::size_t entries = std::stoul(args.take("--entries").value_or("1000000"));
    // Each of the 64 shards holds max_entries / 64 and names do not spread
    // exactly evenly: by default leave room, as this measures holding N, not
    // LRU eviction.
    const std::size_t max_entries =
        std::stoul(args.take("--max-entries").value_or(std::to_string(entries + entries / 4)));
    const std::string rows = args.take("--rows").value_or("");
    if (!args.ok() || !args.rest().empty() || entries == 0) {
        fmt::print(stderr, "usage: memory_bench [--entries N] [--max-entries M] [--rows FILE]\n");
        return 2;
    }

    const std::optional<Measure> ours_m = in_child([entries, max_entries] {
        Measure m;
        m.before = dsm::bench::rss_bytes();
        dsm::config::CacheSettings settings;
        settings.store = "memory";
        settings.max_entries = max_entries;
        dsm::config::PrefetchSettings prefetch;
        dsm::cache::VerdictCache cache(
            settings, prefetch, [](const std::string&) { return DomainVerdict{}; },
            std::make_shared<dsm::util::SystemClock>());
        const auto expires = std::chrono::system_clock::now() + std::chrono::hours(1);
        for (std::size_t i = 0; i < entries; ++i) {
            cache.insert(realistic_verdict(i), expires);
        }
        // Measured while the cache still lives.
        m.after = dsm::bench::rss_bytes();
        m.held = cache.size();
        return m;
    });
    const std::optional<Measure> peer_m = in_child([entries] {
        Measure m;
        m.before = dsm::bench::rss_bytes();
        std::unordered_map<std::string, DomainVerdict> map;
        for (std::size_t i = 0; i < entries; ++i) {
            DomainVerdict v = realistic_verdict(i);
            std::string key = v.domain;
            map.emplace(std::move(key), std::move(v));
        }
        m.after = dsm::bench::rss_bytes();
        m.held = map.size();
        return m;
    });

    if (!ours_m || !peer_m) {
        return 1;
    }
    const Measure& ours = *ours_m;
    const Measure& peer = *peer_m;
    const auto per_entry = [entries](const Measure& m) {
        return static_cast<double>(m.after - m.before) / static_cast<double>(entries);
    };
    const double ours_mib = dsm::bench::mib(ours.after);
    const double peer_mib = dsm::bench::mib(peer.after);

    fmt::print("RSS holding {} verdicts (~20-char names, ~60-char reasons, no sts_mx)\n", entries);
    fmt::print("{:>36} | {:>8} | {:>10} | {:>10} | {:>8}\n", "", "held", "RSS before", "RSS after",
               "B/entry");
    for (const auto& [name, m] : {std::pair{"VerdictCache::insert", ours},
                                  std::pair{"unordered_map<string, DomainVerdict>", peer}}) {
        fmt::print("{:>36} | {:>8} | {:>6.0f} MiB | {:>6.0f} MiB | {:>8.0f}\n", name, m.held,
                   dsm::bench::mib(m.before), dsm::bench::mib(m.after), per_entry(m));
    }
    fmt::print("SPEC §9 target, under 1024 MiB for 1,000,000 domains: {}\n",
               entries != 1000000 ? "not measured (entries != 1,000,000)"
               : ours_mib < 1024  ? "met"
                                  : "NOT met");
    if (ours.held != entries || peer.held != entries) {
        fmt::print(stderr, "memory_bench: expected {} entries held\n", entries);
        return 1;
    }

    dsm::bench::append_rows(
        rows, {{fmt::format("RSS holding {} verdicts", dsm::bench::human(double(entries))),
                fmt::format("{:.0f} MiB ({:.0f} B/entry)", ours_mib, per_entry(ours)),
                fmt::format("{:.0f} MiB ({:.0f} B/entry; plain unordered_map)", peer_mib,
                            per_entry(peer)),
                fmt::format("{:.2f}× the bytes/entry", per_entry(ours) / per_entry(peer)),
                "< 1 GiB for 1 M"}});
    return 0;
}
