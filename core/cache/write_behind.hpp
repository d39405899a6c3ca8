// Writes verdicts to a Store behind the RCPT path (SPEC §6): the cache
// enqueues, one thread of ours batches them into Store::put.
//
// enqueue() never waits for the store: it takes a mutex for a push (and at
// worst a pop) and returns. The queue is bounded: when full the OLDEST
// record is dropped and counted (a newer verdict of a domain supersedes an
// older one, and a store that cannot keep up must not grow memory). The
// thread writes every `interval` or as soon as `batch` records are queued,
// at most `batch` records per Store::put.
//
// Thread-safe. The store is shared (the cache reads it on misses); one
// WriteBehind never calls Store::put concurrently with itself.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "core/cache/store.hpp"

namespace dsm::cache {

class WriteBehind {
  public:
    struct Options {  // a zero max_queue or batch is taken as 1
        std::size_t max_queue = 10000;
        std::size_t batch = 256;
        std::chrono::milliseconds interval{100};
        std::chrono::milliseconds shutdown_flush{5000};  // the destructor's flush bound
    };

    explicit WriteBehind(std::shared_ptr<Store> store) : WriteBehind(std::move(store), Options{}) {}
    WriteBehind(std::shared_ptr<Store> store, Options options);
    // Flushes (bounded by options.shutdown_flush); what is still queued then
    // is dropped and counted. Waits for a Store::put in progress.
    ~WriteBehind();
    WriteBehind(const WriteBehind&) = delete;
    WriteBehind& operator=(const WriteBehind&) = delete;

    void enqueue(StoredVerdict v);

    // Writes everything enqueued before the call and waits for it, at most
    // `timeout` (SIGTERM: the verdicts survive the restart). True when all
    // of it was handed to Store::put (or dropped for room) in time.
    bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(5));

    [[nodiscard]] std::uint64_t dropped() const;
    [[nodiscard]] std::uint64_t written() const;  // records handed to Store::put
    [[nodiscard]] std::size_t queued() const;

  private:
    struct Item {
        std::uint64_t seq;
        StoredVerdict verdict;
    };

    void run();
    [[nodiscard]] bool settled_locked(std::uint64_t through) const;

    const std::shared_ptr<Store> store_;
    const Options options_;

    mutable std::mutex mu_;
    std::condition_variable wake_;  // the writer: work, flush or stop
    std::condition_variable done_;  // flush(): a batch was written
    std::deque<Item> queue_;
    std::uint64_t next_seq_ = 1;
    std::uint64_t flush_through_ = 0;    // write at once what is queued up to this
    std::uint64_t in_flight_first_ = 0;  // first seq of the batch being written, 0 if none
    std::uint64_t dropped_ = 0;
    std::uint64_t written_ = 0;
    bool stopping_ = false;
    std::thread thread_;  // last: starts once the members above exist
};

}  // namespace dsm::cache
