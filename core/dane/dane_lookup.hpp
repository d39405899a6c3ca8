// The RFC 7672 §2 walk: MX (or implicit MX), per MX host its address records,
// and for hosts with secure address records the TLSA RRset.
#pragma once

#include <string>

#include "core/dane/dane_facts.hpp"
#include "core/dns/resolver.hpp"

namespace dsm::dane {

// `domain`: normalised A-label, no trailing dot. Blocking; thread-safe as far
// as `resolver` is. Never throws for DNS failures: they end up in the facts
// (a bogus or failed lookup is DomainDane::error, never none; RFC 7672 §2.1.1).
DaneFacts lookup_dane(dns::Resolver& resolver, const std::string& domain,
                      const Limits& limits = {});

}  // namespace dsm::dane
