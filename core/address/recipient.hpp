// Envelope recipient → recipient domain (SPEC §3). Pure functions: no I/O, no
// shared state, safe from any thread. Input is whatever the client sent and
// the MTA passed on: arbitrary bytes of any length. Every function here runs
// in time linear in its input (capped at kMaxInputOctets), never throws on bad
// input and never echoes raw bytes into `error` (it may end up in an SMTP
// reply): non-printable octets are written as \xHH and long text is cut.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/util/result.hpp"

namespace dsm::address {

// Longer input is refused unread. RFC 5321 §4.5.3.1.3 caps a path at 256
// octets; the slack covers source routes and MTAs that add whitespace.
inline constexpr std::size_t kMaxInputOctets = 1024;

enum class RecipientKind {
    local,            // no domain (<postmaster>, <>): accept, no header
    domain,           // a DNS name: look it up
    address_literal,  // user@[192.0.2.1]: no DNS, DANE and MTA-STS cannot apply
    invalid,          // never looked up: 550 5.1.3 with `error`
};

std::string_view to_string(RecipientKind k);

struct Recipient {
    RecipientKind kind = RecipientKind::invalid;
    // domain: A-label, lower-case, no trailing dot ("xn--bcher-kva.example").
    // address_literal: the literal with its brackets, lower-case
    // ("[192.0.2.1]", "[ipv6:2001:db8::1]"). local and invalid: empty.
    std::string domain;
    // As sent, quotes kept, source route dropped; for local recipients the
    // whole address ("postmaster"). Not validated: not ours to judge.
    std::string local_part;
    // invalid only: what is wrong, in plain words, printable ASCII.
    std::string error;
};

// `envelope_address` as the MTA passes it, e.g. "<User@Example.COM>": strips
// <> and surrounding blanks, drops a source route (@a,@b:), splits at the last
// '@' outside a quoted string, then classifies the domain part.
Recipient parse_recipient(std::string_view envelope_address);

// A bare domain → lower-case A-label without trailing dot: one trailing dot is
// dropped, U-labels become A-labels (IDNA2008 via libidn2 with NFC input and
// UTS #46 non-transitional mapping), and the result must be a DNS host name
// (RFC 1123 §2.1: letters, digits, hyphens; labels 1-63 octets, not starting
// or ending with a hyphen; at most 253 octets). ASCII input never reaches
// libidn2; "xn--" labels are taken as they are. The error is a plain-words
// reason without the input ("empty label"); callers add the context.
// Used for recipients, sender domains and config patterns.
Result<std::string> normalize_domain(std::string_view domain);

// `s` made safe to quote in a reply or log line: printable ASCII kept, '"'
// and '\' escaped, other octets as \xHH, cut to about `max` octets with "...".
std::string printable(std::string_view s, std::size_t max = 64);

}  // namespace dsm::address
