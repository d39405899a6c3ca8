// Per-connection state, owned through smfi_setpriv and freed in xxfi_close.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/config/config.hpp"
#include "milter/session_gate.hpp"

namespace dsm::milter {

struct VerdictHeader {
    std::string domain;
    std::string value;  // folded header value
};

struct Session;

// Every live Session. libmilter's worker pool drops the connections still open
// when it stops without calling xxfi_close; their Sessions are freed by
// release_remaining_sessions() once the gate is closed.
struct SessionRegistry {
    std::mutex mutex;
    std::unordered_set<Session*> live;
};
inline SessionRegistry& session_registry() {
    static SessionRegistry r;
    return r;
}

// Counted in the shutdown gate while it lives (negotiate..close) and while a
// transaction is open (MAIL..EOM/abort/close), so SIGTERM can let it finish.
struct Session {
    Session() {
        auto& r = session_registry();
        const std::lock_guard lock(r.mutex);
        r.live.insert(this);
        session_gate().session_opened();
    }
    ~Session() {
        end_transaction();
        auto& r = session_registry();
        const std::lock_guard lock(r.mutex);
        r.live.erase(this);
        session_gate().session_closed();
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Taken at MAIL FROM: the whole transaction decides with one snapshot.
    std::shared_ptr<const config::Config> config;
    std::string sender_domain;
    std::vector<VerdictHeader> headers;  // one per accepted recipient domain
    int forged_headers = 0;              // incoming headers with our name
    bool in_transaction = false;

    void begin_transaction() {
        if (!in_transaction) {
            in_transaction = true;
            session_gate().transaction_started();
        }
    }
    void end_transaction() {
        if (in_transaction) {
            in_transaction = false;
            session_gate().transaction_ended();
        }
    }
    void reset_transaction() {
        end_transaction();
        config.reset();
        sender_domain.clear();
        headers.clear();
        forged_headers = 0;
    }
};

// Only after SessionGate::close() succeeded: no callback can reach them then.
inline void release_remaining_sessions() {
    std::unordered_set<Session*> left;
    {
        auto& r = session_registry();
        const std::lock_guard lock(r.mutex);
        left.swap(r.live);
    }
    for (Session* s : left) {
        delete s;
    }
}

}  // namespace dsm::milter
