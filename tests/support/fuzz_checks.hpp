// The invariant checks the fuzz targets (tests/fuzz/*_fuzz.cpp) share. A
// failed check aborts: libFuzzer and the corpus replay both report an abort
// as a crash, with the input that caused it.
#pragma once

#include <cstdlib>
#include <string_view>

namespace dsm::fuzz {

inline void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

// Printable ASCII only: what may go into a log line or an SMTP reply.
inline bool all_printable(std::string_view s) {
    for (const char c : s) {
        if (c < 0x20 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

// RFC 1123 §2.1 in the normalised form: lower-case LDH and dots, ≤ 253 octets.
inline bool is_normalised_host_name(std::string_view s) {
    if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.') {
        return false;
    }
    for (const char c : s) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
            return false;
        }
    }
    return true;
}

}  // namespace dsm::fuzz
