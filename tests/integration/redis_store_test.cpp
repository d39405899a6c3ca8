// core/cache/redis_store against a real redis-server (tests/testbed/redis:
// NET.50.1:16379 (testbed_net.hpp), files in $DSM_TESTBED_DIR/redis, started by the ctest
// fixture or by hand). The server's view is checked with redis-cli, as an
// operator would. The tests stop, hang (SIGSTOP) and restart that server by
// the pid in its pid file, and leave it running.
#include <boost/test/unit_test.hpp>

#include <sys/types.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/cache/redis_store.hpp"
#include "core/report/count_key.hpp"
#include "core/util/clock.hpp"
#include "tests/support/stored_verdicts.hpp"
#include "tests/support/testbed_net.hpp"

using namespace dsm;
using namespace std::chrono_literals;
using cache::RedisStore;
using cache::RedisTarget;
using cache::StoredVerdict;
using namespace dsm::test;  // stored_verdicts.hpp

namespace {

constexpr std::uint16_t kRedisPort = 16379;

std::string redis_address() {
    return testbed_addr("50.1");
}

// "redis://NET.50.1:16379/5": the store spec of database `db`.
std::string redis_spec(int db) {
    return "redis://" + redis_address() + ":" + std::to_string(kRedisPort) + "/" +
           std::to_string(db);
}
constexpr unsigned kDb = 5;  // not 0: proves the SELECT

std::string redis_dir() {
    const char* dir = std::getenv("DSM_TESTBED_DIR");
    BOOST_TEST_REQUIRE(dir != nullptr, "DSM_TESTBED_DIR is not set");
    return std::string(dir) + "/redis";
}

std::string script(const std::string& name) {
    return std::string(DSM_SOURCE_DIR) + "/tests/testbed/redis/" + name;
}

// redis-cli's raw answer, last line end removed.
std::string cli(const std::string& args, unsigned db = kDb) {
    const std::string cmd = "redis-cli --raw -h " + redis_address() + " -p " +
                            std::to_string(kRedisPort) + " -n " + std::to_string(db) + " " + args +
                            " 2>&1";
    std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
    BOOST_TEST_REQUIRE(p != nullptr);
    std::string out;
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p.get())) > 0) {
        out.append(buf.data(), n);
    }
    if (!out.empty() && out.back() == '\n') {
        out.pop_back();
    }
    return out;
}

void start_redis() {
    const std::string cmd =
        script("start.sh") + " " + redis_dir() + " " + std::to_string(kRedisPort) + " net";
    BOOST_TEST_REQUIRE(std::system(cmd.c_str()) == 0, cmd);
}

void stop_redis() {
    const std::string cmd = script("stop.sh") + " " + redis_dir();
    BOOST_TEST_REQUIRE(std::system(cmd.c_str()) == 0, cmd);
}

pid_t redis_pid() {
    std::ifstream in(redis_dir() + "/redis.pid");
    long pid = 0;
    in >> pid;
    BOOST_TEST_REQUIRE(pid > 0, "no pid in " << redis_dir() << "/redis.pid");
    return static_cast<pid_t>(pid);
}

// Every test starts from a running, empty server (a failed test may have
// left it stopped or hung).
struct RedisUp {
    RedisUp() {
        if (cli("ping") != "PONG") {
            start_redis();
        }
        BOOST_TEST_REQUIRE(cli("FLUSHDB") == "OK");
    }
};

RedisTarget target() {
    return RedisTarget{redis_address(), kRedisPort, kDb};
}

// Lifetimes count from `clock`'s wall time: the store's notion of now.
StoredVerdict make(const std::string& domain, std::chrono::seconds lifetime,
                   const util::Clock& clock = util::SystemClock()) {
    auto s = good_verdict(domain, clock.wall(), lifetime);
    s.verdict.sts = verdict::StsField::enforce;
    s.verdict.sts_why = "policy\nid 1";
    return s;
}

template <typename F>
std::chrono::milliseconds timed(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t0);
}

// SIGSTOP for the scope: a server that accepts connections and never answers.
class Hung {
  public:
    explicit Hung(pid_t pid) : pid_(pid) { BOOST_TEST_REQUIRE(kill(pid_, SIGSTOP) == 0); }
    ~Hung() { kill(pid_, SIGCONT); }
    Hung(const Hung&) = delete;
    Hung& operator=(const Hung&) = delete;

