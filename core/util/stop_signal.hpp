// A "the process is stopping" signal that poll() can wait on beside a
// socket: the read end of a pipe, readable for good once raise() is called
// (the byte is never read). Network I/O that polls it ends at once when the
// milter stops instead of waiting out its own timeout (SPEC §8 SIGTERM).
#pragma once

#include <atomic>

namespace dsm::util {

class StopSignal {
  public:
    // Without a pipe (descriptors exhausted) fd() is -1: nothing is cut
    // short, and the I/O keeps only its own timeouts.
    StopSignal();
    ~StopSignal();
    StopSignal(const StopSignal&) = delete;
    StopSignal& operator=(const StopSignal&) = delete;

    // Idempotent; safe from any thread.
    void raise();
    [[nodiscard]] bool raised() const { return raised_.load(); }
    // Readable once raised (POLLIN); -1 when there is no pipe.
    [[nodiscard]] int fd() const { return read_; }

  private:
    int read_ = -1;
    int write_ = -1;
    std::atomic<bool> raised_{false};
};

}  // namespace dsm::util
