// Shutdown that lets in-flight transactions finish (SPEC §8: "SIGTERM stops
// cleanly (in-flight transactions finish, the store is flushed)").
//
// libmilter cannot be asked to: on SIGTERM its signal thread sets MILTER_STOP,
// and Debian's libmilter (built with _FFR_WORKERS_POOL) then has its pool
// controller close every session socket at its next wake-up, idle or in the
// middle of a transaction, without xxfi_abort/xxfi_close; smfi_main() returns
// without waiting for the workers still inside a callback. So the stop is
// held back: the sigwait() interposer (milter/signals.cpp) calls drain()
// before handing SIGTERM to libmilter. drain() refuses new transactions (MAIL
// answers 451 4.3.2) and waits, at most [rcpt] lookup_timeout_ms + kDrainGrace,
// for the open ones to end (EOM, abort or close). After smfi_main() returns,
// main() closes the gate: callbacks still running are waited for, later ones
// answer tempfail without touching the Runtime, which can then be destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>

namespace dsm::milter {

// An RCPT waits at most lookup_timeout_ms; the MTA needs a little longer to
// pass the rest of the message.
inline constexpr std::chrono::seconds kDrainGrace{5};

class SessionGate {
  public:
    // Around every callback: false once closed (answer tempfail, touch nothing).
    bool enter();
    void leave();

    // Connection (negotiate..close) and transaction (MAIL..EOM/abort) counts.
    void session_opened() { ++sessions_; }
    void session_closed() { --sessions_; }
    void transaction_started() { ++transactions_; }
    void transaction_ended() { --transactions_; }
    [[nodiscard]] long live_sessions() const { return sessions_.load(); }
    [[nodiscard]] long open_transactions() const { return transactions_.load(); }

    // From now on new transactions are refused (MAIL answers tempfail).
    void begin_drain() { draining_ = true; }
    [[nodiscard]] bool draining() const { return draining_.load(); }

    // The drain bound follows [rcpt] lookup_timeout_ms (set at start and on
    // reload): lookup_timeout + kDrainGrace.
    void set_lookup_timeout(std::chrono::milliseconds t) {
        bound_ms_ = std::chrono::milliseconds(t + kDrainGrace).count();
    }
    [[nodiscard]] std::chrono::milliseconds drain_bound() const {
        return std::chrono::milliseconds(bound_ms_.load());
    }
    // begin_drain() and wait, at most drain_bound(), for the open
    // transactions; logs what it waits for. True when none is left. The
    // stop waits once: a later call (main() after smfi_main() returned)
    // only reports.
    bool drain();

    // Waits until no transaction is open or `bound` passes; true if none is.
    bool wait_for_transactions(std::chrono::milliseconds bound) const;
    // Refuses every later callback and waits (at most `bound`) for those
    // running; true when none runs any more.
    bool close(std::chrono::milliseconds bound);

  private:
    std::atomic<long> sessions_{0};
    std::atomic<long> transactions_{0};
    std::atomic<long> in_callback_{0};
    std::atomic<bool> draining_{false};
    std::atomic<bool> waited_{false};
    std::atomic<bool> closed_{false};
    std::atomic<long> bound_ms_{8000};
};

// The process's gate: libmilter's threads may outlive main()'s locals, so it
// is a static with a trivial destructor that is never torn down under them.
SessionGate& session_gate();

}  // namespace dsm::milter
