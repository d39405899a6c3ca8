// The verdict cache: TTL clamps, error_ttl, single flight, RCPT timeout.
// Uses a ManualClock; no sleeping to age entries.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

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

// Waits (bounded) until the lookups started so far have landed.
void settle(cache::VerdictCache& c) {
    for (int i = 0; i < 2000 && c.queued_lookups() > 0; ++i) {
        std::this_thread::sleep_for(1ms);
    }
    std::this_thread::sleep_for(20ms);
}

// What the lookup answers for `domain` on its `call`th call (from 1).
using Answer = std::function<verdict::DomainVerdict(const std::string& domain, int call)>;

// The usual answer: a good verdict living `ttl`, whatever the call.
Answer good(std::chrono::seconds ttl) {
    return [ttl](const std::string& d, int) { return make(d, ttl); };
}

// A cache on a ManualClock whose lookup counts its calls: most tests need
// no more than that, and say only what differs.
struct Counted {
    explicit Counted(
        Answer a, const config::CacheSettings& s = settings(),
        const config::PrefetchSettings& p = prefetch(2),
        cache::VerdictCache::Persistence store = {},
        std::shared_ptr<util::ManualClock> manual = std::make_shared<util::ManualClock>())
        : clock(std::move(manual)),
          answer(std::move(a)),
          c(
              s, p, [this](const std::string& d) { return answer(d, ++calls); }, clock,
              std::move(store)) {}
    std::shared_ptr<util::ManualClock> clock;
    std::atomic<int> calls{0};
    Answer answer;
    cache::VerdictCache c;
};

// a.test is looked up once, is a hit until just before `lives` is over,
// and looked up again (behind a stale answer) just after.
void expect_lives(Counted& f, std::chrono::seconds lives, verdict::DaneField first) {
    BOOST_TEST(f.c.get("a.test", 2000ms)->dane == first);
    BOOST_TEST(f.calls == 1);
    f.clock->advance(lives - 1s);
    f.c.get("a.test", 2000ms);
    BOOST_TEST(f.calls == 1);
    f.clock->advance(2s);
    f.c.get("a.test", 2000ms);  // expired: answers stale, refreshes behind
    settle(f.c);
    BOOST_TEST(f.calls == 2);
}

}  // namespace

BOOST_AUTO_TEST_CASE(hit_until_clamped_ttl_then_refetch) {
    Counted f(good(10s));  // below min_ttl: clamped to 300 s
    expect_lives(f, 300s, verdict::DaneField::pass);
    BOOST_TEST(f.c.stats().hits == 1U);
}

BOOST_AUTO_TEST_CASE(ttl_clamped_to_max) {
    Counted f(good(std::chrono::seconds(7 * 86400)));
    expect_lives(f, 86400s, verdict::DaneField::pass);
}

BOOST_AUTO_TEST_CASE(errors_live_error_ttl) {
    Counted f([](const std::string& d, int) { return make(d, 3600s, /*error=*/true); });
    expect_lives(f, 60s, verdict::DaneField::error);
}

BOOST_AUTO_TEST_CASE(concurrent_misses_share_one_lookup) {
    auto clock = std::make_shared<util::ManualClock>();
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
    auto clock = std::make_shared<util::ManualClock>();
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
    auto clock = std::make_shared<util::ManualClock>();
    cache::VerdictCache c(
        settings(), prefetch(1),
        [&](const std::string&) -> verdict::DomainVerdict { throw std::runtime_error("boom"); },
        clock);
    auto v = c.get("x.test", 2000ms);
    BOOST_TEST(v->dane == verdict::DaneField::error);
    BOOST_TEST(v->is_error());
}

