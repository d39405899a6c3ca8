// The text of an SMTP reply set with smfi_setreply(3). Pure, for the fuzz
// target (tests/fuzz/milter_input_fuzz.cpp).
#pragma once

#include <string>
#include <string_view>

namespace dsm::milter {

// smfi_setreply() takes printf-like text: '%' must be doubled, and CR/LF make
// the call fail; keep the reply printable (control octets become spaces).
std::string reply_safe(std::string_view text);

}  // namespace dsm::milter
