// A fixed set of threads taking jobs from a bounded queue. Submitting to a
// full queue fails instead of growing memory without bound.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dsm::util {

class WorkerPool {
  public:
    WorkerPool(unsigned threads, std::size_t max_queued);
    // Drops jobs still queued and joins the threads (running jobs finish).
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // False when the queue is full or the pool is stopping; the job is not run.
    bool submit(std::function<void()> job);
    [[nodiscard]] std::size_t queued() const;

  private:
    void run();

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    std::size_t max_queued_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace dsm::util
