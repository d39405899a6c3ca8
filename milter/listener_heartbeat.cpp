#include "milter/listener_heartbeat.hpp"

#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kListenerSliceMs = 200;

std::atomic<bool> armed{false};
std::atomic<pthread_t> listener_thread{};
std::atomic<std::int64_t> last_poll_ns{0};

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

}  // namespace

// Interposes libc's poll() for the whole process, as milter/signals.cpp does
// sigwait(): libmilter calls it through the PLT. Every other caller (libunbound,
// Poco, hiredis) only pays for one relaxed load; the listener thread also
// stamps the time.
//
// Not instrumented by ThreadSanitizer (the DSM_TSAN build): the TSan runtime
// calls poll() too, and must not re-enter instrumented code from there (see
// milter/quick_ack.cpp). No effect in other builds.
extern "C" __attribute__((no_sanitize("thread"))) int poll(struct pollfd* fds, nfds_t nfds,
                                                           int timeout) {
    using Fn = int (*)(struct pollfd*, nfds_t, int);
    static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "poll"));
    if (armed.load(std::memory_order_relaxed) &&
        pthread_equal(pthread_self(), listener_thread.load(std::memory_order_relaxed)) != 0) {
        last_poll_ns.store(now_ns(), std::memory_order_relaxed);
        // libmilter's accept loop sees smfi_stop() only when its poll returns
        // (MI_CHK_TIME, 5 s) and takes an early return for a timeout: waiting
        // in slices makes a stop (SIGTERM, systemctl restart) that much
        // quicker, for one wake-up of one thread per slice.
        if (timeout < 0 || timeout > kListenerSliceMs) {
            timeout = kListenerSliceMs;
        }
    }
    return real(fds, nfds, timeout);
}

namespace dsm::milter {

void arm_listener_heartbeat() {
    last_poll_ns.store(now_ns());
    listener_thread.store(pthread_self());
    armed.store(true);
}

std::chrono::milliseconds listener_idle() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::nanoseconds(now_ns() - last_poll_ns.load()));
}

}  // namespace dsm::milter
