// core/report/count_flusher: counts reach the store on flush() and when the
// flusher is destroyed (SIGTERM); a failing store keeps them for the next
// try instead of losing them; nothing is written without traffic. The store
// is an in-memory fake that sums what it is given.
#include <boost/test/unit_test.hpp>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/report/count_flusher.hpp"

using namespace dsm;
using report::CountKey;
using report::CountRow;
using report::Outcome;
using report::View;

namespace {

class SummingStore final : public cache::Store {
  public:
    [[nodiscard]] std::string name() const override { return "fake"; }
    std::vector<cache::StoredVerdict> load(std::size_t) override { return {}; }
    std::optional<cache::StoredVerdict> get(const std::string&) override { return std::nullopt; }
    void put(const std::vector<cache::StoredVerdict>&) override {}
    std::optional<std::string> get_policy(const std::string&) override { return std::nullopt; }
    void put_policy(const std::string&, const std::string&,
                    std::chrono::system_clock::time_point) override {}
    bool erase(const std::string&) override { return true; }
    [[nodiscard]] bool healthy() const override { return true; }
    [[nodiscard]] std::uint64_t errors() const override { return 0; }

    bool add_counts(const std::vector<CountRow>& rows, unsigned keep_days) override {
        const std::lock_guard lock(mu);
        ++calls;
        last_keep_days = keep_days;
        if (failing) {
            return false;
        }
        for (const auto& r : rows) {
            total += r.count;
        }
        return true;
    }

    std::mutex mu;
    bool failing = false;
    int calls = 0;
    unsigned last_keep_days = 0;
    std::uint64_t total = 0;
};

CountKey key(std::string domain) {
    return CountKey{"2026-12-04",     "default",         std::move(domain),
                    View::configured, Outcome::accepted, ""};
}

constexpr std::chrono::hours kNever{24};  // no periodic flush during a test

}  // namespace

BOOST_AUTO_TEST_SUITE(count_flusher)

BOOST_AUTO_TEST_CASE(flush_writes_what_was_counted) {
    auto store = std::make_shared<SummingStore>();
    report::DecisionCounter counter;
    report::CountFlusher flusher(counter, store, 7, kNever);
    BOOST_TEST(flusher.flush());
    BOOST_TEST(store->calls == 0);  // nothing counted, nothing written
    counter.add(key("a.test"), 2);
    counter.add(key("b.test"));
    BOOST_TEST(flusher.flush());
    BOOST_TEST(store->calls == 1);
    BOOST_TEST(store->total == 3u);
    BOOST_TEST(store->last_keep_days == 7u);
    BOOST_TEST(counter.keys() == 0u);
}

BOOST_AUTO_TEST_CASE(a_failing_store_keeps_the_counts_for_later) {
    auto store = std::make_shared<SummingStore>();
    report::DecisionCounter counter;
    report::CountFlusher flusher(counter, store, 30, kNever);
    counter.add(key("a.test"), 5);
    store->failing = true;
    BOOST_TEST(!flusher.flush());
    BOOST_TEST(store->total == 0u);
    counter.add(key("a.test"));
    store->failing = false;
    BOOST_TEST(flusher.flush());
    BOOST_TEST(store->total == 6u);
}

BOOST_AUTO_TEST_CASE(destruction_flushes) {
    auto store = std::make_shared<SummingStore>();
    report::DecisionCounter counter;
    {
        report::CountFlusher flusher(counter, store, 30, kNever);
        counter.add(key("a.test"), 4);
    }
    BOOST_TEST(store->total == 4u);
}

BOOST_AUTO_TEST_CASE(the_thread_flushes_every_interval) {
    auto store = std::make_shared<SummingStore>();
    report::DecisionCounter counter;
    report::CountFlusher flusher(counter, store, 30, std::chrono::milliseconds(20));
    counter.add(key("a.test"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
        {
            const std::lock_guard lock(store->mu);
            if (store->total == 1u || std::chrono::steady_clock::now() > deadline) {
                break;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const std::lock_guard lock(store->mu);
    BOOST_TEST(store->total == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
