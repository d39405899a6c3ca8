// Socket tuning libmilter does not offer.
#pragma once

namespace dsm::milter {

// Sets TCP_NODELAY on every listening TCP socket of the process; Linux copies
// it to each accepted connection. libmilter writes every modification (each
// added header) as its own packet; without TCP_NODELAY, Nagle's algorithm
// holds the last one until the MTA's delayed ACK, ~40 ms per message
// (SPEC §9). Returns how many sockets were changed.
int set_nodelay_on_listeners();

}  // namespace dsm::milter
