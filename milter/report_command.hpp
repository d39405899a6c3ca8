// `dane-sts-milter --report [--connector NAME] [--days N] [--json]` (SPEC
// §11): reads the readiness counts from the configured store (also while the
// daemon runs: SQLite in WAL mode, Redis shared) and prints the report that
// core/report computes and formats.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "core/config/config.hpp"

namespace dsm::milter {

struct ReportOptions {
    std::string connector;         // "" for every connector
    std::optional<unsigned> days;  // default [report] days
    bool json = false;
};

// Exit status: 0 with the report printed; 2 for a memory store (nothing is
// counted), an unknown connector, a bad --days or a store that cannot be
// read (the error on stderr).
int run_report(const config::Config& config, const ReportOptions& options, std::ostream& out);

// True when the command line asks for --report (main() hands it over whole).
bool wants_report(int argc, char** argv);
// The --report command line: -c FILE, --report, --connector NAME, --days N,
// --json and nothing else (2 on a usage error).
int report_main(int argc, char** argv, const char* default_config);

}  // namespace dsm::milter
