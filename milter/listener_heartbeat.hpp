// Whether libmilter's accept loop still turns, for the systemd watchdog
// (milter/service_notify.hpp): a process whose threads are alive but whose
// listener is stuck takes no new connection and must be restarted.
//
// libmilter gives no hook into that loop. It does wake at least every
// MI_CHK_TIME (5 s) to look for a stop, in poll() called through the PLT from
// the thread that called smfi_main(); the poll() interposer in the .cpp
// stamps the time of each such call, and caps its wait at 200 ms so that
// the loop sees a stop within that time instead of up to 5 s.
#pragma once

#include <chrono>

namespace dsm::milter {

// Three of libmilter's 5 s wake-ups missed: stuck, not merely busy.
inline constexpr std::chrono::seconds kListenerStallBound{15};

// Call in the thread that is about to call smfi_main(): from now on its
// poll() calls are the heartbeat.
void arm_listener_heartbeat();

// Time since that thread last entered poll() (or since arming).
std::chrono::milliseconds listener_idle();

// listener_idle() < kListenerStallBound.
inline bool listener_alive() {
    return listener_idle() < kListenerStallBound;
}

}  // namespace dsm::milter
