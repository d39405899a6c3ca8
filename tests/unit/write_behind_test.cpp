// core/cache/write_behind: batching, flush, the bounded queue, shutdown.
// An in-memory Store records each put; a gate can hold put() to play a slow
// store. Timing-dependent cases wait on conditions with deadlines, never on
// fixed sleeps.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/cache/write_behind.hpp"

using namespace dsm;
using namespace std::chrono_literals;
using cache::StoredVerdict;
using cache::WriteBehind;

namespace {

class FakeStore final : public cache::Store {
  public:
    [[nodiscard]] std::string name() const override { return "fake"; }
    std::vector<StoredVerdict> load(std::size_t) override { return {}; }
    std::optional<StoredVerdict> get(const std::string&) override { return std::nullopt; }
    void put(const std::vector<StoredVerdict>& verdicts) override {
        std::unique_lock lock(mu_);
        ++puts_started_;
        cv_.notify_all();
        cv_.wait(lock, [&] { return open_; });
        batches_.push_back(verdicts.size());
        for (const auto& v : verdicts) {
            domains_.push_back(v.verdict.domain);
        }
        cv_.notify_all();
    }
    std::optional<std::string> get_policy(const std::string& /*domain*/) override {
        return std::nullopt;
    }
    void put_policy(const std::string& /*domain*/, const std::string& /*record*/,
                    std::chrono::system_clock::time_point /*expires*/) override {}
    bool erase(const std::string& /*domain*/) override { return true; }
    [[nodiscard]] bool healthy() const override { return true; }
    [[nodiscard]] std::uint64_t errors() const override { return 0; }

    void close_gate() {
        const std::lock_guard lock(mu_);
        open_ = false;
    }
    void open_gate() {
        {
            const std::lock_guard lock(mu_);
            open_ = true;
        }
        cv_.notify_all();
    }
    // Waits (bounded) until `pred` holds over the recorded state.
    template <typename Pred>
    bool wait_for(Pred pred, std::chrono::milliseconds limit = 5000ms) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, limit, [&] { return pred(*this); });
    }
    std::vector<std::size_t> batches() {
        const std::lock_guard lock(mu_);
        return batches_;
    }
    std::vector<std::string> domains() {
        const std::lock_guard lock(mu_);
        return domains_;
    }

    // Read under mu_ by wait_for predicates.
    int puts_started_ = 0;
    std::vector<std::size_t> batches_;
    std::vector<std::string> domains_;

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool open_ = true;
};

StoredVerdict make(int i) {
    StoredVerdict v;
    v.verdict.domain = "d" + std::to_string(i) + ".test";
    v.expires = std::chrono::system_clock::now() + 1h;
    return v;
}

WriteBehind::Options slow_interval() {
    WriteBehind::Options o;
    o.interval = 1h;  // only a full batch, flush() or the destructor write
    return o;
}

// Queues d0.test ... d<n-1>.test, in that order.
void enqueue_first(WriteBehind& wb, int n) {
    for (int i = 0; i < n; ++i) {
        wb.enqueue(make(i));
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(write_behind)

BOOST_AUTO_TEST_CASE(writes_after_the_interval) {
    auto store = std::make_shared<FakeStore>();
    WriteBehind::Options o;
    o.interval = 50ms;
    WriteBehind wb(store, o);
    wb.enqueue(make(1));
    BOOST_TEST(store->wait_for([](const FakeStore& s) { return s.domains_.size() == 1; }));
    BOOST_TEST(store->domains().at(0) == "d1.test");
    // The writer counts a batch after put() returns: the store may hold it
    // before written() says so (seen under ThreadSanitizer's slowdown).
    BOOST_TEST(wb.flush(5s));
    BOOST_TEST(wb.written() == 1U);
}

BOOST_AUTO_TEST_CASE(full_batch_written_without_waiting_for_the_interval) {
    auto store = std::make_shared<FakeStore>();
    auto o = slow_interval();
    o.batch = 10;
    WriteBehind wb(store, o);
    enqueue_first(wb, 25);
    // Two full batches go at once; the last 5 wait for the (hour-long) interval.
    BOOST_TEST(store->wait_for([](const FakeStore& s) { return s.domains_.size() >= 20; }));
    BOOST_TEST(wb.queued() == 5U);
    BOOST_TEST(wb.flush());
    const auto batches = store->batches();
    BOOST_TEST_REQUIRE(batches.size() == 3U);
    BOOST_TEST(batches[0] == 10U);
    BOOST_TEST(batches[1] == 10U);
    BOOST_TEST(batches[2] == 5U);
    const auto domains = store->domains();
    for (int i = 0; i < 25; ++i) {
        BOOST_TEST(domains.at(static_cast<std::size_t>(i)) == "d" + std::to_string(i) + ".test");
    }
}

BOOST_AUTO_TEST_CASE(flush_writes_everything_in_batches) {
    auto store = std::make_shared<FakeStore>();
    WriteBehind wb(store, slow_interval());
    enqueue_first(wb, 600);
    BOOST_TEST(wb.flush());
    BOOST_TEST(wb.queued() == 0U);
    BOOST_TEST(wb.written() == 600U);
    BOOST_TEST(store->domains().size() == 600U);
    for (const auto n : store->batches()) {
        BOOST_TEST(n <= 256U);
    }
    BOOST_TEST(store->batches().size() >= 3U);
    BOOST_TEST(wb.dropped() == 0U);
}

BOOST_AUTO_TEST_CASE(flush_of_nothing_returns_at_once) {
    auto store = std::make_shared<FakeStore>();
    WriteBehind wb(store, slow_interval());
    const auto t0 = std::chrono::steady_clock::now();
    BOOST_TEST(wb.flush());
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s));
    BOOST_TEST(store->batches().empty());
}

