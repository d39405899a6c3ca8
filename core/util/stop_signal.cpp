#include "core/util/stop_signal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace dsm::util {

StopSignal::StopSignal() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
        read_ = fds[0];
        write_ = fds[1];
    }
}

StopSignal::~StopSignal() {
    if (read_ >= 0) {
        ::close(read_);
        ::close(write_);
    }
}

void StopSignal::raise() {
    if (raised_.exchange(true) || write_ < 0) {
        return;
    }
    const char stop = 1;
    while (::write(write_, &stop, 1) < 0 && errno == EINTR) {
    }
}

}  // namespace dsm::util
