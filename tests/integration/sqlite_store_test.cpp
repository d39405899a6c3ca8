// core/cache/sqlite_store against real files in a temporary directory:
// round trips, expiry, reopening, a corrupt file, an unusable location, the
// schema version. A ManualClock moves time (expiry, retry backoff) without
// sleeping. The database is inspected with Poco::Data, as an operator would
// with the sqlite3 shell.
#include <boost/test/unit_test.hpp>

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/cache/sqlite_store.hpp"
#include "core/report/count_key.hpp"
#include "core/util/clock.hpp"
#include "tests/support/stored_verdicts.hpp"
#include "tests/support/temp_dir.hpp"

using namespace dsm;
using namespace std::chrono_literals;
using cache::SqliteStore;
using cache::StoredVerdict;
using util::ManualClock;
using namespace dsm::test;  // stored_verdicts.hpp
namespace fs = std::filesystem;

namespace {

StoredVerdict make(const std::string& domain, const util::Clock& clock,
                   std::chrono::seconds lifetime) {
    auto s = good_verdict(domain, clock.wall(), lifetime);
    s.verdict.sts = verdict::StsField::testing;
    s.verdict.dane_why = "TLSA\tfor every MX";
    return s;
}

std::vector<std::string> query_strings(const fs::path& db, const std::string& sql) {
    static const bool registered = [] {
        Poco::Data::SQLite::Connector::registerConnector();
        return true;
    }();
    (void)registered;
    Poco::Data::Session s("SQLite", db.string());
    std::vector<std::string> out;
    s << sql, Poco::Data::Keywords::into(out), Poco::Data::Keywords::now;
    return out;
}

void execute(const fs::path& db, const std::string& sql) {
    (void)query_strings(db, "SELECT 1");  // registers the connector
    Poco::Data::Session s("SQLite", db.string());
    s << sql, Poco::Data::Keywords::now;
}

std::vector<fs::path> corrupt_copies(const fs::path& dir, const std::string& stem) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        const auto name = e.path().filename().string();
        if (name.rfind(stem + ".corrupt-", 0) == 0 && name.find("-wal") == std::string::npos) {
            out.push_back(e.path());
        }
    }
    return out;
}

