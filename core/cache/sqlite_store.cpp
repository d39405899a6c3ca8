#include "core/cache/sqlite_store.hpp"

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/SQLiteException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace dsm::cache {

namespace {

using Poco::Data::Keywords::into;
using Poco::Data::Keywords::now;
using Poco::Data::Keywords::use;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kFirstRetry = 1s;
constexpr std::chrono::milliseconds kMaxRetry = 30s;
constexpr std::int64_t kPurgeEverySeconds = 600;

// A database holding tables but not ours: never modified (it may be another
// program's file named in a config by mistake).
struct ForeignDatabase : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void register_connector() {
    static std::once_flag once;
    std::call_once(once, [] { Poco::Data::SQLite::Connector::registerConnector(); });
}

// True when PATH is a readable, non-empty regular file without the SQLite
// header: random bytes, a truncated copy, another format. An unreadable file
// is not called corrupt (its rights are an administrator's business).
bool header_is_foreign(const std::string& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
        return false;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return false;
    }
    static constexpr std::array<char, 16> kMagic = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f',
                                                    'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};
    std::array<char, 16> head{};
    in.read(head.data(), head.size());
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0) {
        return false;  // an empty file is an empty database to SQLite
    }
    return got < head.size() || head != kMagic;
}

void create_policies_table(Poco::Data::Session& s) {
    s << "CREATE TABLE policies (domain TEXT PRIMARY KEY, expires INTEGER NOT NULL,"
         " record TEXT NOT NULL) WITHOUT ROWID",
        now;
    s << "CREATE INDEX policies_expires ON policies (expires)", now;
}

// SPEC §11 readiness counts: one row per day, connector, domain, view,
// outcome and cause, added to by UPSERT. IF NOT EXISTS: schema 2 was not
// released before the table joined it, so a schema-2 file may lack it.
void create_counts_table(Poco::Data::Session& s) {
    s << "CREATE TABLE IF NOT EXISTS decision_counts (day TEXT NOT NULL,"
         " connector TEXT NOT NULL, domain TEXT NOT NULL, view TEXT NOT NULL,"
         " outcome TEXT NOT NULL, cause TEXT NOT NULL, count INTEGER NOT NULL,"
         " PRIMARY KEY (day, connector, domain, view, outcome, cause)) WITHOUT ROWID",
        now;
}

// Creates our tables, or checks the recorded version. A different version
// is replaced: rows of an unknown format must not be read as ours.
void ensure_schema(Poco::Data::Session& s, const std::string& name) {
    s.begin();
    try {
        Poco::Int64 meta = 0;
        s << "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            into(meta), now;
        std::vector<std::string> version;
        if (meta == 0) {
            Poco::Int64 others = 0;
            s << "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                 " AND name NOT LIKE 'sqlite!_%' ESCAPE '!'",
                into(others), now;
            if (others > 0) {
                throw ForeignDatabase("it holds other tables and no `meta` table");
            }
        } else {
            s << "SELECT value FROM meta WHERE key = 'schema_version'", into(version), now;
        }
        const std::string want = std::to_string(SqliteStore::kSchemaVersion);
        if (meta != 0 && !version.empty() && version.front() == want) {
            create_counts_table(s);
            s.commit();
            return;
        }
        if (meta != 0 && !version.empty() && version.front() == "1") {
            // Schema 2 only adds the policies and counts tables: the
            // verdicts stay.
            create_policies_table(s);
            create_counts_table(s);
            std::string v = want;
            s << "UPDATE meta SET value = ? WHERE key = 'schema_version'", use(v), now;
            s.commit();
            spdlog::info("cache store sqlite:{}: schema 1 upgraded to {}", name, want);
            return;
        }
        if (meta != 0) {
            spdlog::warn("cache store sqlite:{}: schema version {} is not {}; starting empty", name,
                         version.empty() ? std::string("(none)") : version.front(), want);
        }
        s << "DROP TABLE IF EXISTS verdicts", now;
        s << "DROP TABLE IF EXISTS policies", now;
        s << "DROP TABLE IF EXISTS decision_counts", now;
        s << "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)", now;
        s << "CREATE TABLE verdicts (domain TEXT PRIMARY KEY, expires INTEGER NOT NULL,"
             " stored INTEGER NOT NULL, record TEXT NOT NULL) WITHOUT ROWID",
            now;
        s << "CREATE INDEX verdicts_expires ON verdicts (expires)", now;
        s << "CREATE INDEX verdicts_stored ON verdicts (stored)", now;
        create_policies_table(s);
        create_counts_table(s);
        std::string v = want;
        s << "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", use(v), now;
        s.commit();
    } catch (...) {
        try {
            s.rollback();
        } catch (...) {  // NOLINT(bugprone-empty-catch): the first error is the one to report
        }
        throw;
    }
}

