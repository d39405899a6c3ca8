// Moves the readiness counts from memory to the store (SPEC §11): every
// `interval` a thread of ours takes the DecisionCounter's deltas and adds
// them with Store::add_counts; flush() does the same at once (SIGTERM).
// When the store fails the deltas go back into the counter (still bounded
// by it) and are tried again next time: counts are late, not lost, while
// the process lives.
//
// Thread-safe; never calls Store::add_counts concurrently with itself.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "core/cache/store.hpp"
#include "core/report/decision_counter.hpp"

namespace dsm::report {

class CountFlusher {
  public:
    // `counter` must outlive the flusher; `keep_days` is [report] days.
    CountFlusher(DecisionCounter& counter, std::shared_ptr<cache::Store> store, unsigned keep_days,
                 std::chrono::milliseconds interval = std::chrono::seconds(10));
    // Stops the thread, then flushes once more.
    ~CountFlusher();
    CountFlusher(const CountFlusher&) = delete;
    CountFlusher& operator=(const CountFlusher&) = delete;

    // Writes what has been counted so far; true when the store took it.
    bool flush();

  private:
    void run();

    DecisionCounter& counter_;
    const std::shared_ptr<cache::Store> store_;
    const unsigned keep_days_;
    const std::chrono::milliseconds interval_;

    std::mutex write_mu_;  // one add_counts at a time
    std::mutex mu_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;  // last: starts once the members above exist
};

}  // namespace dsm::report
