// Keeps a peer's reset from killing the process with SIGPIPE during network
// I/O whose writes cannot ask for MSG_NOSIGNAL (OpenSSL's write(), Poco's
// sockets). SIGPIPE is thread-directed: it is blocked in the calling thread
// for the object's lifetime and one that became pending meanwhile is
// discarded, without touching process-wide signal dispositions.
#pragma once

#include <signal.h>

namespace dsm::util {

class SigpipeBlock {
  public:
    SigpipeBlock();
    ~SigpipeBlock();
    SigpipeBlock(const SigpipeBlock&) = delete;
    SigpipeBlock& operator=(const SigpipeBlock&) = delete;

  private:
    sigset_t pipe_{};
    sigset_t old_{};
};

}  // namespace dsm::util
