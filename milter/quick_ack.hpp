// Immediate ACKs on the milter's TCP connections (see tune_milter_listener()).
#pragma once

namespace dsm::milter {

// From now on, every connection accepted on `listener_fd` sets TCP_QUICKACK
// after each successful read, so the kernel ACKs what the MTA sent at once
// instead of after its delayed-ACK timer. One listener at a time.
void quick_ack_sessions_of(int listener_fd);

}  // namespace dsm::milter
