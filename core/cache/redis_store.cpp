#include "core/cache/redis_store.hpp"
#include "core/util/sigpipe_block.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Redis/Array.h>
#include <Poco/Redis/Client.h>
#include <Poco/Redis/Error.h>
#include <Poco/Redis/Type.h>
#include <Poco/Timespan.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <utility>

namespace dsm::cache {

namespace {

using Poco::Redis::Array;
using Poco::Redis::BulkString;
using SteadyClock = std::chrono::steady_clock;

// Below this, a retry on a fresh connection could not finish in time.
constexpr std::chrono::milliseconds kRetryMinimum{20};

Poco::Timespan timespan(std::chrono::milliseconds ms) {
    const auto us = std::chrono::microseconds(std::max<std::int64_t>(1000, ms.count() * 1000));
    return {static_cast<long>(us.count() / 1'000'000), static_cast<long>(us.count() % 1'000'000)};
}

std::chrono::milliseconds remaining(SteadyClock::time_point deadline) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
}

}  // namespace

struct RedisStore::Conn {
    Poco::Redis::Client client;
    bool used = false;  // has answered a command (a failure may just be staleness)
};

RedisStore::RedisStore(RedisTarget target, std::shared_ptr<const Clock> clock,
                       RedisTimeouts timeouts)
    : target_(std::move(target)),
      clock_(std::move(clock)),
      timeouts_(timeouts),
      backoff_(timeouts_.backoff_min) {
    const std::lock_guard lock(mu_);
    const util::SigpipeBlock no_sigpipe;
    std::string why;
    if (!connect_locked(SteadyClock::now() + timeouts_.get_budget, why)) {
        failed_locked("connect", why);
    }
}

RedisStore::~RedisStore() {
    // Closing may flush what a failed write left buffered.
    const util::SigpipeBlock no_sigpipe;
    conn_.reset();
}

std::string RedisStore::name() const {
    const bool v6 = target_.host.find(':') != std::string::npos;
    return "redis://" + (v6 ? "[" + target_.host + "]" : target_.host) + ":" +
           std::to_string(target_.port) + "/" + std::to_string(target_.db);
}

void RedisStore::failed_locked(const char* what, const std::string& why) {
    ++errors_;
    conn_.reset();
    next_try_ = clock_->now() + backoff_;
    backoff_ = std::min(backoff_ * 2, timeouts_.backoff_max);
    // key=value, like the decision lines (SPEC §4); the error is one quoted
    // value. Logged once per failing spell, then at debug.
    std::string error = why;
    std::replace_if(
        error.begin(), error.end(), [](char c) { return c == '"' || c == '\n' || c == '\r'; },
        '\'');
    if (healthy_.exchange(false)) {
        spdlog::warn(
            "store={} store_state=failed op={} error=\"{}\" retry_in_ms={}: carrying on in memory, "
            "mail is not affected",
            name(), what, error,
            std::chrono::duration_cast<std::chrono::milliseconds>(next_try_ - clock_->now())
                .count());
    } else {
        spdlog::debug("store={} store_state=failed op={} error=\"{}\" again", name(), what, error);
    }
}

void RedisStore::succeeded_locked() {
    backoff_ = timeouts_.backoff_min;
    if (!healthy_.exchange(true)) {
        spdlog::info("store={} store_state=recovered", name());
    }
}

bool RedisStore::connect_locked(Deadline deadline, std::string& why) {
    conn_.reset();
    const auto left = remaining(deadline);
    if (left <= std::chrono::milliseconds(0)) {
        why = "no time left to connect";
        return false;
    }
    try {
        auto conn = std::make_unique<Conn>();
        conn->client.connect(Poco::Net::SocketAddress(target_.host, target_.port),
                             timespan(std::min(timeouts_.connect, left)));
        if (target_.db != 0) {
            conn->client.setReceiveTimeout(timespan(std::min(timeouts_.io, remaining(deadline))));
            Array select;
            select << "SELECT" << std::to_string(target_.db);
            const auto ok = conn->client.execute<std::string>(select);
            if (ok != "OK") {
                why = "SELECT " + std::to_string(target_.db) + ": " + ok;
                return false;
            }
        }
        conn_ = std::move(conn);
        return true;
    } catch (const Poco::Exception& e) {
        why = e.displayText();
    } catch (const std::exception& e) {
        why = e.what();
    }
    return false;
}

