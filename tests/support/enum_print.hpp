// operator<< for core enums, so Boost.Test can print them in failed assertions.
#pragma once

#include <ostream>
#include <type_traits>

#include "core/config/modes.hpp"
#include "core/dane/dane_facts.hpp"
#include "core/decision/decision.hpp"
#include "core/dns/dns_types.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::test {
// Every core enum prints as its to_string(). Boost.Test finds operator<< by
// argument-dependent lookup, so each enum's namespace takes this in with a
// using-declaration: below for the enums of the headers above, in a test
// file for any other (`namespace dsm::sts { using dsm::test::operator<<; }`).
template <typename E>
requires std::is_enum_v<E> && requires(E e) {
    to_string(e);
}
std::ostream& operator<<(std::ostream& o, E e) {
    return o << to_string(e);
}
}  // namespace dsm::test

// One line a namespace: a list, not code.
// clang-format off
namespace dsm::config { using dsm::test::operator<<; }
namespace dsm::dane { using dsm::test::operator<<; }
namespace dsm::decision { using dsm::test::operator<<; }
namespace dsm::dns { using dsm::test::operator<<; }
namespace dsm::verdict { using dsm::test::operator<<; }
// clang-format on
