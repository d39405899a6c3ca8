// SIGHUP reloads the configuration (SPEC §2, §8); libmilter keeps SIGTERM and
// SIGINT (stop).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "milter/runtime.hpp"

namespace dsm::milter {

// Blocks SIGHUP, SIGTERM and SIGINT in the calling thread; call before any
// thread starts so that every thread inherits the mask. libmilter's signal
// thread then takes SIGTERM/SIGINT with sigwait() (it only blocks them in the
// thread that calls smfi_main()); a thread started earlier with them
// unblocked would die of the default action instead.
void block_signals();

// Waits for SIGHUP and reloads `config_path` into `runtime`: the whole file is
// validated first and swapped atomically; transactions in flight keep their
// snapshot; a bad file is logged and the old configuration stays. The log
// target is reopened (logrotate). Stops when destroyed.
class Reloader {
  public:
    Reloader(Runtime& runtime, std::string config_path);
    ~Reloader();
    Reloader(const Reloader&) = delete;
    Reloader& operator=(const Reloader&) = delete;

  private:
    void run();
    // True when the new configuration is in force, false when it was refused.
    bool reload();

    Runtime& runtime_;
    std::string path_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace dsm::milter
