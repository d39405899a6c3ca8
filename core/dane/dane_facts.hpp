// What DNS says about a domain's DANE posture (RFC 7672 §2), step by step, so
// that the verdict (core/verdict) and --check can both read it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dane/tlsa.hpp"
#include "core/dns/dns_types.hpp"

namespace dsm::dane {

// Bounds on work done per domain (STYLE §9). Postfix examines at most
// smtp_mx_address_limit=5 addresses; we look wider to find a DANE MX but
// never without limit.
struct Limits {
    std::size_t max_mx_hosts = 10;      // MX hosts examined, lowest preference first
    std::size_t max_tlsa_records = 32;  // TLSA records kept per RRset
    std::size_t max_addresses = 16;     // A+AAAA records kept per host
};

// Per-MX classification (RFC 7672 §2.2).
enum class MxDane {
    dane,          // secure, usable TLSA RRset: a DANE MX
    unusable,      // secure TLSA RRset, no usable record (§2.3: still encrypt)
    none,          // no secure TLSA (insecure address/TLSA, or no records)
    error,         // bogus or failed address or TLSA lookup
    no_addresses,  // the host has no A/AAAA records at all
};

std::string_view to_string(MxDane d);

struct TlsaLookup {
    std::string qname;  // _25._tcp.<host>.
    dns::DnsOutcome outcome = dns::DnsOutcome::tempfail;
    dns::DnssecState dnssec = dns::DnssecState::indeterminate;
    std::vector<TlsaRecord> records;
    std::string why_bogus;
    std::string error;
};

struct MxHost {
    std::string name;  // no trailing dot
    std::uint16_t preference = 0;
    // Address records: combined state of the A and AAAA lookups.
    dns::DnssecState address_dnssec = dns::DnssecState::indeterminate;
    bool address_lookup_failed = false;  // a tempfail or bogus A/AAAA lookup
    std::vector<std::string> addresses;  // printable
    std::string canonical_name;          // after CNAME expansion, if any
    std::vector<TlsaLookup> tlsa;        // in the order tried (§2.2.2: expanded name first)
    MxDane dane = MxDane::none;
    std::string why;  // one line for the log / --check
};

// Overall DANE state of the domain, before any connector is applied.
enum class DomainDane {
    pass,      // some MX is a DANE MX
    unusable,  // TLSA published somewhere, none usable
    none,      // no secure usable TLSA anywhere (insecure or no records)
    error,     // bogus or failed MX/address/TLSA lookup, and no DANE MX
};

std::string_view to_string(DomainDane d);

struct DaneFacts {
    std::string domain;  // A-label, no trailing dot
    dns::DnsOutcome mx_outcome = dns::DnsOutcome::tempfail;
    dns::DnssecState mx_dnssec = dns::DnssecState::indeterminate;
    std::string mx_why_bogus;
    std::string mx_error;
    bool null_mx = false;      // RFC 7505
    bool implicit_mx = false;  // no MX RRset: the domain itself (RFC 5321 §5.1)
    bool nxdomain = false;     // the domain does not exist
    std::vector<MxHost> hosts;
    std::size_t mx_hosts_skipped = 0;  // beyond Limits::max_mx_hosts
    DomainDane dane = DomainDane::none;
    // Smallest TTL of all answers used; the cache clamps it.
    std::chrono::seconds ttl{0};
    std::string why;  // one line: the reason for `dane` (for replies and logs)
};

}  // namespace dsm::dane
