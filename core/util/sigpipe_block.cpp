#include "core/util/sigpipe_block.hpp"

#include <pthread.h>

#include <ctime>

namespace dsm::util {

SigpipeBlock::SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
}

SigpipeBlock::~SigpipeBlock() {
    // Discard a SIGPIPE raised meanwhile, unless the caller had it blocked
    // already (then it is the caller's to handle).
    if (sigismember(&old_, SIGPIPE) == 0) {
        sigset_t pending;
        sigemptyset(&pending);
        if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
            const timespec zero{};
            sigtimedwait(&pipe_, nullptr, &zero);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

}  // namespace dsm::util