// SQLite's answers (quick_check above all) can span many lines; a log entry
// is one line (SPEC §2), so keep the start of it.
std::string one_line(std::string s) {
    std::replace_if(
        s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    constexpr std::size_t kMax = 300;
    if (s.size() > kMax) {
        s.resize(kMax);
        s += "...";
    }
    return s;
}

std::int64_t ceil_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::ceil<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

struct SqliteStore::Db {
    explicit Db(const std::string& path) : session("SQLite", path) {}
    Poco::Data::Session session;
};

SqliteStore::SqliteStore(std::string path, std::shared_ptr<const Clock> clock)
    : path_(std::move(path)), clock_(std::move(clock)), retry_delay_(kFirstRetry) {
    register_connector();
    const std::lock_guard lock(mu_);
    ready_locked();
}

SqliteStore::~SqliteStore() = default;

std::string SqliteStore::name() const {
    return "sqlite:" + path_;
}

std::int64_t SqliteStore::wall_seconds() const {
    return std::chrono::floor<std::chrono::seconds>(clock_->wall().time_since_epoch()).count();
}

void SqliteStore::failed_locked(const std::string& what, const std::string& why) {
    ++errors_;
    db_.reset();  // reopened after the backoff: the file may have been fixed or replaced
    next_try_ = clock_->now() + retry_delay_;
    retry_delay_ = std::min(retry_delay_ * 2, kMaxRetry);
    // key=value, like the decision lines (SPEC §4); the error is one quoted
    // value. Logged once per failing spell, then at debug.
    std::string error = one_line(why);
    std::replace(error.begin(), error.end(), '"', '\'');
    if (healthy_.exchange(false)) {
        spdlog::warn(
            "store={} store_state=failed op=\"{}\" error=\"{}\" retry_in_ms={}: carrying on in "
            "memory, mail is not affected",
            name(), what, error,
            std::chrono::duration_cast<std::chrono::milliseconds>(next_try_ - clock_->now())
                .count());
    } else {
        spdlog::debug("store={} store_state=failed op=\"{}\" error=\"{}\" again", name(), what,
                      error);
    }
}

void SqliteStore::succeeded_locked() {
    retry_delay_ = kFirstRetry;
    if (!healthy_.exchange(true)) {
        spdlog::info("store={} store_state=recovered", name());
    }
}

// See the header: is the file db_ has open still the one at path_, and
// still a database?
bool SqliteStore::same_file_locked(std::string& why) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
        why = "the file was removed";
        return false;
    }
    if (static_cast<unsigned long long>(st.st_dev) != file_.dev ||
        static_cast<unsigned long long>(st.st_ino) != file_.ino) {
        why = "the file was replaced by another one";
        return false;
    }
    const long long mtime_ns =
        static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec;
    if (st.st_size != file_.size || mtime_ns != file_.mtime_ns) {
        // SQLite changes the file itself (checkpoints): only its header says
        // whether someone else wrote over it.
        if (header_is_foreign(path_)) {
            why = "the file was written over: no SQLite header";
            return false;
        }
        if (st.st_size == 0 && file_.size > 0) {
            why = "the file was emptied";
            return false;
        }
        file_.size = st.st_size;
        file_.mtime_ns = mtime_ns;
    }
    return true;
}

void SqliteStore::remember_file_locked() {
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0) {
        file_ = FileId{
            static_cast<unsigned long long>(st.st_dev), static_cast<unsigned long long>(st.st_ino),
            static_cast<long long>(st.st_size),
            static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec};
    } else {
        file_ = FileId{};  // matches no file: checked again at the next call
    }
}