BOOST_AUTO_TEST_CASE(max_entries_bounds_the_cache) {
    auto clock = std::make_shared<util::ManualClock>();
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
            auto clock = std::make_shared<util::ManualClock>();
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

BOOST_AUTO_TEST_SUITE(verdict_cache_lifecycle)

BOOST_AUTO_TEST_CASE(lru_keeps_the_recently_used) {
    auto s = settings();
    s.max_entries = 128;  // two per shard
    Counted f(good(600s), s);
    for (int i = 0; i < 140; ++i) {
        f.c.get("d" + std::to_string(i) + ".test", 2000ms);
        f.clock->advance(2s);         // recency is kept at a one-second grain
        f.c.get("hot.test", 2000ms);  // used after every other domain
    }
    BOOST_TEST(f.c.size() <= 128U + 1U);
    BOOST_TEST(f.c.stats().evictions > 0U);
    BOOST_TEST(f.calls == 141);  // hot.test was looked up once: never evicted
}

BOOST_AUTO_TEST_CASE(failed_refresh_serves_stale_until_stale_ttl) {
    auto s = settings();
    s.stale_ttl = 3600s;
    std::atomic<bool> failing{false};
    Counted f([&](const std::string& d, int) { return make(d, 600s, failing); }, s);
    auto& c = f.c;
    auto& clock = f.clock;
    auto& calls = f.calls;
    BOOST_TEST(!c.get("a.test", 2000ms)->stale);
    failing = true;  // e.g. the DNS server went away
    clock->advance(601s);
    auto v = c.get("a.test", 2000ms);
    BOOST_TEST(v->stale);
    BOOST_TEST(v->dane == verdict::DaneField::pass);
    settle(c);  // the refresh this get started (it did not wait for it)
    BOOST_TEST(calls == 2);
    // Retried only after error_ttl; stale in between without a lookup.
    clock->advance(30s);
    BOOST_TEST(c.get("a.test", 2000ms)->stale);
    BOOST_TEST(calls == 2);
    clock->advance(31s);
    BOOST_TEST(c.get("a.test", 2000ms)->stale);
    settle(c);
    BOOST_TEST(calls == 3);
    // Past expiry + stale_ttl the failure shows.
    clock->advance(3600s);
    v = c.get("a.test", 2000ms);
    BOOST_TEST(!v->stale);
    BOOST_TEST(v->dane == verdict::DaneField::error);
    BOOST_TEST(c.stats().stale >= 3U);
}

BOOST_AUTO_TEST_CASE(prefetch_refreshes_domains_in_use_only) {
    auto p = prefetch(4);
    p.refresh_ahead = 0.5;
    p.active_window = 3600s;
    Counted f(good(1000s), settings(), p);
    auto& c = f.c;
    auto& clock = f.clock;
    auto& calls = f.calls;
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
    auto clock = std::make_shared<util::ManualClock>();
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
    Counted f(good(600s), settings(), prefetch(2), store, clock);
    auto& c = f.c;
    auto& calls = f.calls;
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
    Counted f(good(600s));
    f.c.insert(make("loaded.test", 600s), f.clock->wall() + 200s);
    f.c.insert(make("expired.test", 600s), f.clock->wall() - 1s);
    BOOST_TEST(f.c.peek("loaded.test") != nullptr);
    BOOST_TEST(f.c.peek("expired.test") == nullptr);
    f.c.warm({"w1.test", "w2.test"});
    settle(f.c);
    BOOST_TEST(f.calls == 2);
    BOOST_TEST(f.c.peek("w1.test") != nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

// SPEC §6: every verdict is stored, errors included (with error_ttl), so a
// restart or a fleet member answers as this milter does; the store holds
// what the cache serves.
BOOST_AUTO_TEST_SUITE(verdict_cache_durable_errors)

namespace {

struct Saved {
    verdict::DomainVerdict verdict;
    std::chrono::system_clock::time_point expires;
};

// A Persistence that records every save (and loads nothing).
struct RecordingStore {
    std::mutex mu;
    std::vector<Saved> saved;
    cache::VerdictCache::Persistence persistence() {
        cache::VerdictCache::Persistence p;
        p.save = [this](const verdict::DomainVerdict& v, std::chrono::system_clock::time_point e) {
            std::lock_guard lock(mu);
            saved.push_back({v, e});
        };
        return p;
    }
    std::vector<Saved> get() {
        std::lock_guard lock(mu);
        return saved;
    }
};

// A DNSSEC error (make's `error`) that is bogus, with its reason.
verdict::DomainVerdict bogus(const std::string& d) {
    auto v = make(d, 3600s, /*error=*/true);
    v.dnssec = verdict::DnssecField::bogus;
    v.dane_why = "the MX RRset of " + d + " failed DNSSEC validation";
    return v;
}

// Secure DNS without TLSA, and the MTA-STS policy fetch failed.
verdict::DomainVerdict sts_error(const std::string& d) {
    auto v = make(d, 3600s);
    v.dane = verdict::DaneField::none;
    v.sts = verdict::StsField::error;
    v.sts_why = "HTTP 404 fetching the MTA-STS policy";
    return v;
}

}  // namespace

// Each kind of error verdict (bogus, SERVFAIL/timeout `error`, STS `error`)
// goes to the store with the end of its error_ttl, not its DNS TTL.
BOOST_AUTO_TEST_CASE(error_verdicts_are_stored_with_error_ttl) {
    auto clock = std::make_shared<util::ManualClock>();
    RecordingStore store;
    cache::VerdictCache c(
        settings(), prefetch(2),
        [&](const std::string& d) {
            if (d == "bogus.test") {
                return bogus(d);
            }
            if (d == "sts-error.test") {
                return sts_error(d);
            }
            if (d == "servfail.test") {
                return make(d, 3600s, /*error=*/true);
            }
            return make(d, 3600s);
        },
        clock, store.persistence());
    for (const std::string d : {"bogus.test", "servfail.test", "sts-error.test", "good.test"}) {
        c.get(d, 2000ms);
    }
    const auto saved = store.get();
    BOOST_TEST_REQUIRE(saved.size() == 4U);
    std::map<std::string, Saved> by_domain;
    for (const auto& s : saved) {
        by_domain[s.verdict.domain] = s;
    }
    for (const std::string d : {"bogus.test", "servfail.test", "sts-error.test"}) {
        BOOST_TEST_CONTEXT(d) {
            BOOST_TEST_REQUIRE(by_domain.count(d) == 1U);
            BOOST_TEST(by_domain[d].verdict.is_error());
            BOOST_TEST((by_domain[d].expires == clock->wall() + 60s));  // error_ttl
        }
    }
    BOOST_TEST(by_domain["bogus.test"].verdict.dnssec == verdict::DnssecField::bogus);
    BOOST_TEST(by_domain["sts-error.test"].verdict.sts == verdict::StsField::error);
    BOOST_TEST(by_domain["sts-error.test"].verdict.sts_why == sts_error("x").sts_why);
    BOOST_TEST((by_domain["good.test"].expires == clock->wall() + 3600s));
}

// A good verdict whose refresh fails serves stale, and its stored copy stays
// the good one: a restart in that time finds what the cache was serving.
// Once stale_ttl is over the error is what the cache serves, and is stored.
BOOST_AUTO_TEST_CASE(failed_refresh_keeps_the_good_verdict_in_the_store) {
    auto clock = std::make_shared<util::ManualClock>();
    auto s = settings();
    s.stale_ttl = 3600s;
    RecordingStore store;
    std::atomic<bool> failing{false};
    cache::VerdictCache c(
        s, prefetch(2), [&](const std::string& d) { return make(d, 600s, failing); }, clock,
        store.persistence());
    c.get("a.test", 2000ms);
    BOOST_TEST(store.get().size() == 1U);
    failing = true;
    // A prefetch refresh before expiry fails: not stored.
    clock->advance(590s);
    BOOST_TEST(c.prefetch_once() == 1U);
    settle(c);
    BOOST_TEST(store.get().size() == 1U);
    // Past expiry, the retry (after error_ttl) fails again: served stale, not stored.
    clock->advance(61s);
    BOOST_TEST(c.get("a.test", 2000ms)->stale);
    settle(c);
    BOOST_TEST(store.get().size() == 1U);
    BOOST_TEST(!store.get().back().verdict.is_error());
    // Past expiry + stale_ttl: the error decides, and is stored.
    clock->advance(3600s);
    const auto v = c.get("a.test", 2000ms);
    BOOST_TEST(v->is_error());
    BOOST_TEST(!v->stale);
    const auto saved = store.get();
    BOOST_TEST_REQUIRE(saved.size() == 2U);
    BOOST_TEST(saved.back().verdict.is_error());
    BOOST_TEST((saved.back().expires == clock->wall() + 60s));
}

// What a fleet member stored, an error included, serves until its stored
// expiry without a lookup, even though DNS would now say otherwise; so does
// an error verdict loaded at start (insert).
BOOST_AUTO_TEST_CASE(stored_error_verdict_serves_until_its_expiry) {
    auto clock = std::make_shared<util::ManualClock>();
    cache::VerdictCache::Persistence store;
    store.load = [&](const std::string& d)
        -> std::optional<std::pair<verdict::DomainVerdict, std::chrono::system_clock::time_point>> {
        if (d != "bogus.test") {
            return std::nullopt;
        }
        return std::make_pair(bogus(d), clock->wall() + 40s);
    };
    Counted f(good(600s), settings(), prefetch(2), store, clock);  // DNS has "recovered"
    auto& c = f.c;
    auto& calls = f.calls;
    c.insert(sts_error("sts-error.test"), clock->wall() + 30s);
    BOOST_TEST(c.get("bogus.test", 2000ms)->dnssec == verdict::DnssecField::bogus);
    BOOST_TEST(c.get("sts-error.test", 2000ms)->sts == verdict::StsField::error);
    clock->advance(29s);
    BOOST_TEST(c.get("bogus.test", 2000ms)->dnssec == verdict::DnssecField::bogus);
    BOOST_TEST(c.get("sts-error.test", 2000ms)->sts == verdict::StsField::error);
    BOOST_TEST(calls == 0);
    clock->advance(2s);  // sts-error.test's stored lifetime is over
    BOOST_TEST(c.get("sts-error.test", 2000ms)->sts == verdict::StsField::skipped);
    BOOST_TEST(calls == 1);
    clock->advance(10s);  // bogus.test's too
    BOOST_TEST(c.peek("bogus.test") == nullptr);
}

// SPEC §8 SIGTERM: stop() comes before the resolver's shutdown, which answers
// the lookups in flight with errors of its own making. The lookup running
// then finishes and keeps nothing (neither in the cache nor in the store),
// and no lookup starts afterwards: a miss answers `pending` at once.
BOOST_AUTO_TEST_CASE(stop_keeps_nothing_a_lookup_finishes_afterwards) {
    auto clock = std::make_shared<util::ManualClock>();
    RecordingStore store;
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    std::atomic<int> calls{0};
    cache::VerdictCache c(
        settings(), prefetch(2),
        [&](const std::string& d) {
            ++calls;
            if (d == "slow.test") {
                std::unique_lock lock(mu);
                cv.wait(lock, [&] { return release; });
                return make(d, 3600s, /*error=*/true);  // "resolver shut down"
            }
            return make(d, 3600s);
        },
        clock, store.persistence());
    BOOST_TEST(c.get("good.test", 2000ms)->dane == verdict::DaneField::pass);
    BOOST_TEST(c.get("slow.test", 20ms)->dane == verdict::DaneField::pending);
    BOOST_TEST_REQUIRE(calls == 2);

    c.stop();
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    // The lookup ends without an entry: slow.test had no verdict before.
    for (int i = 0; i < 2000 && c.inspect("slow.test"); ++i) {
        std::this_thread::sleep_for(1ms);
    }
    BOOST_TEST(!c.inspect("slow.test").has_value());
    BOOST_TEST(c.peek("slow.test") == nullptr);
    const auto saved = store.get();
    BOOST_TEST_REQUIRE(saved.size() == 1U);  // good.test's, from before stop()
    BOOST_TEST(saved[0].verdict.domain == "good.test");

    // What the cache held keeps answering; a miss starts nothing.
    BOOST_TEST(c.get("good.test", 2000ms)->dane == verdict::DaneField::pass);
    const auto start = std::chrono::steady_clock::now();
    BOOST_TEST(c.get("new.test", 2000ms)->dane == verdict::DaneField::pending);
    BOOST_TEST((std::chrono::steady_clock::now() - start < 1000ms));
    clock->advance(3000s);  // good.test is due for its refresh (0.8 x 3600 s)
    BOOST_TEST(c.prefetch_once() == 0U);
    BOOST_TEST(calls == 2);
    c.stop();  // idempotent, and the destructor calls it again
}

BOOST_AUTO_TEST_SUITE_END()

// SPEC §6: RCPT never waits on a refresh in flight; the prefetcher starts
// refreshes early enough for slow name servers.
BOOST_AUTO_TEST_SUITE(verdict_cache_no_wait)

// The expired entry's refresh is started by this very get: the old verdict
// answers, flagged stale, without waiting for the lookup (which here would
// have answered at once, with a different verdict).
BOOST_AUTO_TEST_CASE(expired_entry_answers_at_once_while_its_refresh_runs) {
    Counted f([](const std::string& d, int call) {
        auto v = make(d, 600s);
        if (call > 1) {
            v.dane = verdict::DaneField::unusable;  // what the refresh finds
        }
        return v;
    });
    auto& c = f.c;
    auto& clock = f.clock;
    auto& calls = f.calls;
    BOOST_TEST(c.get("a.test", 2000ms)->dane == verdict::DaneField::pass);
    clock->advance(601s);
    auto v = c.get("a.test", 10000ms);
    BOOST_TEST(v->stale);
    BOOST_TEST(v->dane == verdict::DaneField::pass);
    settle(c);
    BOOST_TEST(calls == 2);
    v = c.get("a.test", 10000ms);  // the refresh has landed
    BOOST_TEST(!v->stale);
    BOOST_TEST(v->dane == verdict::DaneField::unusable);
    BOOST_TEST(c.stats().joined == 0U);
    BOOST_TEST(c.stats().timeouts == 0U);
}

// The refresh was started earlier (by the prefetcher) and is still running
// when the entry expires: a get answers stale at once instead of joining it.
BOOST_AUTO_TEST_CASE(expired_entry_does_not_join_a_refresh_in_flight) {
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    Counted f([&](const std::string& d, int call) {
        auto v = make(d, 600s);
        if (call > 1) {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return release; });
            v.dane = verdict::DaneField::unusable;
        }
        return v;
    });
    auto& c = f.c;
    auto& clock = f.clock;
    c.get("a.test", 2000ms);
    clock->advance(595s);
    BOOST_TEST(c.prefetch_once() == 1U);  // the refresh hangs on a slow server
    clock->advance(10s);                  // past expiry
    // get() on another thread: if it waited on the refresh, it would return
    // once the refresh is released below, with the refreshed verdict.
    auto answer = std::async(std::launch::async, [&] { return c.get("a.test", 30000ms); });
    const bool at_once = answer.wait_for(5s) == std::future_status::ready;
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    const auto v = answer.get();
    BOOST_TEST(at_once);
    BOOST_TEST(v->stale);
    BOOST_TEST(v->dane == verdict::DaneField::pass);
    BOOST_TEST(c.stats().joined == 0U);
    BOOST_TEST(c.stats().stale == 1U);
}

// An expired error verdict is never served stale: its refresh is waited for
// (up to the timeout) as a miss is.
BOOST_AUTO_TEST_CASE(expired_error_verdict_waits_for_its_refresh) {
    Counted f([](const std::string& d, int call) { return make(d, 600s, /*error=*/call == 1); });
    BOOST_TEST(f.c.get("a.test", 2000ms)->is_error());
    f.clock->advance(61s);
    const auto v = f.c.get("a.test", 10000ms);
    BOOST_TEST(!v->is_error());
    BOOST_TEST(!v->stale);
}

namespace {

// A name server as slow as the test says, in ManualClock time: a lookup
// started at T returns only once the test has advanced the clock to
// T + took. The test thread advances the clock, then waits (bounded, real
// time) until every lookup due by then has landed in the cache.
class SlowDns {
  public:
    SlowDns(std::shared_ptr<util::ManualClock> clock, std::chrono::milliseconds took,
            std::chrono::seconds ttl)
        : clock_(std::move(clock)), took_(took), ttl_(ttl) {}

    verdict::DomainVerdict lookup(const std::string& d) {
        std::unique_lock lock(mu_);
        const auto until = clock_->now() + took_;
        ends_.push_back(until);
        cv_.notify_all();
        cv_.wait(lock, [&] { return clock_->now() >= until; });
        return make(d, ttl_);
    }
    // Persistence::save, called once a lookup's verdict is in the cache.
    void landed() {
        std::lock_guard lock(mu_);
        ++landed_;
        cv_.notify_all();
    }
    // Advances the clock by `d`; returns once the lookups due have landed.
    void advance(std::chrono::milliseconds d) {
        std::unique_lock lock(mu_);
        clock_->advance(d);
        cv_.notify_all();
        const auto now = clock_->now();
        cv_.wait_for(lock, 5s, [&] {
            return landed_ == static_cast<std::size_t>(std::count_if(
                                  ends_.begin(), ends_.end(), [&](auto e) { return e <= now; }));
        });
    }
    // Returns once `n` lookups in all have started (they run on workers).
    void wait_started(std::size_t n) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, 5s, [&] { return ends_.size() >= n; });
    }

  private:
    std::shared_ptr<util::ManualClock> clock_;
    std::chrono::milliseconds took_;
    std::chrono::seconds ttl_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<util::Clock::time_point> ends_;
    std::size_t landed_ = 0;
};