// What every test here starts from: an empty directory, a ManualClock.
struct Scratch {
    TempDir dir{"dsm-sqlite"};
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
    // A store at `path` that got `verdicts` and is closed again.
    void written(const fs::path& path, const std::vector<StoredVerdict>& verdicts) const {
        SqliteStore store(path.string(), clock);
        store.put(verdicts);
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sqlite_store)

// SPEC §11: counts are added (UPSERT), read by day range, kept [report] days.
BOOST_FIXTURE_TEST_CASE(counts_add_up_by_key_and_day, Scratch) {
    const auto path = dir.path / "counts.db";
    SqliteStore store(path.string(), clock);
    const std::string today = report::utc_day(clock->wall());
    const std::string yesterday = report::add_days(today, -1).value();
    using report::Outcome;
    BOOST_TEST(store.add_counts({count_row(today, "a.test", 2),
                                 count_row(today, "b.test", 1, Outcome::deferred, "dane-required"),
                                 count_row(yesterday, "a.test", 5)},
                                30));
    BOOST_TEST(store.add_counts({count_row(today, "a.test", 3),
                                 count_row(today, "b.test", 4, Outcome::deferred, "dane-required")},
                                30));
    const auto both = store.read_counts(yesterday, today);
    BOOST_TEST_REQUIRE(both.has_value());
    BOOST_TEST(*both == (std::vector<report::CountRow>{
                            count_row(yesterday, "a.test", 5), count_row(today, "a.test", 5),
                            count_row(today, "b.test", 5, Outcome::deferred, "dane-required")}),
               boost::test_tools::per_element());
    BOOST_TEST(store.read_counts(today, today)->size() == 2u);
    // Another process reads while this one holds the file (WAL).
    SqliteStore reader(path.string(), clock);
    BOOST_TEST(reader.read_counts(yesterday, yesterday).value_or(std::vector<report::CountRow>{}) ==
                   (std::vector<report::CountRow>{count_row(yesterday, "a.test", 5)}),
               boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(counts_older_than_report_days_are_deleted, Scratch) {
    const auto path = dir.path / "counts.db";
    SqliteStore store(path.string(), clock);
    const std::string first = report::utc_day(clock->wall());
    BOOST_TEST(store.add_counts({count_row(first, "a.test", 1)}, 3));
    clock->advance(std::chrono::hours(24 * 2));  // day 3 of 3: still kept
    BOOST_TEST(store.add_counts({}, 3));
    BOOST_TEST(
        query_strings(path, "SELECT day FROM decision_counts") == (std::vector<std::string>{first}),
        boost::test_tools::per_element());
    clock->advance(std::chrono::hours(24));  // day 4: the first day is gone
    const std::string fourth = report::utc_day(clock->wall());
    BOOST_TEST(store.add_counts({count_row(fourth, "b.test", 1)}, 3));
    BOOST_TEST(query_strings(path,
                             "SELECT day || ' ' || domain || ' ' || count FROM "
                             "decision_counts") == (std::vector<std::string>{fourth + " b.test 1"}),
               boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(put_get_load, Scratch) {
    SqliteStore store((dir.path / "sub" / "verdicts.db").string(), clock);  // creates sub/
    BOOST_TEST(store.healthy());
    BOOST_TEST(store.name() == "sqlite:" + (dir.path / "sub" / "verdicts.db").string());
    BOOST_TEST(!store.get("a.test").has_value());

    const auto a = make("a.test", *clock, 3600s);
    store.put({a, make("b.test", *clock, 60s)});
    auto got = store.get("a.test");
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->verdict.dane == verdict::DaneField::pass);
    BOOST_TEST(got->verdict.sts == verdict::StsField::testing);
    BOOST_TEST(got->verdict.dane_why == "TLSA\tfor every MX");
    BOOST_TEST((got->expires == a.expires));
    BOOST_TEST((got->verdict.at == a.verdict.at));

    // Replace: the newer verdict of a domain wins.
    auto a2 = make("a.test", *clock, 7200s);
    a2.verdict.dane = verdict::DaneField::fail;
    store.put({a2});
    BOOST_TEST(store.get("a.test")->verdict.dane == verdict::DaneField::fail);

    BOOST_TEST(store.load(10).size() == 2U);
    BOOST_TEST(store.load(1).size() == 1U);
    BOOST_TEST(store.load(0).empty());
    BOOST_TEST(store.errors() == 0U);
}

// SPEC §6: error verdicts are stored like any other, with error_ttl: after a
// restart (the file reopened) they are loaded and served until then.
BOOST_FIXTURE_TEST_CASE(error_verdicts_survive_reopen_until_error_ttl, Scratch) {
    const auto path = (dir.path / "verdicts.db").string();
    const auto errors = error_verdicts(clock->wall());
    written(path, errors);
    SqliteStore store(path, clock);
    for (const auto& e : errors) {
        auto got = store.get(e.verdict.domain);
        BOOST_TEST_REQUIRE(got.has_value(), e.verdict.domain);
        check_same_error(*got, e);
    }
    BOOST_TEST(store.load(10).size() == 3U);
    clock->advance(61s);
    BOOST_TEST(!store.get("bogus.test").has_value());
    BOOST_TEST(store.load(10).empty());
}

BOOST_FIXTURE_TEST_CASE(load_is_newest_first, Scratch) {
    SqliteStore store((dir.path / "v.db").string(), clock);
    store.put({make("old.test", *clock, 86400s)});
    clock->advance(10s);
    store.put({make("new.test", *clock, 86400s)});
    const auto all = store.load(10);
    BOOST_TEST_REQUIRE(all.size() == 2U);
    BOOST_TEST(all[0].verdict.domain == "new.test");
    const auto one = store.load(1);
    BOOST_TEST_REQUIRE(one.size() == 1U);
    BOOST_TEST(one[0].verdict.domain == "new.test");
}

BOOST_FIXTURE_TEST_CASE(expired_rows_are_not_returned, Scratch) {
    const auto path = dir.path / "v.db";
    SqliteStore store(path.string(), clock);
    store.put({make("short.test", *clock, 60s), make("long.test", *clock, 3600s)});
    // Already expired when written: skipped.
    store.put({make("dead.test", *clock, -1s)});
    BOOST_TEST(!store.get("dead.test").has_value());
    clock->advance(61s);
    BOOST_TEST(!store.get("short.test").has_value());
    BOOST_TEST(store.get("long.test").has_value());
    const auto all = store.load(10);
    BOOST_TEST_REQUIRE(all.size() == 1U);
    BOOST_TEST(all[0].verdict.domain == "long.test");
    // Expired rows are deleted now and then (every 10 minutes of writes).
    clock->advance(600s);
    store.put({make("c.test", *clock, 3600s)});
    const auto rows = query_strings(path, "SELECT domain FROM verdicts ORDER BY domain");
    BOOST_TEST(rows == (std::vector<std::string>{"c.test", "long.test"}),
               boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(survives_reopen, Scratch) {
    const auto path = (dir.path / "v.db").string();
    written(path, {make("a.test", *clock, 3600s), make("b.test", *clock, 3600s)});
    SqliteStore again(path, clock);
    BOOST_TEST(again.healthy());
    BOOST_TEST(again.get("a.test").has_value());
    BOOST_TEST(again.load(100).size() == 2U);
    // Two stores on one file (two processes) see each other's writes.
    SqliteStore third(path, clock);
    third.put({make("c.test", *clock, 3600s)});
    BOOST_TEST(again.get("c.test").has_value());
}

BOOST_FIXTURE_TEST_CASE(schema_version_recorded, Scratch) {
    const auto path = dir.path / "v.db";
    { SqliteStore store(path.string(), clock); }
    const auto version = query_strings(path, "SELECT value FROM meta WHERE key = 'schema_version'");
    BOOST_TEST(version == (std::vector<std::string>{std::to_string(SqliteStore::kSchemaVersion)}),
               boost::test_tools::per_element());
    const auto mode = query_strings(path, "PRAGMA journal_mode");
    BOOST_TEST(mode == (std::vector<std::string>{"wal"}), boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(unknown_schema_version_replaced, Scratch) {
    const auto path = dir.path / "v.db";
    written(path, {make("a.test", *clock, 3600s)});
    execute(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    SqliteStore store(path.string(), clock);
    BOOST_TEST(store.healthy());
    BOOST_TEST(!store.get("a.test").has_value());  // rows of an unknown format: gone
    store.put({make("b.test", *clock, 3600s)});
    BOOST_TEST(store.get("b.test").has_value());
    BOOST_TEST(query_strings(path, "SELECT value FROM meta WHERE key = 'schema_version'") ==
                   (std::vector<std::string>{std::to_string(SqliteStore::kSchemaVersion)}),
               boost::test_tools::per_element());
}

// Schema 2 only added the policies table: a schema 1 file keeps its verdicts.
BOOST_FIXTURE_TEST_CASE(schema_1_upgraded_keeping_verdicts, Scratch) {
    const auto path = dir.path / "v1.db";
    written(path, {make("a.test", *clock, 3600s)});
    execute(path, "DROP TABLE policies");
    execute(path, "DROP TABLE decision_counts");
    execute(path, "UPDATE meta SET value = '1' WHERE key = 'schema_version'");
    SqliteStore store(path.string(), clock);
    BOOST_TEST(store.healthy());
    BOOST_TEST(store.get("a.test").has_value());
    store.put_policy("a.test", "record", clock->wall() + 600s);
    BOOST_TEST(store.get_policy("a.test").value_or("(none)") == "record");
    // SPEC §11: the readiness counts table comes with schema 2 as well.
    const std::string today = report::utc_day(clock->wall());
    BOOST_TEST(store.add_counts({count_row(today, "a.test", 2)}, 30));
    BOOST_TEST(store.read_counts(today, today).value_or(std::vector<report::CountRow>{}) ==
                   (std::vector<report::CountRow>{count_row(today, "a.test", 2)}),
               boost::test_tools::per_element());
    BOOST_TEST(query_strings(path, "SELECT value FROM meta WHERE key = 'schema_version'") ==
                   (std::vector<std::string>{"2"}),
               boost::test_tools::per_element());
}

// RFC 8461 §3.3, §5.1: MTA-STS policies live until their own end (max_age),
// apart from verdicts, and survive reopening.
BOOST_FIXTURE_TEST_CASE(policies_kept_until_they_expire, Scratch) {
    const auto path = dir.path / "p.db";
    {
        SqliteStore store(path.string(), clock);
        BOOST_TEST(!store.get_policy("a.test").has_value());
        store.put_policy("a.test", "first", clock->wall() + 86400s);
        store.put_policy("a.test", "second\nline", clock->wall() + 86400s);  // replaces
        store.put_policy("dead.test", "gone", clock->wall() - 1s);           // not written
        store.put_policy("short.test", "short", clock->wall() + 60s);
    }
    SqliteStore store(path.string(), clock);
    BOOST_TEST(store.get_policy("a.test").value_or("(none)") == "second\nline");
    BOOST_TEST(!store.get_policy("dead.test").has_value());
    BOOST_TEST(store.get_policy("short.test").has_value());
    BOOST_TEST(query_strings(path, "SELECT domain FROM policies ORDER BY domain") ==
                   (std::vector<std::string>{"a.test", "short.test"}),
               boost::test_tools::per_element());
    clock->advance(61s);
    BOOST_TEST(!store.get_policy("short.test").has_value());
    BOOST_TEST(store.get_policy("a.test").has_value());
    // Verdicts and policies do not mix.
    BOOST_TEST(!store.get("a.test").has_value());
    BOOST_TEST(store.errors() == 0U);
}

BOOST_FIXTURE_TEST_CASE(someone_elses_database_left_alone, Scratch) {
    const auto path = dir.path / "other.db";
    execute(path, "CREATE TABLE accounts (name TEXT)");
    SqliteStore store(path.string(), clock);
    BOOST_TEST(!store.healthy());
    BOOST_TEST(store.errors() >= 1U);
    store.put({make("a.test", *clock, 3600s)});
    BOOST_TEST(!store.get("a.test").has_value());
    const auto tables = query_strings(path, "SELECT name FROM sqlite_master WHERE type = 'table'");
    BOOST_TEST(tables == (std::vector<std::string>{"accounts"}), boost::test_tools::per_element());
    BOOST_TEST(corrupt_copies(dir.path, "other.db").empty());
}

BOOST_FIXTURE_TEST_CASE(corrupt_file_moved_aside_and_replaced, Scratch) {
    const auto path = dir.path / "v.db";
    std::string junk(8192, '\0');
    std::mt19937 rng(7);
    for (auto& c : junk) {
        c = static_cast<char>(rng());
    }
    std::ofstream(path, std::ios::binary) << junk;

    SqliteStore store(path.string(), clock);
    BOOST_TEST(store.healthy());
    BOOST_TEST(store.errors() == 1U);
    const auto aside = corrupt_copies(dir.path, "v.db");
    BOOST_TEST_REQUIRE(aside.size() == 1U);
    std::ifstream in(aside[0], std::ios::binary);
    const std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    BOOST_TEST((kept == junk));  // kept for a post-mortem, unchanged

    store.put({make("a.test", *clock, 3600s)});
    BOOST_TEST(store.get("a.test").has_value());
    BOOST_TEST(store.healthy());
}

BOOST_FIXTURE_TEST_CASE(damaged_database_moved_aside, Scratch) {
    const auto path = dir.path / "v.db";
    {
        SqliteStore store(path.string(), clock);
        std::vector<StoredVerdict> many;
        many.reserve(2000);
        for (int i = 0; i < 2000; ++i) {
            many.push_back(make("d" + std::to_string(i) + ".test", *clock, 3600s));
        }
        store.put(many);
    }
    execute(path, "PRAGMA wal_checkpoint(TRUNCATE)");
    // A valid header, garbage over the pages behind it.
    {
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(4096 + 100);
        const std::string junk(20000, '\x5a');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    SqliteStore store(path.string(), clock);
    BOOST_TEST(store.healthy());
    BOOST_TEST(corrupt_copies(dir.path, "v.db").size() == 1U);
    store.put({make("a.test", *clock, 3600s)});
    BOOST_TEST(store.get("a.test").has_value());
}

// The file deleted while the store has it open: SQLite would go on writing
// to the unlinked inode, and every verdict since would be gone at the next
// start. The store notices (stat of the path) and opens a new file there.
BOOST_FIXTURE_TEST_CASE(file_removed_while_open_is_recreated, Scratch) {
    const auto path = dir.path / "v.db";
    SqliteStore store(path.string(), clock);
    store.put({make("a.test", *clock, 3600s)});
    BOOST_TEST_REQUIRE(store.get("a.test").has_value());
    for (const char* suffix : {"", "-wal", "-shm"}) {
        fs::remove(path.string() + suffix);
    }
    store.put({make("b.test", *clock, 3600s)});
    BOOST_TEST_REQUIRE(fs::exists(path));
    BOOST_TEST(
        query_strings(path, "SELECT domain FROM verdicts") == (std::vector<std::string>{"b.test"}),
        boost::test_tools::per_element());
    BOOST_TEST(store.healthy());
}

// The file written over with garbage (same inode) while open: noticed by
// its header, moved aside, and a sound database takes its place.
BOOST_FIXTURE_TEST_CASE(file_written_over_while_open_is_replaced, Scratch) {
    const auto path = dir.path / "v.db";
    SqliteStore store(path.string(), clock);
    store.put({make("a.test", *clock, 3600s)});
    std::string junk(8192, '\0');
    std::mt19937 rng(11);
    for (auto& c : junk) {
        c = static_cast<char>(rng());
    }
    std::ofstream(path, std::ios::binary | std::ios::trunc) << junk;
    store.put({make("b.test", *clock, 3600s)});
    BOOST_TEST(store.get("b.test").has_value());
    BOOST_TEST(query_strings(path, "PRAGMA integrity_check") == (std::vector<std::string>{"ok"}),
               boost::test_tools::per_element());
    BOOST_TEST(query_strings(path, "SELECT domain FROM verdicts WHERE domain = 'b.test'").size() ==
               1U);
}

BOOST_FIXTURE_TEST_CASE(unwritable_location_is_unhealthy_then_recovers, Scratch) {
    // A file where the directory should be: no one, root included, can
    // create the database below it.
    const auto blocker = dir.path / "blocker";
    std::ofstream(blocker) << "not a directory";
    const auto path = blocker / "db" / "v.db";

    SqliteStore store(path.string(), clock);
    BOOST_TEST(!store.healthy());
    const auto e0 = store.errors();
    BOOST_TEST(e0 >= 1U);
    const auto t0 = std::chrono::steady_clock::now();
    store.put({make("a.test", *clock, 3600s)});  // dropped
    BOOST_TEST(!store.get("a.test").has_value());
    BOOST_TEST(store.load(10).empty());
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 100ms));  // backoff: no retry yet
    BOOST_TEST(store.errors() == e0);

    // Retried after the backoff, still failing: counted, still unhealthy.
    clock->advance(31s);
    BOOST_TEST(!store.get("a.test").has_value());
    BOOST_TEST(store.errors() == e0 + 1);
    BOOST_TEST(!store.healthy());

    // Fixed by the administrator: the next retry opens it.
    fs::remove(blocker);
    clock->advance(31s);
    store.put({make("a.test", *clock, 3600s)});
    BOOST_TEST(store.healthy());
    BOOST_TEST(store.get("a.test").has_value());
}

BOOST_FIXTURE_TEST_CASE(directory_at_path_is_unhealthy, Scratch) {
    const auto path = dir.path / "v.db";
    fs::create_directory(path);
    SqliteStore store(path.string(), clock);
    BOOST_TEST(!store.healthy());
    BOOST_TEST(store.errors() >= 1U);
    BOOST_TEST(fs::is_directory(path));  // not moved: not a corrupt file
    BOOST_TEST(corrupt_copies(dir.path, "v.db").empty());
    store.put({make("a.test", *clock, 3600s)});
    BOOST_TEST(!store.get("a.test").has_value());
}

BOOST_FIXTURE_TEST_CASE(unwritable_directory_is_unhealthy, Scratch) {
    if (geteuid() == 0) {
        BOOST_TEST_MESSAGE("skipped: root ignores directory permissions");
        return;
    }
    const auto ro = dir.path / "ro";
    fs::create_directory(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
    SqliteStore store((ro / "v.db").string(), clock);
    BOOST_TEST(!store.healthy());
    BOOST_TEST(store.errors() >= 1U);
    store.put({make("a.test", *clock, 3600s)});
    BOOST_TEST(!store.get("a.test").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