// Runs `op(client)` on a live connection within `deadline`. False when the
// store is in backoff or the call failed (then recorded by failed_locked).
template <typename Op>
bool RedisStore::run_locked(const char* what, Deadline deadline, Op&& op) {
    if (!conn_) {
        if (clock_->now() < next_try_) {
            return false;
        }
        std::string why;
        if (!connect_locked(deadline, why)) {
            failed_locked("connect", why);
            return false;
        }
    }
    for (;;) {
        const bool reused = conn_->used;
        const auto started = SteadyClock::now();
        bool slow = false;
        std::string why;
        try {
            conn_->client.setReceiveTimeout(timespan(std::min(
                timeouts_.io, std::max(remaining(deadline), std::chrono::milliseconds(1)))));
            op(conn_->client);
            conn_->used = true;
            succeeded_locked();
            return true;
        } catch (const Poco::TimeoutException& e) {
            why = e.displayText();
            slow = true;
        } catch (const Poco::Exception& e) {
            why = e.displayText();
        } catch (const std::exception& e) {
            why = e.what();
        }
        // A connection that worked before may have been closed under us
        // (restart, idle timeout): that fails at once, and earns one fresh
        // try if there is time for it. A slow server does not: asking again
        // would only double the stall.
        if (!slow && SteadyClock::now() - started >= timeouts_.io / 2) {
            // Poco's stream turns a receive timeout into "lost connection".
            slow = true;
            why.insert(0, "no answer in time (");
            why += ')';
        }
        if (!reused || slow || remaining(deadline) < kRetryMinimum) {
            failed_locked(what, why);
            return false;
        }
        std::string connect_why;
        if (!connect_locked(deadline, connect_why)) {
            why += "; reconnect: ";
            why += connect_why;
            failed_locked(what, why);
            return false;
        }
    }
}

std::vector<StoredVerdict> RedisStore::load(std::size_t /*max*/) {
    return {};
}

std::optional<std::string> RedisStore::get_key(const std::string& key) {
    const auto deadline = SteadyClock::now() + timeouts_.get_budget;
    std::unique_lock lock(mu_, std::defer_lock);
    if (!lock.try_lock_until(deadline)) {
        return std::nullopt;  // another call holds the connection: a miss
    }
    const util::SigpipeBlock no_sigpipe;
    BulkString value;
    const bool ok = run_locked("GET", deadline, [&](Poco::Redis::Client& c) {
        Array cmd;
        cmd << "GET" << key;
        value = c.execute<BulkString>(cmd);
    });
    if (!ok || value.isNull()) {
        return std::nullopt;
    }
    return value.value();
}

std::optional<StoredVerdict> RedisStore::get(const std::string& domain) {
    const auto record = get_key(key_for(domain));
    if (!record) {
        return std::nullopt;
    }
    // A record of another version, or of a clock ahead of ours, is a miss.
    auto v = decode_verdict(*record);
    if (!v || v->verdict.domain != domain || v->expires <= clock_->wall()) {
        return std::nullopt;
    }
    return v;
}

std::optional<std::string> RedisStore::get_policy(const std::string& domain) {
    return get_key(kPolicyKeyPrefix + domain);
}

void RedisStore::put(const std::vector<StoredVerdict>& verdicts) {
    const auto wall = clock_->wall();
    std::vector<Array> commands;
    commands.reserve(verdicts.size());
    for (const auto& v : verdicts) {
        if (v.expires > wall) {
            commands.push_back(
                set_command(key_for(v.verdict.domain), encode_verdict(v), v.expires, wall));
        }
    }
    set_all(commands);
}

void RedisStore::put_policy(const std::string& domain, const std::string& record,
                            std::chrono::system_clock::time_point expires) {
    const auto wall = clock_->wall();
    if (expires > wall) {
        set_all({set_command(kPolicyKeyPrefix + domain, record, expires, wall)});
    }
}

// SET with EX = the rest of the lifetime, so Redis expires the key itself.
Poco::Redis::Array RedisStore::set_command(const std::string& key, const std::string& value,
                                           std::chrono::system_clock::time_point expires,
                                           std::chrono::system_clock::time_point wall) {
    const auto ttl =
        std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(expires - wall).count());
    Array cmd;
    cmd << "SET" << key << value << "EX" << std::to_string(ttl);
    return cmd;
}

void RedisStore::set_all(const std::vector<Poco::Redis::Array>& commands) {
    if (commands.empty()) {
        return;
    }
    const auto deadline = SteadyClock::now() + timeouts_.put_budget;
    std::unique_lock lock(mu_, std::defer_lock);
    if (!lock.try_lock_until(deadline)) {
        ++errors_;  // dropped writes are worth a metric; the state is unchanged
        return;
    }
    const util::SigpipeBlock no_sigpipe;
    run_locked("SET", deadline, [&](Poco::Redis::Client& c) {
        // Pipelined: all SETs in one write, then all replies.
        const Array replies = c.sendCommands(commands);
        for (std::size_t i = 0; i < replies.size(); ++i) {
            if (replies.getType(i) == Poco::Redis::RedisType::REDIS_ERROR) {
                throw Poco::Redis::RedisException(replies.get<Poco::Redis::Error>(i).getMessage());
            }
        }
    });
}

