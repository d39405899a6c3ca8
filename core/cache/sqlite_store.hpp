// `sqlite:PATH`: the embedded verdict store of one host (SPEC §6). Survives
// restarts: the cache is warmed from it at start and written behind the RCPT
// path (core/cache/write_behind.hpp).
//
// On disk: a `meta` table holding `schema_version`, a `verdicts` table
// keyed by domain with `expires` (unix seconds), `stored` (unix seconds) and
// the record of encode_verdict(), and (schema 2) a `policies` table of
// MTA-STS policies, keyed by domain with `expires` and the policy record,
// and (schema 2) `decision_counts`, the readiness counts (SPEC §11).
// A schema 1 file gains those two tables and keeps its verdicts. WAL journal (readers never
// wait for the writer), synchronous=NORMAL (a crash may lose the last writes of a cache, never
// corrupt it), busy timeout 500 ms (another process holding the file).
//
// Failures, all logged in one line and counted in errors(), none fatal:
//   - a file that is not a database or fails `PRAGMA quick_check` is moved
//     aside to `<path>.corrupt-<unix time>` (its -wal too, so it cannot be
//     replayed onto the new file) and a fresh database is created;
//   - a database of another schema version is emptied and re-created (it is
//     a cache); a database without our `meta` table but with other tables is
//     someone else's: it is left alone and the store stays unhealthy;
//   - a location that cannot be opened or written (missing rights, a
//     directory at PATH, disk full, read-only) makes the store unhealthy:
//     calls answer nothing and drop writes, and the file is opened again on
//     a call after a backoff (1 s doubling to 30 s). The state change is
//     logged once; healthy again after the next successful operation;
//   - the file deleted, replaced or written over while we run (checked
//     before every call: one stat(), and a read of the 16-octet header when
//     its size or mtime changed): the connection is dropped and the file at
//     PATH opened (created, or moved aside if no database) at once. Without
//     this SQLite would go on writing to the unlinked file, and every
//     verdict since would be gone at the next start (SPEC §6).
//
// Thread-safe: one connection behind a mutex (calls are short: one indexed
// row, or one transaction per write-behind batch).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "core/cache/store.hpp"

namespace dsm::cache {

class SqliteStore final : public Store {
  public:
    static constexpr int kSchemaVersion = 2;

    // `path` is absolute; its directory is created when missing. Never
    // throws: a store that cannot be opened yet is unhealthy and retries.
    // `clock`: expiry (wall) and retry backoff (steady); tests move it.
    explicit SqliteStore(std::string path,
                         std::shared_ptr<const Clock> clock = std::make_shared<SystemClock>());
    ~SqliteStore() override;
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    [[nodiscard]] std::string name() const override;
    // Unexpired verdicts, most recently written first.
    std::vector<StoredVerdict> load(std::size_t max) override;
    std::optional<StoredVerdict> get(const std::string& domain) override;
    // One transaction for the batch; expired verdicts are skipped, and
    // expired rows are deleted every 10 minutes.
    void put(const std::vector<StoredVerdict>& verdicts) override;
    std::optional<std::string> get_policy(const std::string& domain) override;
    void put_policy(const std::string& domain, const std::string& record,
                    std::chrono::system_clock::time_point expires) override;
    bool erase(const std::string& domain) override;
    // One transaction: UPSERT every row, then delete days before the last
    // `keep_days`.
    bool add_counts(const std::vector<report::CountRow>& rows, unsigned keep_days) override;
    std::optional<std::vector<report::CountRow>> read_counts(const std::string& first_day,
                                                             const std::string& last_day) override;
    [[nodiscard]] bool healthy() const override { return healthy_.load(); }
    [[nodiscard]] std::uint64_t errors() const override { return errors_.load(); }

  private:
    struct Db;
    enum class Opened { ok, corrupt, failed };

    bool ready_locked();
    bool same_file_locked(std::string& why);
    void remember_file_locked();
    bool open_locked(std::string& why);
    Opened try_open(std::string& why);
    bool move_aside(std::string& why);
    void failed_locked(const std::string& what, const std::string& why);
    void succeeded_locked();
    [[nodiscard]] std::int64_t wall_seconds() const;

    const std::string path_;
    const std::shared_ptr<const Clock> clock_;
    std::atomic<bool> healthy_{true};
    std::atomic<std::uint64_t> errors_{0};

    std::mutex mu_;
    std::unique_ptr<Db> db_;  // null while closed (unhealthy, waiting to retry)
    Clock::time_point next_try_{};
    std::chrono::milliseconds retry_delay_;
    std::int64_t last_purge_ = 0;  // wall seconds
    // The file db_ has open (same_file_locked): device, inode, and the size
    // and mtime its header was last checked at.
    struct FileId {
        unsigned long long dev = 0, ino = 0;
        long long size = -1, mtime_ns = -1;
    } file_{};
};

}  // namespace dsm::cache
