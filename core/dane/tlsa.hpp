// TLSA records (RFC 6698 §2.1) and their usability for SMTP (RFC 7672 §3.1).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace dsm::dane {

struct TlsaRecord {
    std::uint8_t usage = 0;     // 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
    std::uint8_t selector = 0;  // 0 Cert, 1 SPKI
    std::uint8_t mtype = 0;     // 0 Full, 1 SHA2-256, 2 SHA2-512
    std::vector<std::uint8_t> data;

    // RFC 7672 §3.1.3: SMTP clients treat PKIX-TA(0)/PKIX-EE(1) as unusable;
    // only DANE-TA(2)/DANE-EE(3) with a known selector and matching type (and
    // a digest of the right length) are usable.
    [[nodiscard]] bool usable() const;
    // "3 1 1 <hex>" as in a zone file.
    [[nodiscard]] std::string to_string() const;
};

// Parses TLSA rdata in wire format; nullopt when shorter than 4 octets.
std::optional<TlsaRecord> parse_tlsa_rdata(std::span<const std::uint8_t> rdata);

}  // namespace dsm::dane