bool RedisStore::erase(const std::string& domain) {
    const auto deadline = SteadyClock::now() + timeouts_.put_budget;
    std::unique_lock lock(mu_, std::defer_lock);
    if (!lock.try_lock_until(deadline)) {
        return false;
    }
    const util::SigpipeBlock no_sigpipe;
    return run_locked("DEL", deadline, [&](Poco::Redis::Client& c) {
        Array cmd;
        cmd << "DEL" << key_for(domain) << kPolicyKeyPrefix + domain;
        c.execute<Poco::Int64>(cmd);
    });
}

std::string RedisStore::count_field(const report::CountKey& k) {
    return k.connector + "|" + k.domain + "|" + std::string(report::to_string(k.view)) + "|" +
           std::string(report::to_string(k.outcome)) + "|" + k.cause;
}

std::optional<report::CountKey> RedisStore::parse_count_field(const std::string& day,
                                                              const std::string& field) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
        const std::size_t bar = field.find('|', start);
        parts.push_back(field.substr(start, bar - start));
        if (bar == std::string::npos) {
            break;
        }
        start = bar + 1;
    }
    if (parts.size() != 5) {
        return std::nullopt;
    }
    const auto view = report::parse_view(parts[2]);
    const auto outcome = report::parse_outcome(parts[3]);
    if (!view || !outcome) {
        return std::nullopt;
    }
    return report::CountKey{day, parts[0], parts[1], *view, *outcome, parts[4]};
}

bool RedisStore::add_counts(const std::vector<report::CountRow>& rows, unsigned keep_days) {
    if (rows.empty()) {
        return true;
    }
    // Each day's hash expires (keep_days + 1) days after its last write:
    // whatever a report of the last keep_days days asks for is still there.
    const std::string ttl = std::to_string((static_cast<std::uint64_t>(keep_days) + 1) * 86400);
    std::vector<Array> commands;
    std::vector<std::string> days;
    for (const auto& r : rows) {
        Array cmd;
        cmd << "HINCRBY" << kCountsKeyPrefix + r.key.day << count_field(r.key)
            << std::to_string(r.count);
        commands.push_back(std::move(cmd));
        if (std::find(days.begin(), days.end(), r.key.day) == days.end()) {
            days.push_back(r.key.day);
        }
    }
    for (const auto& day : days) {
        Array cmd;
        cmd << "EXPIRE" << kCountsKeyPrefix + day << ttl;
        commands.push_back(std::move(cmd));
    }
    const auto deadline = SteadyClock::now() + timeouts_.put_budget;
    std::unique_lock lock(mu_, std::defer_lock);
    if (!lock.try_lock_until(deadline)) {
        ++errors_;
        return false;
    }
    const util::SigpipeBlock no_sigpipe;
    return run_locked("HINCRBY", deadline, [&](Poco::Redis::Client& c) {
        const Array replies = c.sendCommands(commands);
        for (std::size_t i = 0; i < replies.size(); ++i) {
            if (replies.getType(i) == Poco::Redis::RedisType::REDIS_ERROR) {
                throw Poco::Redis::RedisException(replies.get<Poco::Redis::Error>(i).getMessage());
            }
        }
    });
}

std::optional<std::vector<report::CountRow>> RedisStore::read_counts(const std::string& first_day,
                                                                     const std::string& last_day) {
    std::vector<std::string> days;
    for (std::optional<std::string> d = first_day; d && *d <= last_day && days.size() <= 366;
         d = report::add_days(*d, 1)) {
        days.push_back(*d);
    }
    // Not on the RCPT path (--report): a generous budget for big hashes.
    const auto deadline = SteadyClock::now() + std::chrono::seconds(10);
    std::unique_lock lock(mu_, std::defer_lock);
    if (!lock.try_lock_until(deadline)) {
        return std::nullopt;
    }
    const util::SigpipeBlock no_sigpipe;
    std::vector<report::CountRow> out;
    const bool ok = run_locked("HGETALL", deadline, [&](Poco::Redis::Client& c) {
        out.clear();
        for (const auto& day : days) {
            Array cmd;
            cmd << "HGETALL" << kCountsKeyPrefix + day;
            const auto reply = c.execute<Array>(cmd);
            if (reply.isNull()) {
                continue;  // Poco's empty array: no counts that day
            }
            for (std::size_t i = 0; i + 1 < reply.size(); i += 2) {
                const auto field = reply.get<BulkString>(i);
                const auto value = reply.get<BulkString>(i + 1);
                if (field.isNull() || value.isNull()) {
                    continue;
                }
                auto key = parse_count_field(day, field.value());
                std::uint64_t n = 0;
                try {
                    n = std::stoull(value.value());
                } catch (const std::exception&) {
                    continue;
                }
                if (key) {
                    out.push_back(report::CountRow{std::move(*key), n});
                }
            }
        }
    });
    if (!ok) {
        return std::nullopt;
    }
    return out;
}

}  // namespace dsm::cache
