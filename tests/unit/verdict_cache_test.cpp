// The verdict cache: TTL clamps, error_ttl, single flight, RCPT timeout.
// Uses a ManualClock; no sleeping to age entries.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/cache/verdict_cache.hpp"
#include "tests/support/enum_print.hpp"

using namespace dsm;
using namespace std::chrono_literals;

namespace {

config::CacheSettings settings() {
    config::CacheSettings s;
    s.store = "memory";
    s.min_ttl = 300s;
    s.max_ttl = 86400s;
    s.error_ttl = 60s;
    s.max_entries = 1000;
    return s;
}

config::PrefetchSettings prefetch(unsigned workers) {
    config::PrefetchSettings p;
    p.concurrency = workers;
    p.refresh_ahead = 0.8;
    p.active_window = std::chrono::seconds(86400);
    return p;
}

verdict::DomainVerdict make(const std::string& d, std::chrono::seconds ttl, bool error = false) {
    verdict::DomainVerdict v;
    v.domain = d;
    v.dnssec = error ? verdict::DnssecField::error : verdict::DnssecField::secure;
    v.dane = error ? verdict::DaneField::error : verdict::DaneField::pass;
    v.ttl = ttl;
    return v;
}

}  // namespace

BOOST_AUTO_TEST_CASE(hit_until_clamped_ttl_then_refetch) {
    auto clock = std::make_shared<cache::ManualClock>();
    std::atomic<int> calls{0};
    cache::VerdictCache c(
        settings(), prefetch(2),
        [&](const std::string& d) {
            ++calls;
            return make(d, 10s);  // below min_ttl: clamped to 300 s
        },
        clock);
    BOOST_TEST(c.get("a.test", 2000ms)->dane == verdict::DaneField::pass);
    BOOST_TEST(calls == 1);
    clock->advance(299s);
    c.get("a.test", 2000ms);
    BOOST_TEST(calls == 1);
    clock->advance(2s);
    c.get("a.test", 2000ms);
    BOOST_TEST(calls == 2);
    BOOST_TEST(c.stats().hits == 1U);
}

BOOST_AUTO_TEST_CASE(ttl_clamped_to_max) {
    auto clock = std::make_shared<cache::ManualClock>();
    std::atomic<int> calls{0};
    cache::VerdictCache c(
        settings(), prefetch(2),
        [&](const std::string& d) {
            ++calls;
            return make(d, std::chrono::seconds(7 * 86400));
        },
        clock);
    c.get("a.test", 2000ms);
    clock->advance(86399s);
    c.get("a.test", 2000ms);
    BOOST_TEST(calls == 1);
    clock->advance(2s);
    c.get("a.test", 2000ms);
    BOOST_TEST(calls == 2);
}

BOOST_AUTO_TEST_CASE(errors_live_error_ttl) {
    auto clock = std::make_shared<cache::ManualClock>();
    std::atomic<int> calls{0};
    cache::VerdictCache c(
        settings(), prefetch(2),
        [&](const std::string& d) {
            ++calls;
            return make(d, 3600s, /*error=*/true);
        },
        clock);
    c.get("a.test", 2000ms);
    clock->advance(59s);
    c.get("a.test", 2000ms);
    BOOST_TEST(calls == 1);
    clock->advance(2s);
    c.get("a.test", 2000ms);
    BOOST_TEST(calls == 2);
}

BOOST_AUTO_TEST_CASE(concurrent_misses_share_one_lookup) {
    auto clock = std::make_shared<cache::ManualClock>();
    std::atomic<int> calls{0};
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    cache::VerdictCache c(
        settings(), prefetch(4),
        [&](const std::string& d) {
            ++calls;
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return release; });
            return make(d, 600s);
        },
        clock);
    std::vector<std::thread> threads;
    std::atomic<int> passed{0};
    for (int i = 0; i < 16; ++i) {
        threads.emplace_back([&] {
            if (c.get("shared.test", 10000ms)->dane == verdict::DaneField::pass) {
                ++passed;
            }
        });
    }
    // Wait (bounded) until every caller is either the lookup or joined it.
    for (int i = 0; i < 1000 && c.stats().joined + c.stats().misses < 16; ++i) {
        std::this_thread::sleep_for(1ms);
    }
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    for (auto& t : threads) {
        t.join();
    }
    BOOST_TEST(calls == 1);
    BOOST_TEST(passed == 16);
    BOOST_TEST(c.stats().misses == 1U);
    BOOST_TEST(c.stats().joined == 15U);
}

