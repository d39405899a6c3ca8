// A probe::Prober that counts and times every STARTTLS probe of the one it
// wraps (kind probe, outcome ok when verified, else fail), so the prober
// stays free of metrics.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics/milter_metrics.hpp"
#include "core/probe/probe.hpp"

namespace dsm::metrics {

class MeteredProber final : public probe::Prober {
  public:
    // `metrics` must outlive this prober.
    MeteredProber(std::unique_ptr<probe::Prober> inner, MilterMetrics& metrics)
        : inner_(std::move(inner)), metrics_(metrics) {}

    probe::ProbeResult probe_dane(const std::string& mx_host, const std::string& address,
                                  const std::vector<dane::TlsaRecord>& tlsa) override {
        return timed([&] { return inner_->probe_dane(mx_host, address, tlsa); });
    }
    probe::ProbeResult probe_dane_expanded(const std::string& mx_host,
                                           const std::string& tlsa_base_domain,
                                           const std::string& address,
                                           const std::vector<dane::TlsaRecord>& tlsa) override {
        return timed(
            [&] { return inner_->probe_dane_expanded(mx_host, tlsa_base_domain, address, tlsa); });
    }
    probe::ProbeResult probe_webpki(const std::string& mx_host,
                                    const std::string& address) override {
        return timed([&] { return inner_->probe_webpki(mx_host, address); });
    }
    std::size_t shutdown() override { return inner_->shutdown(); }

  private:
    template <typename F>
    probe::ProbeResult timed(F&& f) {
        const auto start = std::chrono::steady_clock::now();
        probe::ProbeResult r = f();
        metrics_.lookup(LookupKind::probe,
                        r.outcome == probe::ProbeOutcome::verified ? "ok" : "fail",
                        std::chrono::steady_clock::now() - start);
        return r;
    }

    std::unique_ptr<probe::Prober> inner_;
    MilterMetrics& metrics_;
};

}  // namespace dsm::metrics
