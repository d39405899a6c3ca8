// core/util/shared_slot: what a reload relies on. A reader keeps the
// snapshot it loaded across a store; the old value goes once its last reader
// drops it; readers and a writer at once see whole values only (run it in
// the TSan build: tests/README.md).
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "core/util/shared_slot.hpp"

using dsm::util::SharedSlot;

namespace {

struct Snapshot {
    int generation;
    int twice;  // 2 * generation: a torn read would not keep it
};

}  // namespace

BOOST_AUTO_TEST_SUITE(shared_slot)

BOOST_AUTO_TEST_CASE(a_reader_keeps_its_snapshot_across_a_store) {
    SharedSlot<const Snapshot> slot(std::make_shared<const Snapshot>(Snapshot{1, 2}));
    std::shared_ptr<const Snapshot> held = slot.load();
    std::weak_ptr<const Snapshot> first = held;

    slot.store(std::make_shared<const Snapshot>(Snapshot{2, 4}));
    BOOST_TEST(held->generation == 1);  // still the one it loaded
    BOOST_TEST(slot.load()->generation == 2);
    BOOST_TEST(!first.expired());  // alive while a reader holds it

    slot.store(std::make_shared<const Snapshot>(Snapshot{3, 6}));
    BOOST_TEST(!first.expired());
    std::weak_ptr<const Snapshot> second = slot.load();
    BOOST_TEST(second.lock()->generation == 3);
    // The slot no longer holds generation 1, and nobody else does once
    // `held` goes.
    held.reset();
    BOOST_TEST(first.expired());
}

BOOST_AUTO_TEST_CASE(empty_until_stored) {
    SharedSlot<const Snapshot> slot;
    BOOST_TEST(!slot.load());
    slot.store(std::make_shared<const Snapshot>(Snapshot{7, 14}));
    BOOST_TEST(slot.load()->twice == 14);
}

// Four readers load while one writer stores 2000 generations: every value
// read is whole and generations never go back for a reader.
BOOST_AUTO_TEST_CASE(readers_and_a_writer_at_once) {
    SharedSlot<const Snapshot> slot(std::make_shared<const Snapshot>(Snapshot{0, 0}));
    std::atomic<bool> done{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 4; ++r) {
        readers.emplace_back([&] {
            int last = 0;
            while (!done.load()) {
                const auto s = slot.load();
                if (s->twice != 2 * s->generation || s->generation < last) {
                    ++bad;
                }
                last = s->generation;
            }
        });
    }
    for (int g = 1; g <= 2000; ++g) {
        slot.store(std::make_shared<const Snapshot>(Snapshot{g, 2 * g}));
    }
    done = true;
    for (auto& t : readers) {
        t.join();
    }
    BOOST_TEST(bad.load() == 0);
    BOOST_TEST(slot.load()->generation == 2000);
}

BOOST_AUTO_TEST_SUITE_END()
