// A sts::PolicyFetcher that counts and times every policy fetch of the one it
// wraps (kind sts_fetch, outcome ok or fail), so the fetcher stays free of
// metrics.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/metrics/milter_metrics.hpp"
#include "core/sts/policy_fetcher.hpp"

namespace dsm::metrics {

class MeteredFetcher final : public sts::PolicyFetcher {
  public:
    // `metrics` must outlive this fetcher.
    MeteredFetcher(std::unique_ptr<sts::PolicyFetcher> inner, MilterMetrics& metrics)
        : inner_(std::move(inner)), metrics_(metrics) {}

    sts::FetchResult fetch(const std::string& domain) override {
        const auto start = std::chrono::steady_clock::now();
        sts::FetchResult r = inner_->fetch(domain);
        metrics_.lookup(LookupKind::sts_fetch, r.outcome == sts::FetchOutcome::ok ? "ok" : "fail",
                        std::chrono::steady_clock::now() - start);
        return r;
    }
    std::size_t shutdown() override { return inner_->shutdown(); }

  private:
    std::unique_ptr<sts::PolicyFetcher> inner_;
    MilterMetrics& metrics_;
};

}  // namespace dsm::metrics