BOOST_AUTO_TEST_CASE(slow_lookup_gives_pending_then_fills_cache) {
    auto clock = std::make_shared<cache::ManualClock>();
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    std::atomic<bool> done{false};
    cache::VerdictCache c(
        settings(), prefetch(2),
        [&](const std::string& d) {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return release; });
            done = true;
            return make(d, 600s);
        },
        clock);
    auto v = c.get("slow.test", 50ms);
    BOOST_TEST(v->dane == verdict::DaneField::pending);
    BOOST_TEST(v->dnssec == verdict::DnssecField::pending);
    BOOST_TEST(c.stats().timeouts == 1U);
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    // The lookup went on in the background and fills the cache.
    for (int i = 0; i < 2000 && !c.peek("slow.test"); ++i) {
        std::this_thread::sleep_for(1ms);
    }
    BOOST_TEST(c.peek("slow.test") != nullptr);
    BOOST_TEST(c.get("slow.test", 50ms)->dane == verdict::DaneField::pass);
}

BOOST_AUTO_TEST_CASE(exception_in_lookup_is_an_error_verdict) {
    auto clock = std::make_shared<cache::ManualClock>();
    cache::VerdictCache c(
        settings(), prefetch(1),
        [&](const std::string&) -> verdict::DomainVerdict { throw std::runtime_error("boom"); },
        clock);
    auto v = c.get("x.test", 2000ms);
    BOOST_TEST(v->dane == verdict::DaneField::error);
    BOOST_TEST(v->is_error());
}

BOOST_AUTO_TEST_CASE(max_entries_bounds_the_cache) {
    auto clock = std::make_shared<cache::ManualClock>();
    auto s = settings();
    s.max_entries = 128;  // 2 per shard
    cache::VerdictCache c(
        s, prefetch(4), [&](const std::string& d) { return make(d, 600s); }, clock);
    for (int i = 0; i < 2000; ++i) {
        c.get("d" + std::to_string(i) + ".test", 2000ms);
    }
    BOOST_TEST(c.size() <= 128U + 64U);  // a shard may hold one in flight
    BOOST_TEST(c.stats().evictions > 0U);
}

// The shards' shares add up to max_entries whatever it is (not a multiple
// of the 64 shards, or fewer than 64): once every shard has seen more
// domains than its share, and nothing is in flight, the cache holds exactly
// max_entries, never more.
BOOST_AUTO_TEST_CASE(max_entries_is_exact) {
    for (const std::size_t max : {1000U, 100U, 10U, 1U}) {
        BOOST_TEST_CONTEXT("max_entries " << max) {
            auto clock = std::make_shared<cache::ManualClock>();
            auto s = settings();
            s.max_entries = max;
            cache::VerdictCache c(
                s, prefetch(4), [&](const std::string& d) { return make(d, 600s); }, clock);
            const std::size_t domains = max * 20 + 200;
            std::size_t most = 0;
            for (std::size_t i = 0; i < domains; ++i) {
                c.get("d" + std::to_string(i) + ".test", 2000ms);
                most = std::max(most, c.size());
            }
            BOOST_TEST(c.size() == max);
            BOOST_TEST(most <= max);
            BOOST_TEST(c.stats().evictions == domains - max);
        }
    }
}