bool SqliteStore::ready_locked() {
    if (db_) {
        std::string why;
        if (same_file_locked(why)) {
            return true;
        }
        // Not a backoff: the file at PATH is opened (or created) right away.
        ++errors_;
        spdlog::warn("store={} store_state=reopening reason=\"{}\"", name(), why);
        db_.reset();
        next_try_ = Clock::time_point{};
    }
    if (clock_->now() < next_try_) {
        return false;
    }
    std::string why;
    if (open_locked(why)) {
        return true;
    }
    failed_locked("open", why);
    return false;
}

bool SqliteStore::open_locked(std::string& why) {
    std::error_code ec;
    const fs::path parent = fs::path(path_).parent_path();
    fs::create_directories(parent, ec);
    if (ec) {
        why = "cannot create " + parent.string() + ": " + ec.message();
        return false;
    }
    if (fs::is_directory(path_, ec)) {
        why = "it is a directory";
        return false;
    }
    Opened r = try_open(why);
    if (r == Opened::corrupt) {
        ++errors_;
        const std::string reason = why;
        if (!move_aside(why)) {
            return false;
        }
        std::string error = one_line(reason);
        std::replace(error.begin(), error.end(), '"', '\'');
        spdlog::warn("store={} store_state=corrupt error=\"{}\" moved_aside=\"{}\": starting empty",
                     name(), error, why);
        r = try_open(why);
    }
    return r == Opened::ok;
}

SqliteStore::Opened SqliteStore::try_open(std::string& why) {
    try {
        auto db = std::make_unique<Db>(path_);
        auto& s = db->session;
        Poco::Int64 timeout = 0;
        s << "PRAGMA busy_timeout = 500", into(timeout), now;
        std::string mode;
        s << "PRAGMA journal_mode = WAL", into(mode), now;
        s << "PRAGMA synchronous = NORMAL", now;
        std::vector<std::string> check;
        s << "PRAGMA quick_check", into(check), now;
        if (check.empty() || check.front() != "ok") {
            why = "quick_check: " + (check.empty() ? std::string("no answer") : check.front());
            return Opened::corrupt;
        }
        ensure_schema(s, path_);
        Poco::Int64 cutoff = wall_seconds();
        s << "DELETE FROM verdicts WHERE expires <= ?", use(cutoff), now;
        s << "DELETE FROM policies WHERE expires <= ?", use(cutoff), now;
        last_purge_ = cutoff;
        db_ = std::move(db);
        remember_file_locked();
        return Opened::ok;
    } catch (const ForeignDatabase& e) {
        why = std::string("refusing to use it: ") + e.what();
        return Opened::failed;
    } catch (const Poco::Data::SQLite::CorruptImageException& e) {
        why = e.displayText();
        std::error_code ec;
        return fs::is_regular_file(path_, ec) ? Opened::corrupt : Opened::failed;
    } catch (const Poco::Exception& e) {
        why = e.displayText();
        return header_is_foreign(path_) ? Opened::corrupt : Opened::failed;
    } catch (const std::exception& e) {
        why = e.what();
        return Opened::failed;
    }
}

