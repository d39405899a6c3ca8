// DaneFacts in words, for the messages of failed assertions on a DANE lookup
// (the scripted one in unit/dane_lookup_test.cpp, the real one in
// integration/dane_lookup_test.cpp).
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <sstream>
#include <string>

#include "core/dane/dane_lookup.hpp"

namespace dsm::test {

inline std::string describe(const dane::DaneFacts& f) {
    std::ostringstream out;
    out << f.domain << ": dane=" << to_string(f.dane) << " mx=" << to_string(f.mx_outcome) << "/"
        << to_string(f.mx_dnssec) << " ttl=" << f.ttl.count() << " why=\"" << f.why << "\"";
    for (const auto& h : f.hosts) {
        out << "\n  " << h.preference << " " << h.name << ": " << to_string(h.dane)
            << " addr=" << to_string(h.address_dnssec) << " why=\"" << h.why << "\"";
    }
    return out.str();
}

// The `i`th MX host; the test stops here if there are fewer.
inline const dane::MxHost& host(const dane::DaneFacts& f, std::size_t i) {
    BOOST_TEST_REQUIRE(f.hosts.size() > i, describe(f));
    return f.hosts[i];
}

}  // namespace dsm::test
