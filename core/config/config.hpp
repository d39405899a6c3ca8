// The whole of milter.conf (SPEC §2) as an immutable snapshot. Parse and
// validate everything, then share as std::shared_ptr<const Config>; each
// transaction keeps the snapshot it started with (STYLE §8).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config/connector_table.hpp"
#include "core/util/result.hpp"

namespace dsm::config {

enum class LogLevel { trace, debug, info, warn, error };

struct MilterSettings {
    // libmilter smfi_setconn() syntax; below Debian's Postfix chroot (conf/milter.conf)
    std::string socket = "unix:/var/spool/postfix/dane-sts-milter/milter.sock";
    std::string header = "X-DANE-STS-Verdict";
    std::string user;      // empty: keep the current user
    unsigned umask = 007;  // octal in the file
    LogLevel log_level = LogLevel::info;
    std::string log_target = "stderr";  // stderr | syslog | file:/path
};

struct StubZone {
    std::string zone;     // with trailing dot, e.g. "test."
    std::string address;  // address[@port], unbound syntax
};

struct ResolverSettings {
    std::string trust_anchor_file = "/usr/share/dns/root.key";
    std::vector<std::string> forwarders;  // address[@port]
    std::vector<StubZone> stub_zones;
    std::string unbound_config;
    std::chrono::milliseconds timeout{5000};
};

struct StsSettings {
    std::string ca_file = "/etc/ssl/certs/ca-certificates.crt";
    std::uint16_t https_port = 443;
    std::chrono::milliseconds fetch_timeout{10000};
};

struct ProbeSettings {
    bool enabled = false;
    std::uint16_t port = 25;
    std::chrono::milliseconds timeout{10000};
    // Local addresses probes connect from, as Postfix's smtp_bind_address
    // and smtp_bind_address6 (core/probe/source_address.hpp); "": the
    // kernel chooses.
    std::string bind_address;   // IPv4 literal
    std::string bind_address6;  // IPv6 literal
};

struct CacheSettings {
    std::string store = "sqlite:/var/lib/dane-sts-milter/cache.db";  // memory | sqlite:PATH |
                                                                     // redis://HOST:PORT[/DB]
    std::size_t max_entries = 1000000;
    std::chrono::seconds min_ttl{300};
    std::chrono::seconds max_ttl{86400};
    std::chrono::seconds error_ttl{60};
    std::chrono::seconds stale_ttl{3600};
};

struct PrefetchSettings {
    unsigned concurrency = 64;
    double refresh_ahead = 0.8;
    std::chrono::seconds active_window{86400};
    std::string warm_list;
};

struct RcptSettings {
    std::chrono::milliseconds lookup_timeout{3000};
};

// SPEC §11: how many UTC days of readiness counts the store keeps.
struct ReportSettings {
    unsigned days = 30;
};

struct PolicyMapSettings {
    std::string listen;  // inet:HOST:PORT or unix:PATH
    // Open connections at most; one more is closed at once (issue 14: each
    // Postfix smtp(8) process keeps one open, idle ones cost no thread).
    std::size_t max_connections = 4096;
};

struct MetricsSettings {
    std::string listen;  // HOST:PORT
};

struct ControlSettings {
    std::string socket;  // unix:/PATH (SPEC §8)
};

struct Config {
    std::string path;  // the file it was read from
    MilterSettings milter;
    ResolverSettings resolver;
    StsSettings sts;
    ProbeSettings probe;
    CacheSettings cache;
    PrefetchSettings prefetch;
    RcptSettings rcpt;
    ReportSettings report;
    std::optional<PolicyMapSettings> policy_map;  // section present
    std::optional<MetricsSettings> metrics;       // section present
    std::optional<ControlSettings> control;       // section present
    ConnectorTable connectors;
};

std::string_view to_string(LogLevel l);

// Reads and validates `path`. Every error names the file, the key
// ("section.key") and what was expected; unknown sections or keys, bad values
// and missing required values are errors. Never throws.
Result<std::shared_ptr<const Config>> load_config(const std::string& path);

}  // namespace dsm::config