// A cache (min_ttl 1 s) on a SlowDns of `took` per lookup answering `ttl`.
struct OnSlowDns {
    OnSlowDns(std::chrono::seconds ttl, std::chrono::milliseconds took, unsigned workers)
        : dns(clock, took, ttl),
          c(
              short_lived(), prefetch(workers),
              [this](const std::string& d) { return dns.lookup(d); }, clock, landing()) {}
    // The first RCPT misses; its lookup lands `took` later and tells the
    // cache how slow this server is. What that RCPT got.
    auto first_lookup_lands(std::chrono::milliseconds took) {
        auto first = c.get("slow.test", 0ms);
        dns.wait_started(1);
        dns.advance(took);
        BOOST_TEST_REQUIRE(c.peek("slow.test") != nullptr);
        return first;
    }
    std::shared_ptr<util::ManualClock> clock = std::make_shared<util::ManualClock>();
    SlowDns dns;
    cache::VerdictCache c;

  private:
    static config::CacheSettings short_lived() {
        auto s = settings();
        s.min_ttl = 1s;
        return s;
    }
    cache::VerdictCache::Persistence landing() {
        cache::VerdictCache::Persistence p;
        p.save = [this](const verdict::DomainVerdict&, std::chrono::system_clock::time_point) {
            dns.landed();
        };
        return p;
    }
};

}  // namespace

