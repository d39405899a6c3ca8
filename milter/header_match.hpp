// Which incoming headers are ours (SPEC §8: a sender must not be able to
// forge a verdict header). Pure, for the fuzz target
// (tests/fuzz/milter_input_fuzz.cpp).
#pragma once

#include <string>

namespace dsm::milter {

// True when the header `name` xxfi_header got (may be null) is the verdict
// header `configured` (milter.header), compared without regard to case as
// RFC 5322 §1.2.2 reads field names.
bool is_verdict_header(const char* name, const std::string& configured);

}  // namespace dsm::milter
