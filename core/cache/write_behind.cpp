#include "core/cache/write_behind.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

namespace dsm::cache {

namespace {

// A zero batch or queue would never write (or never keep) anything.
WriteBehind::Options sane(WriteBehind::Options o) {
    o.batch = std::max<std::size_t>(1, o.batch);
    o.max_queue = std::max<std::size_t>(1, o.max_queue);
    return o;
}

}  // namespace

WriteBehind::WriteBehind(std::shared_ptr<Store> store, Options options)
    : store_(std::move(store)), options_(sane(options)), thread_([this] { run(); }) {}

WriteBehind::~WriteBehind() {
    flush(options_.shutdown_flush);
    {
        const std::lock_guard lock(mu_);
        stopping_ = true;
        dropped_ += queue_.size();
        queue_.clear();
    }
    wake_.notify_all();
    thread_.join();
}

void WriteBehind::enqueue(StoredVerdict v) {
    bool full_batch = false;
    {
        const std::lock_guard lock(mu_);
        if (stopping_) {
            ++dropped_;
            return;
        }
        while (!queue_.empty() && queue_.size() >= options_.max_queue) {
            queue_.pop_front();
            ++dropped_;
        }
        queue_.push_back(Item{next_seq_++, std::move(v)});
        // Wake the writer for the first record (it starts gathering for one
        // interval) and again when a batch is full.
        full_batch = queue_.size() == 1 || queue_.size() == options_.batch;
    }
    if (full_batch) {
        wake_.notify_one();
    }
}

// Nothing enqueued up to `through` is waiting or being written.
bool WriteBehind::settled_locked(std::uint64_t through) const {
    const bool queued = !queue_.empty() && queue_.front().seq <= through;
    const bool writing = in_flight_first_ != 0 && in_flight_first_ <= through;
    return !queued && !writing;
}

bool WriteBehind::flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    const std::uint64_t through = next_seq_ - 1;
    flush_through_ = std::max(flush_through_, through);
    wake_.notify_one();
    return done_.wait_for(lock, timeout, [&] { return settled_locked(through); });
}

void WriteBehind::run() {
    const std::size_t batch = options_.batch;
    std::unique_lock lock(mu_);
    for (;;) {
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) {
            return;  // stopping, nothing left
        }
        // Gather for up to one interval unless a batch is full or a flush
        // (or the end) asks for the records now.
        wake_.wait_for(lock, options_.interval, [&] {
            return stopping_ || queue_.size() >= batch ||
                   (!queue_.empty() && queue_.front().seq <= flush_through_);
        });
        if (queue_.empty()) {
            continue;
        }
        std::vector<StoredVerdict> records;
        const std::size_t n = std::min(batch, queue_.size());
        records.reserve(n);
        in_flight_first_ = queue_.front().seq;
        for (std::size_t i = 0; i < n; ++i) {
            records.push_back(std::move(queue_.front().verdict));
            queue_.pop_front();
        }
        lock.unlock();
        try {
            store_->put(records);
        } catch (const std::exception& e) {  // a Store must not throw; keep the thread alive
            spdlog::error("write-behind: {}: put threw: {}", store_->name(), e.what());
        } catch (...) {
            spdlog::error("write-behind: {}: put threw", store_->name());
        }
        lock.lock();
        in_flight_first_ = 0;
        written_ += n;
        done_.notify_all();
    }
}

std::uint64_t WriteBehind::dropped() const {
    const std::lock_guard lock(mu_);
    return dropped_;
}

std::uint64_t WriteBehind::written() const {
    const std::lock_guard lock(mu_);
    return written_;
}

std::size_t WriteBehind::queued() const {
    const std::lock_guard lock(mu_);
    return queue_.size();
}

}  // namespace dsm::cache
