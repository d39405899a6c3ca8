// Turns the DANE facts of a domain (core/dane) into the `dnssec`/`dane` fields
// of its verdict (SPEC §4).
#pragma once

#include <chrono>

#include "core/dane/dane_facts.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::verdict {

DomainVerdict verdict_from_dane(const dane::DaneFacts& facts,
                                std::chrono::system_clock::time_point now);

}  // namespace dsm::verdict