  private:
    pid_t pid_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(redis_store)

// SPEC §11: two milters of a fleet add their counts to one hash per day,
// which expires ([report] days + 1) days after its last write.
BOOST_FIXTURE_TEST_CASE(counts_of_a_fleet_add_up, RedisUp) {
    RedisStore one(target());
    RedisStore two(target());
    using report::Outcome;
    BOOST_TEST(one.add_counts(
        {count_row("2026-12-03", "a.test", 2),
         count_row("2026-12-04", "b.test", 1, Outcome::would_defer, "dnssec-invalid")},
        30));
    BOOST_TEST(two.add_counts(
        {count_row("2026-12-04", "b.test", 4, Outcome::would_defer, "dnssec-invalid"),
         count_row("2026-12-04", "a.test", 1)},
        30));
    BOOST_TEST(cli("HGET dane-sts-milter:v1:counts:2026-12-04 "
                   "'partners|b.test|configured|would-defer|dnssec-invalid'") == "5");
    BOOST_TEST(
        cli("HGET dane-sts-milter:v1:counts:2026-12-03 'partners|a.test|configured|accepted|'") ==
        "2");
    const long ttl = std::stol(cli("TTL dane-sts-milter:v1:counts:2026-12-04"));
    BOOST_TEST(ttl > 31 * 86400 - 60);
    BOOST_TEST(ttl <= 31 * 86400);
    auto rows = one.read_counts("2026-12-03", "2026-12-04");
    BOOST_TEST_REQUIRE(rows.has_value());
    std::sort(rows->begin(), rows->end(), [](const report::CountRow& a, const report::CountRow& b) {
        return std::tie(a.key.day, a.key.domain) < std::tie(b.key.day, b.key.domain);
    });
    BOOST_TEST(
        *rows == (std::vector<report::CountRow>{
                     count_row("2026-12-03", "a.test", 2), count_row("2026-12-04", "a.test", 1),
                     count_row("2026-12-04", "b.test", 5, Outcome::would_defer, "dnssec-invalid")}),
        boost::test_tools::per_element());
    BOOST_TEST(two.read_counts("2026-12-04", "2026-12-04")->size() == 2u);
    BOOST_TEST(two.read_counts("2026-12-05", "2026-12-31")->empty());
    // A field this version cannot read is skipped.
    cli("HSET dane-sts-milter:v1:counts:2026-12-05 'partners|x.test|sideways|accepted|' 1");
    BOOST_TEST(two.read_counts("2026-12-05", "2026-12-05")->empty());
}

// A dead server: add_counts says so (the flusher keeps the counts) and
// read_counts answers nothing.
BOOST_FIXTURE_TEST_CASE(counts_fail_cleanly_without_a_server, RedisUp) {
    stop_redis();
    RedisStore store(target());
    BOOST_TEST(!store.add_counts({count_row("2026-12-04", "a.test", 1)}, 30));
    BOOST_TEST(!store.read_counts("2026-12-04", "2026-12-04").has_value());
    start_redis();
}

BOOST_FIXTURE_TEST_CASE(put_then_get_from_a_second_store, RedisUp) {
    RedisStore writer(target());
    RedisStore reader(target());  // another milter of the fleet
    BOOST_TEST(writer.healthy());
    BOOST_TEST(writer.name() == redis_spec(5));
    BOOST_TEST(!reader.get("a.test").has_value());

    const auto a = make("a.test", 3600s);
    writer.put({a, make("b.test", 600s)});
    const auto got = reader.get("a.test");
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->verdict.dane == verdict::DaneField::pass);
    BOOST_TEST(got->verdict.sts_why == "policy\nid 1");
    BOOST_TEST((got->expires == a.expires));
    BOOST_TEST(reader.get("b.test").has_value());
    BOOST_TEST(reader.load(100).empty());  // read lazily, never scanned
    BOOST_TEST(writer.errors() == 0U);
    BOOST_TEST(reader.errors() == 0U);
}

// SPEC §6: error verdicts are shared with the fleet like any other: a second
// milter gets them, whole, until their error_ttl ends (the key's TTL).
BOOST_FIXTURE_TEST_CASE(error_verdicts_shared_until_error_ttl, RedisUp) {
    RedisStore writer(target());
    RedisStore reader(target());
    const auto errors = error_verdicts(std::chrono::system_clock::now());
    writer.put(errors);
    for (const auto& e : errors) {
        const auto got = reader.get(e.verdict.domain);
        BOOST_TEST_REQUIRE(got.has_value(), e.verdict.domain);
        check_same_error(*got, e);
        const long ttl = std::stol(cli("TTL dane-sts-milter:v1:verdict:" + e.verdict.domain));
        BOOST_TEST(ttl <= 60);
        BOOST_TEST(ttl >= 50);
    }
}