namespace {

// Waits (bounded) until the lookups started so far have landed.
void settle(cache::VerdictCache& c) {
    for (int i = 0; i < 2000 && c.queued_lookups() > 0; ++i) {
        std::this_thread::sleep_for(1ms);
    }
    std::this_thread::sleep_for(20ms);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(verdict_cache_lifecycle)

BOOST_AUTO_TEST_CASE(lru_keeps_the_recently_used) {
    auto clock = std::make_shared<cache::ManualClock>();
    auto s = settings();
    s.max_entries = 128;  // two per shard
    std::atomic<int> calls{0};
    cache::VerdictCache c(
        s, prefetch(2),
        [&](const std::string& d) {
            ++calls;
            return make(d, 600s);
        },
        clock);
    for (int i = 0; i < 140; ++i) {
        c.get("d" + std::to_string(i) + ".test", 2000ms);
        clock->advance(2s);         // recency is kept at a one-second grain
        c.get("hot.test", 2000ms);  // used after every other domain
    }
    BOOST_TEST(c.size() <= 128U + 1U);
    BOOST_TEST(c.stats().evictions > 0U);
    BOOST_TEST(calls == 141);  // hot.test was looked up once: never evicted
}

BOOST_AUTO_TEST_CASE(failed_refresh_serves_stale_until_stale_ttl) {
    auto clock = std::make_shared<cache::ManualClock>();
    auto s = settings();
    s.stale_ttl = 3600s;
    std::atomic<bool> failing{false};
    std::atomic<int> calls{0};
    cache::VerdictCache c(
        s, prefetch(2),
        [&](const std::string& d) {
            ++calls;
            return make(d, 600s, failing);
        },
        clock);
    BOOST_TEST(!c.get("a.test", 2000ms)->stale);
    failing = true;  // e.g. the DNS server went away
    clock->advance(601s);
    auto v = c.get("a.test", 2000ms);
    BOOST_TEST(v->stale);
    BOOST_TEST(v->dane == verdict::DaneField::pass);
    BOOST_TEST(calls == 2);
    // Retried only after error_ttl; stale in between without a lookup.
    clock->advance(30s);
    BOOST_TEST(c.get("a.test", 2000ms)->stale);
    BOOST_TEST(calls == 2);
    clock->advance(31s);
    BOOST_TEST(c.get("a.test", 2000ms)->stale);
    BOOST_TEST(calls == 3);
    // Past expiry + stale_ttl the failure shows.
    clock->advance(3600s);
    v = c.get("a.test", 2000ms);
    BOOST_TEST(!v->stale);
    BOOST_TEST(v->dane == verdict::DaneField::error);
    BOOST_TEST(c.stats().stale >= 3U);
}

BOOST_AUTO_TEST_CASE(prefetch_refreshes_domains_in_use_only) {
    auto clock = std::make_shared<cache::ManualClock>();
    auto p = prefetch(4);
    p.refresh_ahead = 0.5;
    p.active_window = 3600s;
    std::atomic<int> calls{0};
    cache::VerdictCache c(
        settings(), p,
        [&](const std::string& d) {
            ++calls;
            return make(d, 1000s);
        },
        clock);
    c.get("busy.test", 2000ms);
    c.get("idle.test", 2000ms);
    BOOST_TEST(calls == 2);
    clock->advance(400s);  // before the (jittered) refresh point: 450..500 s
    BOOST_TEST(c.prefetch_once() == 0U);
    clock->advance(101s);
    BOOST_TEST(c.prefetch_once() == 2U);  // both were used within the window
    settle(c);
    BOOST_TEST(calls == 4);
    // busy keeps being used; idle is not used for over an hour.
    for (int i = 0; i < 8; ++i) {
        clock->advance(500s);
        c.get("busy.test", 2000ms);
        c.prefetch_once();
        settle(c);
    }
    // A domain in steady use never missed: every get was a hit.
    BOOST_TEST(c.stats().misses == 2U);
    const int after = calls;
    clock->advance(500s);
    c.prefetch_once();
    settle(c);
    BOOST_TEST(calls == after + 1);  // busy only
}

BOOST_AUTO_TEST_CASE(persistence_load_avoids_the_lookup_and_save_gets_results) {
    auto clock = std::make_shared<cache::ManualClock>();
    std::atomic<int> calls{0};
    std::mutex mu;
    std::vector<std::string> saved;
    cache::VerdictCache::Persistence store;
    store.load = [&](const std::string& d)
        -> std::optional<std::pair<verdict::DomainVerdict, std::chrono::system_clock::time_point>> {
        if (d != "shared.test") {
            return std::nullopt;
        }
        return std::make_pair(make(d, 600s), clock->wall() + 100s);
    };
    store.save = [&](const verdict::DomainVerdict& v, std::chrono::system_clock::time_point) {
        std::lock_guard lock(mu);
        saved.push_back(v.domain);
    };
    cache::VerdictCache c(
        settings(), prefetch(2),
        [&](const std::string& d) {
            ++calls;
            return make(d, 600s);
        },
        clock, store);
    BOOST_TEST(c.get("shared.test", 2000ms)->dane == verdict::DaneField::pass);
    BOOST_TEST(calls == 0);  // the fleet's verdict, no DNS
    BOOST_TEST(c.stats().store_hits == 1U);
    clock->advance(101s);  // the stored lifetime, not min_ttl, applies
    BOOST_TEST(c.peek("shared.test") == nullptr);
    c.get("own.test", 2000ms);
    BOOST_TEST(calls == 1);
    std::lock_guard lock(mu);
    BOOST_TEST(saved == std::vector<std::string>{"own.test"});
}

BOOST_AUTO_TEST_CASE(insert_and_warm) {
    auto clock = std::make_shared<cache::ManualClock>();
    std::atomic<int> calls{0};
    cache::VerdictCache c(
        settings(), prefetch(2),
        [&](const std::string& d) {
            ++calls;
            return make(d, 600s);
        },
        clock);
    c.insert(make("loaded.test", 600s), clock->wall() + 200s);
    c.insert(make("expired.test", 600s), clock->wall() - 1s);
    BOOST_TEST(c.peek("loaded.test") != nullptr);
    BOOST_TEST(c.peek("expired.test") == nullptr);
    c.warm({"w1.test", "w2.test"});
    settle(c);
    BOOST_TEST(calls == 2);
    BOOST_TEST(c.peek("w1.test") != nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