// Steady use on a slow name server, row by row: a domain asked every 0.3 s
// for 12 s, with the prefetcher running every second. No get ever waits
// (joins a lookup or times out) or answers `pending`; where the lookup takes
// less than the lifetime, every get is a fresh hit (the prefetcher started
// the refresh early enough), otherwise the old verdict serves stale.
BOOST_AUTO_TEST_CASE(steady_use_on_a_slow_name_server_never_waits) {
    struct Row {
        std::chrono::seconds ttl;
        std::chrono::milliseconds took;
        bool always_fresh;
    };
    const Row rows[] = {
        {10s, 4000ms, true},  // refresh_ahead (8 s) + 4 s would land after expiry
        {5s, 1800ms, true},   // the same, 4 s + 1.8 s
        {2s, 1500ms, false},  // the case: 2 s TTL, 1.5 s late
        {2s, 3000ms, false},  // lookups slower than the lifetime
    };
    for (const auto& row : rows) {
        BOOST_TEST_CONTEXT("ttl " << row.ttl.count() << " s, lookups take " << row.took.count()
                                  << " ms") {
            OnSlowDns f(row.ttl, row.took, 4);
            auto& c = f.c;
            auto& dns = f.dns;
            // Warm-up: the first RCPT answers pending.
            BOOST_TEST(f.first_lookup_lands(row.took)->dane == verdict::DaneField::pending);
            const auto before = c.stats();
            int gets = 0;
            int waited = 0;
            int pending = 0;
            int not_fresh = 0;
            // 100 ms ticks; prefetcher every 10, a get every 3: 12 s.
            for (int tick = 1; tick <= 120; ++tick) {
                dns.advance(100ms);
                if (tick % 10 == 0) {
                    c.prefetch_once();
                    const auto st = c.stats();
                    dns.wait_started(st.misses + st.prefetches);
                }
                if (tick % 3 == 0) {
                    const auto was = c.stats();
                    const auto v = c.get("slow.test", 1000ms);
                    const auto is = c.stats();
                    ++gets;
                    waited += is.joined != was.joined || is.timeouts != was.timeouts ? 1 : 0;
                    pending += v->dane == verdict::DaneField::pending ? 1 : 0;
                    not_fresh += is.hits == was.hits ? 1 : 0;
                    dns.wait_started(is.misses + is.prefetches);
                }
            }
            const auto after = c.stats();
            BOOST_TEST(gets == 40);
            BOOST_TEST(waited == 0);
            BOOST_TEST(pending == 0);
            BOOST_TEST(after.joined == before.joined);
            BOOST_TEST(after.timeouts == before.timeouts);
            if (row.always_fresh) {
                BOOST_TEST(not_fresh == 0);
                BOOST_TEST(after.stale == before.stale);
            } else {
                // Not fresh means served stale, never anything else.
                BOOST_TEST(after.stale - before.stale == static_cast<std::uint64_t>(not_fresh));
            }
            BOOST_TEST(after.prefetches - before.prefetches > 0U);  // it was refreshed
            dns.advance(row.took);  // the lookup still running ends before teardown
        }
    }
}

