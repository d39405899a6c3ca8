// What every benchmark shares: reading the process's memory and CPU use from
// /proc, number formatting, and the markdown rows that tests/bench/run.sh
// gathers into one table (DEVELOPERS: a figure is printed next to its peer's
// from the same run, never asserted by a timed unit test).
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace dsm::bench {

// VmRSS of this process in bytes (the kernel's figure: pages actually held,
// what an administrator's `ps` shows), or 0 if /proc cannot be read.
inline std::uint64_t rss_bytes() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            std::istringstream fields(line.substr(6));
            std::uint64_t kib = 0;
            fields >> kib;
            return kib * 1024;
        }
    }
    return 0;
}

// User plus system CPU time of this process so far.
inline std::chrono::duration<double> process_cpu() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    const auto tv = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    return std::chrono::duration<double>(tv(u.ru_utime) + tv(u.ru_stime));
}

// utime + stime of /proc/<path>/stat (a process or one of our threads), in
// seconds; nullopt once it is gone.
inline std::optional<double> stat_cpu_seconds(const std::string& stat_path) {
    std::ifstream in(stat_path);
    std::string text;
    if (!std::getline(in, text)) {
        return std::nullopt;
    }
    // The command name (field 2) may hold spaces: count fields after ')'.
    const auto close = text.rfind(')');
    if (close == std::string::npos) {
        return std::nullopt;
    }
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    std::uint64_t utime = 0, stime = 0;
    for (int i = 3; fields >> field; ++i) {
        if (i == 14) {
            utime = std::stoull(field);
        } else if (i == 15) {
            stime = std::stoull(field);
            break;
        }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// "12.3 M", "4,567", "850 k": enough digits to compare, few enough to read.
inline std::string human(double v) {
    if (v >= 10e6) {
        return fmt::format("{:.1f} M", v / 1e6);
    }
    if (v >= 1e6) {
        return fmt::format("{:.2f} M", v / 1e6);
    }
    if (v >= 100e3) {
        return fmt::format("{:.0f} k", v / 1e3);
    }
    const auto n = static_cast<std::uint64_t>(v + 0.5);
    if (n >= 1000) {
        return fmt::format("{},{:03}", n / 1000, n % 1000);
    }
    return std::to_string(n);
}

inline double mib(std::uint64_t bytes) {
    return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

// One line of run.sh's README table:
// | benchmark | dane-sts-milter | peer (same run) | ours ÷ peer | SPEC §9 target |
struct Row {
    std::string benchmark, ours, peer, ratio, target;
};

// Appends rows to `path` (nothing when empty); run.sh prints the header once.
inline void append_rows(const std::string& path, const std::vector<Row>& rows) {
    if (path.empty()) {
        return;
    }
    std::FILE* f = std::fopen(path.c_str(), "a");
    if (f == nullptr) {
        fmt::print(stderr, "cannot append to {}\n", path);
        return;
    }
    for (const auto& r : rows) {
        fmt::print(f, "| {} | {} | {} | {} | {} |\n", r.benchmark, r.ours, r.peer, r.ratio,
                   r.target);
    }
    std::fclose(f);
}

// `--name value` options; anything unknown is a usage error for the caller.
class Args {
  public:
    Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}
    // The value after `name`, if given; `ok()` turns false when it is missing.
    std::optional<std::string> take(std::string_view name) {
        for (std::size_t i = 0; i < args_.size(); ++i) {
            if (args_[i] != name) {
                continue;
            }
            if (i + 1 == args_.size()) {
                ok_ = false;
                return std::nullopt;
            }
            std::string v = args_[i + 1];
            args_.erase(args_.begin() + static_cast<std::ptrdiff_t>(i),
                        args_.begin() + static_cast<std::ptrdiff_t>(i + 2));
            return v;
        }
        return std::nullopt;
    }
    bool flag(std::string_view name) {
        for (std::size_t i = 0; i < args_.size(); ++i) {
            if (args_[i] == name) {
                args_.erase(args_.begin() + static_cast<std::ptrdiff_t>(i));
                return true;
            }
        }
        return false;
    }
    // Whatever was not taken (positional arguments, or mistakes).
    [[nodiscard]] const std::vector<std::string>& rest() const { return args_; }
    [[nodiscard]] bool ok() const { return ok_; }

  private:
    std::vector<std::string> args_;
    bool ok_ = true;
};

}  // namespace dsm::bench