BOOST_AUTO_TEST_CASE(full_queue_drops_the_oldest_and_counts) {
    auto store = std::make_shared<FakeStore>();
    auto o = slow_interval();
    o.max_queue = 10;
    WriteBehind wb(store, o);
    enqueue_first(wb, 25);
    BOOST_TEST(wb.queued() == 10U);
    BOOST_TEST(wb.dropped() == 15U);
    BOOST_TEST(wb.flush());
    const auto domains = store->domains();
    BOOST_TEST_REQUIRE(domains.size() == 10U);
    BOOST_TEST(domains.front() == "d15.test");
    BOOST_TEST(domains.back() == "d24.test");
}

BOOST_AUTO_TEST_CASE(enqueue_never_waits_for_a_stuck_store) {
    auto store = std::make_shared<FakeStore>();
    store->close_gate();
    WriteBehind::Options o;
    o.interval = 1ms;
    o.max_queue = 100;
    o.shutdown_flush = 200ms;
    {
        WriteBehind wb(store, o);
        wb.enqueue(make(0));
        // The writer is now inside put(), held by the gate.
        BOOST_TEST(store->wait_for([](const FakeStore& s) { return s.puts_started_ == 1; }));
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 1; i <= 1000; ++i) {
            wb.enqueue(make(i));
        }
        BOOST_TEST((std::chrono::steady_clock::now() - t0 < 500ms));
        BOOST_TEST(wb.queued() == 100U);
        BOOST_TEST(wb.dropped() == 900U);
        // flush() is bounded: the store does not move.
        const auto t1 = std::chrono::steady_clock::now();
        BOOST_TEST(!wb.flush(100ms));
        BOOST_TEST((std::chrono::steady_clock::now() - t1 < 2s));
        store->open_gate();
        BOOST_TEST(wb.flush());
        BOOST_TEST(wb.written() == 101U);
    }
}

BOOST_AUTO_TEST_CASE(destructor_flushes) {
    auto store = std::make_shared<FakeStore>();
    {
        WriteBehind wb(store, slow_interval());
        enqueue_first(wb, 5);
    }
    BOOST_TEST(store->domains().size() == 5U);
}

BOOST_AUTO_TEST_CASE(destructor_is_bounded_by_a_stuck_store) {
    auto store = std::make_shared<FakeStore>();
    store->close_gate();
    auto o = slow_interval();
    o.shutdown_flush = 100ms;
    {
        auto wb = std::make_unique<WriteBehind>(store, o);
        for (int i = 0; i < 300; ++i) {  // one batch goes into put() and sticks there
            wb->enqueue(make(i));
        }
        BOOST_TEST(store->wait_for([](const FakeStore& s) { return s.puts_started_ == 1; }));
        // The destructor waits for the put in progress: release it from
        // another thread once the destructor's flush has given up.
        std::thread release([&] {
            std::this_thread::sleep_for(300ms);  // past shutdown_flush, on purpose
            store->open_gate();
        });
        const auto t0 = std::chrono::steady_clock::now();
        wb.reset();
        BOOST_TEST((std::chrono::steady_clock::now() - t0 < 3s));
        release.join();
    }
    // The batch in flight (256) was written; the 44 still queued were dropped.
    BOOST_TEST(store->domains().size() == 256U);
}

BOOST_AUTO_TEST_SUITE_END()