// The prefetcher's refresh point, row by row: refresh_ahead of the lifetime
// (jittered down by up to 10%), or earlier when the last lookup was slow:
// at the latest 2 x its duration + 1 s (one prefetch period) before expiry,
// and never before the verdict landed.
BOOST_AUTO_TEST_CASE(refresh_point_accounts_for_the_last_lookup) {
    struct Row {
        std::chrono::seconds ttl;
        std::chrono::milliseconds took;
        std::chrono::milliseconds earliest;  // after landing: no refresh before
        std::chrono::milliseconds latest;    // ...a refresh by then
    };
    const Row rows[] = {
        {300s, 0ms, 216000ms, 240000ms},      // 0.8 x 300 s, jittered
        {300s, 10000ms, 216000ms, 240000ms},  // 300 - 2 x 10 - 1 = 279 s: later
        {300s, 100000ms, 99000ms, 99000ms},   // 300 - 2 x 100 - 1 = 99 s
        {300s, 149000ms, 1000ms, 1000ms},     // 300 - 298 - 1 = 1 s
        {300s, 400000ms, 0ms, 0ms},           // slower than the lifetime: at once
        {2s, 1500ms, 0ms, 0ms},               // 2 - 3 - 1 < 0: at once
    };
    for (const auto& row : rows) {
        BOOST_TEST_CONTEXT("ttl " << row.ttl.count() << " s, lookup took " << row.took.count()
                                  << " ms") {
            OnSlowDns f(row.ttl, row.took, 2);
            f.first_lookup_lands(row.took);  // landed now
            if (row.earliest > 0ms) {
                f.clock->advance(row.earliest - 1ms);
                BOOST_TEST(f.c.prefetch_once() == 0U);
                f.clock->advance(row.latest - row.earliest + 1ms);
            }
            BOOST_TEST(f.c.prefetch_once() == 1U);
            f.dns.wait_started(2);
            f.clock->advance(row.took);  // let the refresh finish before teardown
            f.dns.advance(0ms);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
