// Parsers for the rdata the DANE walk reads (RFC 1035 §3.3.9 MX, §3.4.1 A;
// RFC 3596 §2.2 AAAA) and the MTA-STS discovery reads (RFC 1035 §3.3.14
// TXT). The input comes from the network: every parser checks every length,
// never reads out of bounds and returns nullopt for anything malformed,
// truncated or followed by trailing octets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace dsm::dns {

// A name in wire format (RFC 1035 §3.1) as presentation text without the
// trailing dot; the root is "". Octets outside printable ASCII, and '.' or
// '\' inside a label, are escaped as in a zone file (\DDD, \., \\).
struct WireName {
    std::string text;
    std::size_t wire_length = 0;  // octets consumed, including the root label
};

// Reads one uncompressed name at the start of `wire` (libunbound hands rdata
// names uncompressed). nullopt on a compression pointer or reserved label
// type, a label running past the end, or a name over 255 octets.
std::optional<WireName> parse_wire_name(std::span<const std::uint8_t> wire);

struct MxRdata {
    std::uint16_t preference = 0;
    std::string exchange;  // no trailing dot; "" for "." (RFC 7505 null MX)
};

std::optional<MxRdata> parse_mx_rdata(std::span<const std::uint8_t> rdata);

// Exactly 4 octets → dotted quad.
std::optional<std::string> parse_a_rdata(std::span<const std::uint8_t> rdata);

// Exactly 16 octets → RFC 5952 text (inet_ntop).
std::optional<std::string> parse_aaaa_rdata(std::span<const std::uint8_t> rdata);

// One TXT RR: one or more <character-string>s (a length octet, then that
// many octets), concatenated without separators as RFC 8461 §3.1 (and RFC
// 7208 §3.3) read them. Octets are returned as they are, NUL included.
// nullopt for empty rdata or a string running past the end.
std::optional<std::string> parse_txt_rdata(std::span<const std::uint8_t> rdata);

}  // namespace dsm::dns
