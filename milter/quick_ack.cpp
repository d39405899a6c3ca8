// libmilter reads the MTA's packets itself (read(2) through the PLT, like the
// sigwait() of signals.cpp): these definitions in the executable interpose
// accept(), read() and close() for the whole process. They only watch for the
// milter listener's connections and otherwise pass every call straight on.
//
// Why TCP_QUICKACK after each read: Linux leaves "quick ACK" mode as soon as a
// connection looks interactive (we answer soon after reading), and from then
// on delays each ACK by up to 40 ms hoping to piggyback it on a reply. A
// milter packet that gets no reply (macros; a step negotiated away) then stays
// unacknowledged, and the MTA, which writes without TCP_NODELAY, may not send
// its next small packet before that ACK (Nagle, RFC 896; RFC 1122 §4.2.3.4).
// Setting TCP_QUICKACK sends the pending ACK now. It is not sticky, hence once
// per read. It costs one system call per read on milter connections only.
#include "milter/quick_ack.hpp"

#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstddef>

namespace {

std::atomic<int> g_listener{-1};

}  // namespace

// Not in the ThreadSanitizer build (DSM_TSAN): these definitions would
// interpose accept(), read() and close() for the TSan runtime too, whose
// symbolizer calls close() while it holds its own locks to print a report
// (an instrumented access here then waited for those locks forever: every
// thread stuck, the milter never exiting); and TSan would see this file,
// not libmilter or Poco, as the caller of every close(), so that
// tests/tsan.supp could no longer tell Poco's closes apart. They only touch
// atomics; quick ACKs are a latency matter that TSan has nothing to check in.
#if !defined(__SANITIZE_THREAD__)
namespace {

// Descriptors accepted on the listener and not closed since. Beyond the table
// (a process with 65,536 open files) connections just go without quick ACKs.
constexpr int kTracked = 1 << 16;
std::array<std::atomic<bool>, kTracked> g_session{};

bool tracked(int fd) {
    return fd >= 0 && fd < kTracked;
}

template <typename Fn>
Fn next_definition(const char* name) {
    return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

int accept(int fd, sockaddr* addr, socklen_t* len) {
    using Fn = int (*)(int, sockaddr*, socklen_t*);
    static const Fn real = next_definition<Fn>("accept");
    const int s = real(fd, addr, len);
    if (tracked(s) && fd == g_listener.load(std::memory_order_relaxed)) {
        g_session[static_cast<std::size_t>(s)].store(true, std::memory_order_relaxed);
    }
    return s;
}

ssize_t read(int fd, void* buf, size_t count) {
    using Fn = ssize_t (*)(int, void*, size_t);
    static const Fn real = next_definition<Fn>("read");
    const ssize_t n = real(fd, buf, count);
    if (n > 0 && tracked(fd) &&
        g_session[static_cast<std::size_t>(fd)].load(std::memory_order_relaxed)) {
        const int one = 1;
        static_cast<void>(setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one));
    }
    return n;
}

int close(int fd) {
    using Fn = int (*)(int);
    static const Fn real = next_definition<Fn>("close");
    if (tracked(fd)) {
        g_session[static_cast<std::size_t>(fd)].store(false, std::memory_order_relaxed);
    }
    return real(fd);
}

}  // extern "C"
#endif

namespace dsm::milter {

void quick_ack_sessions_of(int listener_fd) {
    g_listener.store(listener_fd, std::memory_order_relaxed);
}

}  // namespace dsm::milter
