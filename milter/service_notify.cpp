#include "milter/service_notify.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string_view>

namespace dsm::milter {

namespace {

// sd_notify() returns 0 when NOTIFY_SOCKET is unset: nothing to report. An
// error means systemd will not see the state change (a Type=notify start then
// times out), which the administrator must be able to find in the log.
void send(const std::string& message, const char* what) {
    // unset_environment = 0: every later call needs NOTIFY_SOCKET too.
    const int rc = sd_notify(0, message.c_str());
    if (rc < 0) {
        spdlog::warn("sd_notify={} error=\"{}\"", what, std::strerror(-rc));
    } else if (rc > 0 && std::string_view(what) != "watchdog") {
        // Not the pings: at debug level they would bury everything else.
        spdlog::debug("sd_notify={}", what);
    }
}

std::uint64_t monotonic_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000U +
           static_cast<std::uint64_t>(ts.tv_nsec) / 1000U;
}

}  // namespace

std::string service_status(const Runtime& runtime) {
    const auto cfg = runtime.config.load();
    return "socket=" + cfg->milter.socket +
           " connectors=" + std::to_string(cfg->connectors.connectors().size()) +
           " store=" + (runtime.store ? runtime.store->name() : std::string("memory"));
}

void notify_ready(const std::string& status) {
    send("READY=1\nSTATUS=" + status, "ready");
}

void notify_reloading() {
    send("RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()),
         "reloading");
}

void notify_stopping(const std::string& status) {
    static std::atomic<bool> sent{false};
    if (!sent.exchange(true)) {
        send("STOPPING=1\nSTATUS=" + status, "stopping");
    }
}

Watchdog::Watchdog(std::function<bool()> healthy) : healthy_(std::move(healthy)) {
    std::uint64_t usec = 0;
    // Checks WATCHDOG_PID against getpid(): a child that inherited the
    // variables must not ping for its parent.
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) {
        return;
    }
    // Half the timeout (sd_watchdog_enabled(3)): one late ping is no restart.
    const auto interval = std::chrono::microseconds(usec / 2);
    spdlog::info("watchdog interval_ms={}",
                 std::chrono::duration_cast<std::chrono::milliseconds>(interval).count());
    thread_ = std::thread([this, interval] { run(interval); });
}

Watchdog::~Watchdog() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Watchdog::run(std::chrono::microseconds interval) {
    bool withheld = false;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        if (healthy_()) {
            if (withheld) {
                spdlog::info("watchdog=resumed");
                withheld = false;
            }
            send("WATCHDOG=1", "watchdog");
        } else if (!withheld) {
            // Said once per episode: the log must not fill while systemd
            // counts down to the restart.
            spdlog::error("watchdog=withheld reason=unhealthy");
            withheld = true;
        }
        lock.lock();
        wake_.wait_for(lock, interval, [this] { return stopping_; });
    }
}

}  // namespace dsm::milter
