// Socket tuning libmilter does not offer: it keeps its sockets to itself.
#pragma once

#include <vector>

namespace dsm::milter {

// The listening TCP sockets of the process (the milter's inet: socket once
// smfi_opensocket() has run, before any other server is bound).
std::vector<int> tcp_listeners();

// Tunes the milter's TCP listener `fd` against the two ~40 ms stalls of
// Nagle's algorithm meeting a delayed ACK (SPEC §9; RFC 1122 §4.2.3.2 lets an
// ACK wait up to 500 ms, Linux waits 40 ms):
//  - TCP_NODELAY, which Linux copies to every accepted connection: libmilter
//    writes each modification (each added header) as its own packet, and
//    without it Nagle holds the last one until the MTA's delayed ACK.
//  - an immediate ACK of every packet the MTA sends (TCP_QUICKACK after each
//    read on a connection accepted from `fd`). Postfix and Sendmail write
//    milter packets without TCP_NODELAY; a packet the milter does not answer
//    (macros, a step skipped or under SMFIP_NR_*) would otherwise leave the
//    MTA's next write waiting for our delayed ACK. Sendmail sends macros
//    before every command, Postfix before the DATA step we skip.
// Returns false (and changes nothing more) when TCP_NODELAY cannot be set.
bool tune_milter_listener(int fd);

}  // namespace dsm::milter
