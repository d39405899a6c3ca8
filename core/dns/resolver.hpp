// Resolver: the one door through which core/ reaches DNS. One real
// implementation (UnboundResolver); tests may inject others.
#pragma once

#include <cstddef>
#include <string>

#include "core/dns/dns_types.hpp"

namespace dsm::dns {

class Resolver {
  public:
    virtual ~Resolver() = default;

    // Blocking lookup of (name, type) with DNSSEC validation. Never throws for
    // DNS failures: a timeout or network error is DnsOutcome::tempfail with
    // DnssecState::indeterminate and `error` set. Thread-safe: many threads
    // may call query() at once. `name` is an absolute or relative A-label
    // name; a trailing dot is optional.
    virtual DnsAnswer query(const std::string& name, RrType type) = 0;

    // The process is stopping (SPEC §8 SIGTERM): lookups waiting now, and
    // any asked later, answer tempfail at once ("resolver shut down")
    // instead of waiting out a slow name server. Returns how many waiting
    // lookups it cut short. Idempotent; the default has nothing to cut.
    virtual std::size_t shutdown() { return 0; }
};

}  // namespace dsm::dns
