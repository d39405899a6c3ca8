#include "milter/report_command.hpp"

#include <fmt/format.h>
#include <getopt.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <vector>

#include "core/cache/store.hpp"
#include "core/log/logging.hpp"
#include "core/report/count_key.hpp"
#include "core/report/readiness.hpp"
#include "core/report/readiness_format.hpp"

namespace dsm::milter {

int run_report(const config::Config& config, const ReportOptions& options, std::ostream& out) {
    const auto& connectors = config.connectors.connectors();
    if (!options.connector.empty() &&
        std::none_of(connectors.begin(), connectors.end(),
                     [&](const config::Connector& c) { return c.name == options.connector; })) {
        fmt::print(stderr, "dane-sts-milter: {}: no connector \"{}\"\n", config.path,
                   options.connector);
        return 2;
    }
    const unsigned days = options.days.value_or(config.report.days);
    if (days < 1 || days > 366) {
        fmt::print(stderr, "dane-sts-milter: --days: expected 1 to 366, got {}\n", days);
        return 2;
    }
    const std::string last_day = report::utc_day(std::chrono::system_clock::now());
    const std::string first_day =
        report::add_days(last_day, -static_cast<int>(days) + 1).value_or(last_day);
    const auto print = [&](const std::vector<report::CountRow>& rows, std::string store) {
        const auto r = report::compute_readiness(rows, connectors, options.connector, first_day,
                                                 last_day, days, std::move(store));
        out << (options.json ? report::format_readiness_json(r) : report::format_readiness_text(r));
        return 0;
    };

    const std::string& spec = config.cache.store;
    if (spec.rfind("sqlite:", 0) == 0 && !std::filesystem::exists(spec.substr(7))) {
        // Opening would create the file, owned by whoever runs --report
        // (root, usually), and the daemon could then not write it. Nothing
        // was counted yet: say so.
        return print({}, spec);
    }
    auto store = cache::make_store(spec);
    if (!store) {
        fmt::print(stderr, "dane-sts-milter: {}: [cache] store: {}\n", config.path, store.error());
        return 2;
    }
    if (!*store) {
        fmt::print(stderr,
                   "dane-sts-milter: {}: [cache] store = memory keeps no readiness counts; "
                   "configure sqlite:PATH or redis://HOST:PORT to count (SPEC section 11)\n",
                   config.path);
        return 2;
    }
    const auto rows = (*store)->read_counts(first_day, last_day);
    if (!rows) {
        fmt::print(stderr, "dane-sts-milter: {}: cannot read the readiness counts\n",
                   (*store)->name());
        return 2;
    }
    return print(*rows, (*store)->name());
}

bool wants_report(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--") == 0) {
            return false;
        }
        if (std::strcmp(argv[i], "--report") == 0) {
            return true;
        }
    }
    return false;
}

int report_main(int argc, char** argv, const char* default_config) {
    std::string config_path = default_config;
    ReportOptions options;
    enum { kReport = 2000, kConnector, kDays, kJson };
    const option long_options[] = {
        {"report", no_argument, nullptr, kReport},
        {"connector", required_argument, nullptr, kConnector},
        {"days", required_argument, nullptr, kDays},
        {"json", no_argument, nullptr, kJson},
        {nullptr, 0, nullptr, 0},
    };
    const char* usage =
        "usage: dane-sts-milter [-c FILE] --report [--connector NAME] [--days N] [--json]\n";
    int opt = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", long_options, nullptr)) != -1) {
        switch (opt) {
            case 'c':
                config_path = optarg;
                break;
            case kReport:
                break;
            case kConnector:
                options.connector = optarg;
                break;
            case kDays: {
                unsigned n = 0;
                const char* end = optarg + std::strlen(optarg);
                const auto [p, ec] = std::from_chars(optarg, end, n);
                if (ec != std::errc() || p != end || n < 1 || n > 366) {
                    fmt::print(stderr, "dane-sts-milter: --days: expected 1 to 366, got \"{}\"\n",
                               optarg);
                    return 2;
                }
                options.days = n;
                break;
            }
            case kJson:
                options.json = true;
                break;
            default:
                std::fputs(usage, stderr);
                return 2;
        }
    }
    if (optind != argc) {
        std::fputs(usage, stderr);
        return 2;
    }
    auto cfg = config::load_config(config_path);
    if (!cfg) {
        fmt::print(stderr, "dane-sts-milter: {}\n", cfg.error());
        return 2;
    }
    // The store's own logs must not mix with the report on stdout: warnings
    // only, on stderr.
    config::MilterSettings quiet = (*cfg)->milter;
    quiet.log_target = "stderr";
    quiet.log_level = config::LogLevel::warn;
    static_cast<void>(log::setup_logging(quiet));
    return run_report(**cfg, options, std::cout);
}

}  // namespace dsm::milter
