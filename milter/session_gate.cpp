#include "milter/session_gate.hpp"

#include <spdlog/spdlog.h>

#include <thread>

namespace dsm::milter {

namespace {
constexpr auto kPoll = std::chrono::milliseconds(10);

template <typename Done>
bool wait_until(Done done, std::chrono::milliseconds bound) {
    const auto until = std::chrono::steady_clock::now() + bound;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= until) {
            return false;
        }
        std::this_thread::sleep_for(kPoll);
    }
    return true;
}
}  // namespace

bool SessionGate::enter() {
    // Counted before the check: close() sets closed_ and then waits for the
    // count, so a callback either sees closed_ or is waited for.
    ++in_callback_;
    if (closed_) {
        --in_callback_;
        return false;
    }
    return true;
}

void SessionGate::leave() {
    --in_callback_;
}

bool SessionGate::wait_for_transactions(std::chrono::milliseconds bound) const {
    return wait_until([this] { return transactions_.load() <= 0; }, bound);
}

bool SessionGate::drain() {
    begin_drain();
    const long open = open_transactions();
    if (open <= 0) {
        return true;
    }
    if (waited_.exchange(true)) {
        // The sigwait() interposer waited already (and timed out: the MTA
        // retries what is left); waiting again would only delay the stop.
        return false;
    }
    const auto bound = drain_bound();
    spdlog::info("stopping: waiting up to {} ms for transactions={} to finish", bound.count(),
                 open);
    if (!wait_for_transactions(bound)) {
        spdlog::warn("stopping: transactions={} still open after {} ms; the MTA retries them",
                     open_transactions(), bound.count());
        return false;
    }
    spdlog::info("stopping: every transaction finished");
    return true;
}

bool SessionGate::close(std::chrono::milliseconds bound) {
    closed_ = true;
    return wait_until([this] { return in_callback_.load() <= 0; }, bound);
}

SessionGate& session_gate() {
    static SessionGate gate;
    return gate;
}

}  // namespace dsm::milter