// RFC 8461 §3.3, §5.1: a policy one milter fetched applies on every milter
// of the fleet until its max_age ends (the key's TTL).
BOOST_FIXTURE_TEST_CASE(policies_shared_until_they_expire, RedisUp) {
    RedisStore writer(target());
    RedisStore reader(target());
    BOOST_TEST(!reader.get_policy("a.test").has_value());
    const auto wall = std::chrono::system_clock::now();
    writer.put_policy("a.test", "policy\nrecord", wall + 86400s);
    writer.put_policy("dead.test", "gone", wall - 1s);
    BOOST_TEST(reader.get_policy("a.test").value_or("(none)") == "policy\nrecord");
    const long ttl = std::stol(cli("TTL dane-sts-milter:v1:sts-policy:a.test"));
    BOOST_TEST(ttl <= 86400);
    BOOST_TEST(ttl >= 86390);
    BOOST_TEST(cli("EXISTS dane-sts-milter:v1:sts-policy:dead.test") == "0");
    BOOST_TEST(!reader.get("a.test").has_value());  // verdicts and policies do not mix
    BOOST_TEST(writer.errors() == 0U);
}

BOOST_FIXTURE_TEST_CASE(keys_namespaced_in_the_selected_db, RedisUp) {
    RedisStore store(target());
    store.put({make("a.test", 3600s)});
    BOOST_TEST(cli("KEYS '*'") == "dane-sts-milter:v1:verdict:a.test");
    BOOST_TEST(cli("EXISTS dane-sts-milter:v1:verdict:a.test", 0) == "0");
    const auto value = cli("GET dane-sts-milter:v1:verdict:a.test");
    BOOST_TEST(value.rfind("v2\ta.test\t", 0) == 0U, value);
}

BOOST_FIXTURE_TEST_CASE(redis_ttl_is_the_verdict_lifetime, RedisUp) {
    RedisStore store(target());
    store.put({make("a.test", 3600s), make("b.test", 90s), make("dead.test", -5s)});
    const long a = std::stol(cli("TTL dane-sts-milter:v1:verdict:a.test"));
    BOOST_TEST(a <= 3600);
    BOOST_TEST(a >= 3590);
    const long b = std::stol(cli("TTL dane-sts-milter:v1:verdict:b.test"));
    BOOST_TEST(b <= 90);
    BOOST_TEST(b >= 80);
    // Already expired: not written at all.
    BOOST_TEST(cli("EXISTS dane-sts-milter:v1:verdict:dead.test") == "0");
}

BOOST_FIXTURE_TEST_CASE(foreign_or_stale_values_are_misses, RedisUp) {
    RedisStore store(target());
    BOOST_TEST(cli("SET dane-sts-milter:v1:verdict:junk.test garbage") == "OK");
    BOOST_TEST(!store.get("junk.test").has_value());
    // A record under the wrong key (a bug or a hand edit) is not served.
    store.put({make("a.test", 3600s)});
    BOOST_TEST(cli("COPY dane-sts-milter:v1:verdict:a.test dane-sts-milter:v1:verdict:b.test") ==
               "1");
    BOOST_TEST(!store.get("b.test").has_value());
    BOOST_TEST(store.healthy());
    BOOST_TEST(store.errors() == 0U);
}

BOOST_FIXTURE_TEST_CASE(make_store_parses_redis_specs, RedisUp) {
    auto s = cache::make_store(redis_spec(5));
    BOOST_TEST_REQUIRE(s.ok(), (s.ok() ? "" : s.error()));
    BOOST_TEST(s.value()->healthy());
    BOOST_TEST(s.value()->name() == redis_spec(5));
    s.value()->put({make("a.test", 60s)});
    BOOST_TEST(cli("EXISTS dane-sts-milter:v1:verdict:a.test") == "1");

    // Port 1 on loopback: refused at once, an unhealthy store, no throw.
    for (const std::string spec : {"redis://127.0.0.1:1", "redis://[::1]:1/2"}) {
        std::unique_ptr<cache::Store> closed;
        const auto took = timed([&] {
            auto r = cache::make_store(spec);
            BOOST_TEST_REQUIRE(r.ok(), spec);
            closed = std::move(r).value();
        });
        BOOST_TEST(took.count() < 500);
        BOOST_TEST(!closed->healthy());
        BOOST_TEST(closed->errors() >= 1U);
        BOOST_TEST(!closed->get("a.test").has_value());
    }
}

