// The envelope arguments libmilter hands to xxfi_envfrom and xxfi_envrcpt
// (smfi_register(3): argv[0] is the address as the client sent it, with its
// angle brackets; ESMTP parameters follow). Pure: no libmilter calls, so the
// fuzz target (tests/fuzz/milter_input_fuzz.cpp) runs exactly this code.
#pragma once

#include <string>
#include <string_view>

namespace dsm::milter {

// argv[0], or "" when the MTA passed no argument (argv null or empty).
std::string_view envelope_address(char** argv);

// The normalised domain of the envelope sender `mail_from` (SPEC §2:
// connectors may select on it), or "" for <>, a local sender, an address
// literal or an invalid address.
std::string sender_domain(std::string_view mail_from);

}  // namespace dsm::milter
