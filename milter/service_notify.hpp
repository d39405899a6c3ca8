// systemd Type=notify (SPEC §8): what the service manager is told, through
// sd_notify(3). Every call is a no-op when NOTIFY_SOCKET is unset (started by
// hand, by a test or by a Type=simple unit), so the milter runs the same
// anywhere.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "milter/runtime.hpp"

namespace dsm::milter {

// "socket=… connectors=N store=…": STATUS= text, shown by `systemctl status`.
std::string service_status(const Runtime& runtime);

// READY=1: the milter socket listens, the policy map and metrics listeners
// are up and privileges are dropped; also ends a reload.
void notify_ready(const std::string& status);
// RELOADING=1 with MONOTONIC_USEC= (systemd >= 253 requires it for
// Type=notify-reload, older ones ignore it); READY=1 must follow.
void notify_reloading();
// STOPPING=1, sent once however often it is called (a signal, then the end
// of smfi_main()).
void notify_stopping(const std::string& status);

// WATCHDOG=1 every half WATCHDOG_USEC while `healthy()` holds, from its own
// thread; does nothing unless the service manager set a watchdog for this
// process (WatchdogSec=, sd_watchdog_enabled(3)). A daemon that stopped
// being healthy stops pinging, and systemd restarts it. Stops when destroyed.
class Watchdog {
  public:
    explicit Watchdog(std::function<bool()> healthy);
    ~Watchdog();
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

  private:
    void run(std::chrono::microseconds interval);

    std::function<bool()> healthy_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace dsm::milter