BOOST_FIXTURE_TEST_CASE(killed_then_restarted, RedisUp) {
    RedisStore store(target());
    RedisStore other(target());
    store.put({make("a.test", 3600s)});
    BOOST_TEST_REQUIRE(other.get("a.test").has_value());

    stop_redis();
    for (int i = 0; i < 5; ++i) {
        BOOST_TEST(timed([&] { BOOST_TEST(!store.get("a.test").has_value()); }).count() < 500);
        BOOST_TEST(timed([&] { store.put({make("b.test", 3600s)}); }).count() < 500);
    }
    BOOST_TEST(!store.healthy());
    BOOST_TEST(store.errors() >= 1U);

    start_redis();  // empty: no persistence
    // After the backoff (100 ms doubling) a call reconnects; writes resume.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!store.healthy() && std::chrono::steady_clock::now() < deadline) {
        store.put({make("c.test", 3600s)});
        if (!store.healthy()) {
            std::this_thread::sleep_for(50ms);
        }
    }
    BOOST_TEST_REQUIRE(store.healthy());
    store.put({make("d.test", 3600s)});
    BOOST_TEST(other.get("d.test").has_value());
    BOOST_TEST(other.healthy());
}

BOOST_FIXTURE_TEST_CASE(restart_between_calls_is_not_an_outage, RedisUp) {
    RedisStore store(target());
    store.put({make("a.test", 3600s)});
    stop_redis();
    start_redis();
    // The old connection is dead; the call retries once on a fresh one.
    store.put({make("b.test", 3600s)});
    BOOST_TEST(store.healthy());
    BOOST_TEST(store.errors() == 0U);
    BOOST_TEST(store.get("b.test").has_value());
}

BOOST_FIXTURE_TEST_CASE(hung_server_never_stalls_a_caller, RedisUp) {
    auto clock = std::make_shared<util::ManualClock>();
    RedisStore store(target(), clock);
    RedisStore other(target());
    store.put({make("a.test", 3600s, *clock)});
    BOOST_TEST_REQUIRE(store.get("a.test").has_value());
    {
        const Hung hung(redis_pid());
        BOOST_TEST(timed([&] { BOOST_TEST(!store.get("a.test").has_value()); }).count() < 500);
        BOOST_TEST(!store.healthy());
        const auto errors = store.errors();
        BOOST_TEST(errors >= 1U);
        // In backoff: answered at once, nothing tried, nothing counted.
        BOOST_TEST(timed([&] { BOOST_TEST(!store.get("a.test").has_value()); }).count() < 50);
        BOOST_TEST(timed([&] { store.put({make("b.test", 3600s, *clock)}); }).count() < 50);
        BOOST_TEST(store.errors() == errors);
        // After the backoff: a new connection (the kernel accepts it), a
        // bounded wait for the answer that never comes.
        clock->advance(1s);
        BOOST_TEST(timed([&] { BOOST_TEST(!store.get("a.test").has_value()); }).count() < 500);
        BOOST_TEST(store.errors() == errors + 1);
        clock->advance(1s);
        BOOST_TEST(timed([&] { store.put({make("b.test", 3600s, *clock)}); }).count() < 1500);
        // Many lookup threads at once: each bounded too.
        clock->advance(5s);
        std::vector<std::thread> threads;
        threads.reserve(8);
        std::atomic<long> worst{0};
        for (int i = 0; i < 8; ++i) {
            threads.emplace_back([&] {
                const auto took = timed([&] { (void)store.get("a.test"); }).count();
                long seen = worst.load();
                while (took > seen && !worst.compare_exchange_weak(seen, took)) {
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        BOOST_TEST(worst.load() < 500);
    }
    // Answering again: healthy after the backoff.
    clock->advance(31s);
    BOOST_TEST(store.get("a.test").has_value());
    BOOST_TEST(store.healthy());
    store.put({make("c.test", 3600s, *clock)});
    BOOST_TEST(other.get("c.test").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
