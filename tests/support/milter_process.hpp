// Runs the built dane-sts-milter binary for a test: writes its config, starts
// it, and stops it by pid (never by name).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace dsm::test {

class MilterProcess {
  public:
    // `config_body` is the milter.conf text; "@PORT@", "@TESTBED@", "@LOG@",
    // "@NET@" (the test-bed network, testbed_net.hpp) and "@DIR@" (this
    // process's directory) are replaced. Starts the milter and waits (bounded)
    // until it listens.
    MilterProcess(const std::string& binary, const std::string& config_body);
    ~MilterProcess();
    MilterProcess(const MilterProcess&) = delete;
    MilterProcess& operator=(const MilterProcess&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] const std::string& dir() const { return dir_; }
    [[nodiscard]] std::string log() const;  // the milter's log so far
    [[nodiscard]] bool running() const;
    // SIGTERM, then waits (bounded); the exit status as waitpid() reports it,
    // -1 if it had to be killed or was already gone.
    int stop();
    // Sends `sig` (by pid); false when the process is gone.
    bool signal(int sig);
    // Waits at most `bound` for the process to exit: the status as waitpid()
    // reports it, -1 if it is still running (or was already reaped).
    int wait_exit(std::chrono::milliseconds bound);
    // Rewrites milter.conf (same placeholders) and sends SIGHUP; waits
    // (bounded) until the log grows a line containing `expect`.
    bool reload(const std::string& config_body, const std::string& expect);

  private:
    [[nodiscard]] std::string render(const std::string& body) const;

    std::string dir_;
    std::uint16_t port_ = 0;
    mutable pid_t pid_ = -1;  // -1 once reaped
};

// A TCP port on 127.0.0.1 that nothing listens on right now.
std::uint16_t free_port();

// $DSM_TESTBED_DIR; throws when unset.
std::string testbed_dir();

}  // namespace dsm::test
