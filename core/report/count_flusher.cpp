#include "core/report/count_flusher.hpp"

#include <spdlog/spdlog.h>

namespace dsm::report {

CountFlusher::CountFlusher(DecisionCounter& counter, std::shared_ptr<cache::Store> store,
                           unsigned keep_days, std::chrono::milliseconds interval)
    : counter_(counter),
      store_(std::move(store)),
      keep_days_(keep_days),
      interval_(interval),
      thread_([this] { run(); }) {}

CountFlusher::~CountFlusher() {
    {
        const std::lock_guard lock(mu_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    if (!flush()) {
        spdlog::warn("store={} report_counts=lost: the last readiness counts could not be written",
                     store_->name());
    }
}

bool CountFlusher::flush() {
    const std::lock_guard write(write_mu_);
    auto rows = counter_.take();
    // No traffic, no write (the purge of old days waits for the next count).
    if (rows.empty() || store_->add_counts(rows, keep_days_)) {
        return true;
    }
    for (auto& r : rows) {
        counter_.add(std::move(r.key), r.count);
    }
    return false;
}

void CountFlusher::run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
        wake_.wait_for(lock, interval_, [&] { return stopping_; });
        if (stopping_) {
            break;
        }
        lock.unlock();
        if (!flush()) {
            spdlog::debug("store={} report_counts=deferred: the store failed, retrying",
                          store_->name());
        }
        lock.lock();
    }
}

}  // namespace dsm::report
