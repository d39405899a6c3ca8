// operator<< for core enums, so Boost.Test can print them in failed assertions.
#pragma once

#include <ostream>

#include "core/config/modes.hpp"
#include "core/decision/decision.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::verdict {
inline std::ostream& operator<<(std::ostream& o, DnssecField f) {
    return o << to_string(f);
}
inline std::ostream& operator<<(std::ostream& o, DaneField f) {
    return o << to_string(f);
}
inline std::ostream& operator<<(std::ostream& o, StsField f) {
    return o << to_string(f);
}
}  // namespace dsm::verdict

namespace dsm::config {
inline std::ostream& operator<<(std::ostream& o, DaneMode m) {
    return o << to_string(m);
}
inline std::ostream& operator<<(std::ostream& o, StsMode m) {
    return o << to_string(m);
}
inline std::ostream& operator<<(std::ostream& o, OnFailure f) {
    return o << to_string(f);
}
}  // namespace dsm::config

namespace dsm::decision {
inline std::ostream& operator<<(std::ostream& o, Action a) {
    return o << to_string(a);
}
inline std::ostream& operator<<(std::ostream& o, Require r) {
    return o << to_string(r);
}
inline std::ostream& operator<<(std::ostream& o, ResultType r) {
    return o << to_string(r);
}
}  // namespace dsm::decision
