#include "core/metrics/milter_metrics.hpp"

namespace dsm::metrics {

namespace {
// From 1 ms (a cached DNS answer) to 10 s (past every configurable timeout's
// default): DNS, HTTPS fetches and SMTP probes share one scale.
std::vector<double> lookup_bounds() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
}  // namespace

std::string_view to_string(LookupKind k) {
    switch (k) {
        case LookupKind::mx:
            return "mx";
        case LookupKind::address:
            return "address";
        case LookupKind::tlsa:
            return "tlsa";
        case LookupKind::sts_txt:
            return "sts_txt";
        case LookupKind::other_dns:
            return "other_dns";
        case LookupKind::sts_fetch:
            return "sts_fetch";
        case LookupKind::probe:
            return "probe";
    }
    return "other_dns";
}

MilterMetrics::MilterMetrics()
    : decisions_(registry_.counter_family(
          "dane_sts_milter_decisions_total",
          "RCPT decisions (SPEC 4) by action, connector and RFC 8460 result type.",
          {"action", "connector", "result"})),
      unmatched_(registry_.counter_family(
          "dane_sts_milter_unmatched_recipients_total",
          "RCPTs that match no connector (SPEC 3): local (accepted, no verdict) or invalid "
          "(550 5.1.3).",
          {"kind"})),
      lookups_(registry_.counter_family(
          "dane_sts_milter_lookups_total",
          "DNS lookups, MTA-STS policy fetches and STARTTLS probes by kind and outcome.",
          {"kind", "outcome"})),
      lookup_seconds_(registry_.histogram_family(
          "dane_sts_milter_lookup_duration_seconds",
          "Duration of DNS lookups, MTA-STS policy fetches and STARTTLS probes.", {"kind"},
          lookup_bounds())),
      policy_map_(registry_.counter_family("dane_sts_milter_policy_map_requests_total",
                                           "Postfix socketmap policy lookups (SPEC 7) by answer.",
                                           {"answer"})),
      policy_malformed_(registry_.counter_family(
          "dane_sts_milter_policy_map_malformed_total",
          "Socketmap requests refused by the protocol layer (SPEC 7): request (PERM), oversize "
          "or framing (connection closed).",
          {"kind"})) {
    registry_.gauge_fn("dane_sts_milter_build_info",
                       "Always 1; the version label names the running build.",
                       {{"version", DSM_VERSION}}, [] { return 1.0; });
}

void MilterMetrics::decision(std::string_view action, std::string_view connector,
                             std::string_view result) {
    decisions_.with({action, connector, result.empty() ? std::string_view("none") : result}).inc();
}

void MilterMetrics::unmatched_recipient(std::string_view kind) {
    unmatched_.with({kind}).inc();
}

void MilterMetrics::lookup(LookupKind kind, std::string_view outcome,
                           std::chrono::steady_clock::duration took) {
    const std::string_view k = to_string(kind);
    lookups_.with({k, outcome}).inc();
    lookup_seconds_.with({k}).observe(std::chrono::duration<double>(took).count());
}

void MilterMetrics::policy_answer(std::string_view reply) {
    const auto space = reply.find(' ');
    std::string_view word = reply.substr(0, space);
    if (word != "OK" && word != "TEMP" && word != "NOTFOUND" && word != "PERM" &&
        word != "TIMEOUT") {
        word = "other";  // bounded label values whatever a handler returns
    }
    policy_map_.with({word}).inc();
}

void MilterMetrics::policy_malformed(std::string_view kind) {
    policy_malformed_.with({kind}).inc();
}

}  // namespace dsm::metrics