// Renames the file (and its WAL, which SQLite would otherwise replay onto
// the new file) out of the way; the shared-memory index is only a cache.
// On success `why` holds the new name.
bool SqliteStore::move_aside(std::string& why) {
    const std::string aside =
        path_ + ".corrupt-" +
        std::to_string(std::chrono::floor<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
    std::error_code ec;
    fs::rename(path_, aside, ec);
    if (ec) {
        why = "cannot move the corrupt file aside to " + aside + ": " + ec.message();
        return false;
    }
    fs::rename(path_ + "-wal", aside + "-wal", ec);
    fs::remove(path_ + "-wal", ec);
    fs::remove(path_ + "-shm", ec);
    why = aside;
    return true;
}

std::vector<StoredVerdict> SqliteStore::load(std::size_t max) {
    std::vector<StoredVerdict> out;
    const std::lock_guard lock(mu_);
    if (max == 0 || !ready_locked()) {
        return out;
    }
    try {
        Poco::Int64 cutoff = wall_seconds();
        Poco::Int64 limit = static_cast<Poco::Int64>(
            std::min<std::size_t>(max, static_cast<std::size_t>(INT64_MAX)));
        std::vector<std::string> records;
        db_->session << "SELECT record FROM verdicts WHERE expires > ?"
                        " ORDER BY stored DESC, expires DESC LIMIT ?",
            use(cutoff), use(limit), into(records), now;
        const auto wall = clock_->wall();
        out.reserve(records.size());
        for (const auto& r : records) {
            // A record this version cannot read is skipped, not an error.
            if (auto v = decode_verdict(r); v && v->expires > wall) {
                out.push_back(std::move(*v));
            }
        }
        succeeded_locked();
    } catch (const Poco::Exception& e) {
        failed_locked("load", e.displayText());
        out.clear();
    }
    return out;
}

std::optional<StoredVerdict> SqliteStore::get(const std::string& domain) {
    const std::lock_guard lock(mu_);
    if (!ready_locked()) {
        return std::nullopt;
    }
    try {
        std::string key = domain;
        Poco::Int64 cutoff = wall_seconds();
        std::vector<std::string> records;
        db_->session << "SELECT record FROM verdicts WHERE domain = ? AND expires > ?", use(key),
            use(cutoff), into(records), now;
        succeeded_locked();
        if (records.empty()) {
            return std::nullopt;
        }
        auto v = decode_verdict(records.front());
        if (!v || v->verdict.domain != domain || v->expires <= clock_->wall()) {
            return std::nullopt;
        }
        return v;
    } catch (const Poco::Exception& e) {
        failed_locked("get", e.displayText());
        return std::nullopt;
    }
}

void SqliteStore::put(const std::vector<StoredVerdict>& verdicts) {
    const auto wall = clock_->wall();
    const Poco::Int64 stored = wall_seconds();
    std::vector<std::string> domains;
    std::vector<std::string> records;
    std::vector<Poco::Int64> expires;
    std::vector<Poco::Int64> stored_at;
    for (const auto& v : verdicts) {
        if (v.expires <= wall) {
            continue;
        }
        domains.push_back(v.verdict.domain);
        records.push_back(encode_verdict(v));
        expires.push_back(ceil_seconds(v.expires));
        stored_at.push_back(stored);
    }
    const std::lock_guard lock(mu_);
    const bool purge = stored - last_purge_ >= kPurgeEverySeconds;
    if ((domains.empty() && !purge) || !ready_locked()) {
        return;
    }
    auto& s = db_->session;
    try {
        s.begin();
        if (!domains.empty()) {
            // Bound vectors: Poco executes the statement once per element.
            s << "INSERT OR REPLACE INTO verdicts (domain, expires, stored, record)"
                 " VALUES (?, ?, ?, ?)",
                use(domains), use(expires), use(stored_at), use(records), now;
        }
        if (purge) {
            Poco::Int64 cutoff = stored;
            s << "DELETE FROM verdicts WHERE expires <= ?", use(cutoff), now;
            s << "DELETE FROM policies WHERE expires <= ?", use(cutoff), now;
        }
        s.commit();
        if (purge) {
            last_purge_ = stored;
        }
        succeeded_locked();
    } catch (const Poco::Exception& e) {
        try {
            s.rollback();
        } catch (...) {  // NOLINT(bugprone-empty-catch): the session is dropped below anyway
        }
        failed_locked("write", e.displayText());
    }
}

std::optional<std::string> SqliteStore::get_policy(const std::string& domain) {
    const std::lock_guard lock(mu_);
    if (!ready_locked()) {
        return std::nullopt;
    }
    try {
        std::string key = domain;
        Poco::Int64 cutoff = wall_seconds();
        std::vector<std::string> records;
        db_->session << "SELECT record FROM policies WHERE domain = ? AND expires > ?", use(key),
            use(cutoff), into(records), now;
        succeeded_locked();
        if (records.empty()) {
            return std::nullopt;
        }
        return records.front();
    } catch (const Poco::Exception& e) {
        failed_locked("get policy", e.displayText());
        return std::nullopt;
    }
}

void SqliteStore::put_policy(const std::string& domain, const std::string& record,
                             std::chrono::system_clock::time_point expires) {
    if (expires <= clock_->wall()) {
        return;
    }
    const std::lock_guard lock(mu_);
    if (!ready_locked()) {
        return;
    }
    try {
        std::string key = domain;
        std::string value = record;
        Poco::Int64 until = ceil_seconds(expires);
        db_->session
            << "INSERT OR REPLACE INTO policies (domain, expires, record) VALUES (?, ?, ?)",
            use(key), use(until), use(value), now;
        succeeded_locked();
    } catch (const Poco::Exception& e) {
        failed_locked("write policy", e.displayText());
    }
}

bool SqliteStore::erase(const std::string& domain) {
    const std::lock_guard lock(mu_);
    if (!ready_locked()) {
        return false;
    }
    auto& s = db_->session;
    try {
        std::string key = domain;
        s.begin();
        s << "DELETE FROM verdicts WHERE domain = ?", use(key), now;
        s << "DELETE FROM policies WHERE domain = ?", use(key), now;
        s.commit();
        succeeded_locked();
        return true;
    } catch (const Poco::Exception& e) {
        try {
            s.rollback();
        } catch (...) {  // NOLINT(bugprone-empty-catch): the session is dropped below anyway
        }
        failed_locked("delete", e.displayText());
        return false;
    }
}

bool SqliteStore::add_counts(const std::vector<report::CountRow>& rows, unsigned keep_days) {
    std::vector<std::string> day, connector, domain, view, outcome, cause;
    std::vector<Poco::Int64> count;
    for (const auto& r : rows) {
        day.push_back(r.key.day);
        connector.push_back(r.key.connector);
        domain.push_back(r.key.domain);
        view.emplace_back(report::to_string(r.key.view));
        outcome.emplace_back(report::to_string(r.key.outcome));
        cause.push_back(r.key.cause);
        count.push_back(static_cast<Poco::Int64>(r.count));
    }
    // The oldest day kept: today and the keep_days - 1 before it.
    std::string oldest = report::add_days(report::utc_day(clock_->wall()),
                                          -static_cast<int>(std::max(1U, keep_days)) + 1)
                             .value_or("");
    const std::lock_guard lock(mu_);
    if (!ready_locked()) {
        return false;
    }
    auto& s = db_->session;
    try {
        s.begin();
        if (!day.empty()) {
            s << "INSERT INTO decision_counts"
                 " (day, connector, domain, view, outcome, cause, count)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?)"
                 " ON CONFLICT (day, connector, domain, view, outcome, cause)"
                 " DO UPDATE SET count = count + excluded.count",
                use(day), use(connector), use(domain), use(view), use(outcome), use(cause),
                use(count), now;
        }
        s << "DELETE FROM decision_counts WHERE day < ?", use(oldest), now;
        s.commit();
        succeeded_locked();
        return true;
    } catch (const Poco::Exception& e) {
        try {
            s.rollback();
        } catch (...) {  // NOLINT(bugprone-empty-catch): the session is dropped below anyway
        }
        failed_locked("write counts", e.displayText());
        return false;
    }
}

std::optional<std::vector<report::CountRow>> SqliteStore::read_counts(const std::string& first_day,
                                                                      const std::string& last_day) {
    const std::lock_guard lock(mu_);
    if (!ready_locked()) {
        return std::nullopt;
    }
    try {
        std::string first = first_day;
        std::string last = last_day;
        std::vector<std::string> day, connector, domain, view, outcome, cause;
        std::vector<Poco::Int64> count;
        db_->session << "SELECT day, connector, domain, view, outcome, cause, count"
                        " FROM decision_counts WHERE day >= ? AND day <= ?"
                        " ORDER BY day, connector, domain, view, outcome, cause",
            use(first), use(last), into(day), into(connector), into(domain), into(view),
            into(outcome), into(cause), into(count), now;
        succeeded_locked();
        std::vector<report::CountRow> out;
        for (std::size_t i = 0; i < day.size(); ++i) {
            const auto v = report::parse_view(view[i]);
            const auto o = report::parse_outcome(outcome[i]);
            if (!v || !o || count[i] < 0) {
                continue;  // written by a later version: not ours to read
            }
            out.push_back(report::CountRow{{day[i], connector[i], domain[i], *v, *o, cause[i]},
                                           static_cast<std::uint64_t>(count[i])});
        }
        return out;
    } catch (const Poco::Exception& e) {
        failed_locked("read counts", e.displayText());
        return std::nullopt;
    }
}

}  // namespace dsm::cache
