// A domain's verdict: what DNSSEC, DANE and MTA-STS say about it, before any
// connector is applied. Field values are the words of SPEC §4.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace dsm::verdict {

// `dnssec`: the DNSSEC state of the MX RRset (or the implicit-MX proof).
enum class DnssecField { secure, insecure, bogus, error, skipped, pending };
// `dane`: see SPEC §4 (pass, unusable, fail, none, error, skipped, pending).
enum class DaneField { pass, unusable, fail, none, error, skipped, pending };
// `sts`: see SPEC §4.
enum class StsField { enforce, testing, none, fail, error, skipped, pending };

// Whether the destination has a DNS name at all (SPEC §3: an address literal
// has no DNS, so neither DANE nor MTA-STS can apply).
enum class Destination { dns_name, address_literal };

std::string_view to_string(DnssecField f);
std::string_view to_string(DaneField f);
std::string_view to_string(StsField f);

struct DomainVerdict {
    std::string domain;
    Destination destination = Destination::dns_name;
    DnssecField dnssec = DnssecField::pending;
    DaneField dane = DaneField::pending;
    StsField sts = StsField::skipped;
    bool null_mx = false;      // RFC 7505: the domain accepts no mail
    bool nxdomain = false;     // the domain does not exist
    bool mx_insecure = false;  // dane=none because the MX RRset is unsigned
    std::string dane_why;      // one plain-words line for replies and logs
    std::string sts_why;
    // The `mx` patterns of the MTA-STS policy in force (enforce or testing),
    // for the policy map's `match=` (SPEC §7).
    std::vector<std::string> sts_mx;
    // Served past its lifetime because the refresh failed (RFC 8767 style);
    // set only on the copy handed out, never stored.
    bool stale = false;
    std::chrono::system_clock::time_point at{};  // when it was computed
    std::chrono::seconds ttl{0};                 // smallest DNS TTL involved (unclamped)

    // A lookup failure (bogus, SERVFAIL, timeout): cached only `error_ttl`.
    [[nodiscard]] bool is_error() const {
        return dnssec == DnssecField::bogus || dnssec == DnssecField::error ||
               dane == DaneField::error || sts == StsField::error;
    }
};

// The verdict used when a lookup did not finish within rcpt.lookup_timeout_ms.
DomainVerdict pending_verdict(std::string domain);

// The verdict of an address literal: no DNS name, nothing to look up.
DomainVerdict address_literal_verdict(std::string literal);

}  // namespace dsm::verdict
