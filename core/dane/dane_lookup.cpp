#include "core/dane/dane_lookup.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <utility>

#include "core/dns/rdata.hpp"

namespace dsm::dane {

using dns::DnsAnswer;
using dns::DnsOutcome;
using dns::DnssecState;
using dns::RrType;

std::string_view to_string(MxDane d) {
    switch (d) {
        case MxDane::dane:
            return "dane";
        case MxDane::unusable:
            return "unusable";
        case MxDane::none:
            return "none";
        case MxDane::error:
            return "error";
        case MxDane::no_addresses:
            return "no_addresses";
    }
    return "unknown";
}

std::string_view to_string(DomainDane d) {
    switch (d) {
        case DomainDane::pass:
            return "pass";
        case DomainDane::unusable:
            return "unusable";
        case DomainDane::none:
            return "none";
        case DomainDane::error:
            return "error";
    }
    return "unknown";
}

namespace {

// Smallest TTL of the answers a verdict rests on. Failed and bogus answers
// carry no usable TTL (unbound.h: "you also cannot trust this value").
class MinTtl {
  public:
    void add(const DnsAnswer& a) {
        if (a.outcome == DnsOutcome::tempfail || a.dnssec == DnssecState::bogus) {
            return;
        }
        ttl_ = ttl_ ? std::min(*ttl_, a.ttl) : a.ttl;
    }
    [[nodiscard]] std::chrono::seconds value() const {
        return std::chrono::seconds(ttl_.value_or(0));
    }

  private:
    std::optional<std::uint32_t> ttl_;
};

bool failed(const DnsAnswer& a) {
    return a.dnssec == DnssecState::bogus || a.outcome == DnsOutcome::tempfail;
}

// "<what> is bogus: <why>" / "<what> failed: <error>" for the log and replies.
std::string describe_failure(const DnsAnswer& a, const std::string& what) {
    if (a.dnssec == DnssecState::bogus) {
        return what + " is bogus: " + (a.why_bogus.empty() ? "validation failed" : a.why_bogus);
    }
    return what + " failed: " + (a.error.empty() ? "SERVFAIL" : a.error);
}

std::string lower(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

std::string tlsa_name(const std::string& host) {
    return "_25._tcp." + host;
}

// Where the MX hosts come from (RFC 7672 §2.2.1), or why there are none to
// examine. `stop` set means the walk ends with that verdict.
struct MxStep {
    std::vector<MxHost> hosts;
    std::optional<DomainDane> stop;
    std::string why;
};

MxStep mx_hosts(const DnsAnswer& mx, DaneFacts& facts, const Limits& limits) {
    MxStep step;
    const std::string& domain = facts.domain;
    if (mx.outcome == DnsOutcome::nodata) {
        // RFC 5321 §5.1: no MX RRset, the domain itself is the implicit MX.
        facts.implicit_mx = true;
        MxHost host;
        host.name = domain;
        step.hosts.push_back(std::move(host));
        return step;
    }

    std::vector<dns::MxRdata> parsed;
    std::size_t malformed = 0;
    for (const auto& rdata : mx.records) {
        if (auto m = dns::parse_mx_rdata(rdata)) {
            parsed.push_back(std::move(*m));
        } else {
            ++malformed;
        }
    }
    // RFC 7505 §3: a null MX RRset names the root, and nothing else.
    const bool all_root =
        !parsed.empty() &&
        std::all_of(parsed.begin(), parsed.end(), [](const auto& m) { return m.exchange.empty(); });
    if (all_root && malformed == 0) {
        facts.null_mx = true;
        step.stop = DomainDane::none;
        step.why = domain + " publishes a null MX (RFC 7505): it accepts no mail";
        return step;
    }

    std::stable_sort(parsed.begin(), parsed.end(),
                     [](const auto& a, const auto& b) { return a.preference < b.preference; });
    for (auto& m : parsed) {
        // RFC 7505 §3: a null MX stands alone; "." next to real hosts is
        // no exchange to deliver to.
        if (m.exchange.empty()) {
            continue;
        }
        const std::string name = lower(m.exchange);
        const bool seen = std::any_of(step.hosts.begin(), step.hosts.end(),
                                      [&](const MxHost& h) { return h.name == name; });
        if (seen) {
            continue;
        }
        MxHost host;
        host.name = name;
        host.preference = m.preference;
        step.hosts.push_back(std::move(host));
    }
    if (step.hosts.empty()) {
        step.stop = DomainDane::error;
        step.why = "MX RRset of " + domain + " names no usable host";
        return step;
    }
    if (step.hosts.size() > limits.max_mx_hosts) {
        facts.mx_hosts_skipped = step.hosts.size() - limits.max_mx_hosts;
        step.hosts.resize(limits.max_mx_hosts);
    }
    return step;
}

void keep_addresses(MxHost& host, const DnsAnswer& a, const Limits& limits) {
    for (const auto& rdata : a.records) {
        if (host.addresses.size() >= limits.max_addresses) {
            return;
        }
        auto text = a.qtype == RrType::a ? dns::parse_a_rdata(rdata) : dns::parse_aaaa_rdata(rdata);
        if (text) {
            host.addresses.push_back(std::move(*text));
        }
    }
}

// The host's A and AAAA lookups, combined. Returns false when no TLSA lookup
// is due (RFC 7672 §2.2.2: TLSA records are sought only for hosts whose
// address records are secure); `host.dane` and `host.why` are then final.
bool examine_addresses(dns::Resolver& resolver, MxHost& host, const Limits& limits, MinTtl& ttl) {
    const DnsAnswer lookups[] = {resolver.query(host.name, RrType::a),
                                 resolver.query(host.name, RrType::aaaa)};

    for (const auto& a : lookups) {
        if (failed(a)) {
            host.address_lookup_failed = true;
            host.address_dnssec =
                std::any_of(std::begin(lookups), std::end(lookups),
                            [](const DnsAnswer& l) { return l.dnssec == DnssecState::bogus; })
                    ? DnssecState::bogus
                    : DnssecState::indeterminate;
            host.dane = MxDane::error;
            host.why = describe_failure(
                a, std::string(dns::to_string(a.qtype)) + " lookup for " + host.name);
            return false;
        }
    }

    bool any_answer = false;
    bool all_secure = true;
    for (const auto& a : lookups) {
        ttl.add(a);
        if (a.outcome != DnsOutcome::answer) {
            continue;
        }
        any_answer = true;
        all_secure = all_secure && a.dnssec == DnssecState::secure;
        keep_addresses(host, a, limits);
        if (host.canonical_name.empty() && a.cname_expanded()) {
            host.canonical_name = lower(a.canonical_name);
        }
    }

    if (!any_answer) {
        const bool denial_secure =
            std::all_of(std::begin(lookups), std::end(lookups),
                        [](const DnsAnswer& l) { return l.dnssec == DnssecState::secure; });
        host.address_dnssec = denial_secure ? DnssecState::secure : DnssecState::insecure;
        host.dane = MxDane::no_addresses;
        host.why = host.name + " has no A or AAAA records";
        return false;
    }
    host.address_dnssec = all_secure ? DnssecState::secure : DnssecState::insecure;
    if (!all_secure) {
        host.dane = MxDane::none;
        host.why = "address records of " + host.name +
                   " are insecure (zone not DNSSEC-signed): no TLSA lookup";
        return false;
    }
    return true;
}

TlsaLookup query_tlsa(dns::Resolver& resolver, const std::string& base, const Limits& limits,
                      DnsAnswer& raw) {
    TlsaLookup t;
    t.qname = tlsa_name(base);
    raw = resolver.query(t.qname, RrType::tlsa);
    t.outcome = raw.outcome;
    t.dnssec = raw.dnssec;
    t.why_bogus = raw.why_bogus;
    t.error = raw.error;
    if (raw.outcome != DnsOutcome::answer) {
        return t;
    }
    // Usable records first, so that the bound never hides a usable one.
    std::vector<TlsaRecord> unusable;
    for (const auto& rdata : raw.records) {
        auto rec = parse_tlsa_rdata(rdata);
        if (!rec) {
            continue;
        }
        if (rec->usable()) {
            if (t.records.size() < limits.max_tlsa_records) {
                t.records.push_back(std::move(*rec));
            }
        } else if (unusable.size() < limits.max_tlsa_records) {
            unusable.push_back(std::move(*rec));
        }
    }
    for (auto& rec : unusable) {
        if (t.records.size() >= limits.max_tlsa_records) {
            break;
        }
        t.records.push_back(std::move(rec));
    }
    return t;
}

// RFC 7672 §2.2.2: with a secure CNAME chain the fully expanded name is the
// first TLSA base domain; when it has no TLSA records the original name is
// tried next. A bogus or failed TLSA lookup stops the search: it must not be
// read as "no TLSA records" (§2.1.1).
void examine_tlsa(dns::Resolver& resolver, MxHost& host, const Limits& limits, MinTtl& ttl) {
    std::vector<std::string> bases;
    if (!host.canonical_name.empty()) {
        bases.push_back(host.canonical_name);
    }
    bases.push_back(host.name);

    for (const auto& base : bases) {
        DnsAnswer raw;
        host.tlsa.push_back(query_tlsa(resolver, base, limits, raw));
        const TlsaLookup& t = host.tlsa.back();
        if (failed(raw)) {
            host.dane = MxDane::error;
            host.why = describe_failure(raw, "TLSA lookup for " + t.qname);
            return;
        }
        ttl.add(raw);
        if (raw.outcome != DnsOutcome::answer || raw.dnssec != DnssecState::secure) {
            continue;
        }
        const auto usable = static_cast<std::size_t>(std::count_if(
            t.records.begin(), t.records.end(), [](const TlsaRecord& r) { return r.usable(); }));
        if (usable > 0) {
            host.dane = MxDane::dane;
            host.why = t.qname + " has " + std::to_string(usable) + " usable TLSA record" +
                       (usable == 1 ? "" : "s");
        } else {
            // RFC 7672 §2.2 / §3.1.3: published but unusable TLSA records
            // still oblige the client to encrypt, unauthenticated.
            host.dane = MxDane::unusable;
            host.why = "TLSA records at " + t.qname +
                       " are all unusable (not DANE-TA/DANE-EE with a known selector, "
                       "matching type and digest length)";
        }
        return;
    }

    host.dane = MxDane::none;
    const TlsaLookup& last = host.tlsa.back();
    if (last.outcome == DnsOutcome::answer) {
        // RFC 7672 §2.2: TLSA records that do not validate as secure are
        // treated as absent.
        host.why = "TLSA RRset at " + last.qname + " is insecure";
    } else {
        host.why = "no TLSA records at " + last.qname;
        if (bases.size() > 1) {
            host.why += " nor at " + host.tlsa.front().qname;
        }
    }
}

// Any DANE MX passes; otherwise a failure anywhere is an error (never
// "none", RFC 7672 §2.1.1); otherwise unusable records still demand TLS.
void aggregate(DaneFacts& facts) {
    const auto first = [&](MxDane d) {
        return std::find_if(facts.hosts.begin(), facts.hosts.end(),
                            [d](const MxHost& h) { return h.dane == d; });
    };
    const std::string subject = facts.implicit_mx ? "the implicit MX " : "MX host ";

    if (auto h = first(MxDane::dane); h != facts.hosts.end()) {
        facts.dane = DomainDane::pass;
        facts.why = subject + h->name + " publishes usable TLSA records (" + h->why + ")";
        return;
    }
    if (auto h = first(MxDane::error); h != facts.hosts.end()) {
        facts.dane = DomainDane::error;
        facts.why = h->why;
        return;
    }
    if (auto h = first(MxDane::unusable); h != facts.hosts.end()) {
        facts.dane = DomainDane::unusable;
        facts.why = h->why;
        return;
    }

    facts.dane = DomainDane::none;
    const bool all_without_tlsa =
        std::all_of(facts.hosts.begin(), facts.hosts.end(), [](const MxHost& h) {
            return !h.tlsa.empty() && h.tlsa.back().outcome != DnsOutcome::answer;
        });
    const bool all_without_addresses =
        std::all_of(facts.hosts.begin(), facts.hosts.end(),
                    [](const MxHost& h) { return h.dane == MxDane::no_addresses; });
    if (all_without_tlsa) {
        facts.why = facts.implicit_mx
                        ? facts.domain + " has no MX RRset and publishes no TLSA records"
                        : "no MX host of " + facts.domain + " publishes TLSA records";
    } else if (all_without_addresses) {
        facts.why = "no MX host of " + facts.domain + " has address records";
    } else {
        auto h = std::find_if(facts.hosts.begin(), facts.hosts.end(),
                              [](const MxHost& m) { return m.dane == MxDane::none; });
        facts.why = "no MX host of " + facts.domain + " has a secure TLSA RRset (" +
                    (h != facts.hosts.end() ? h->why : facts.hosts.front().why) + ")";
    }
}

}  // namespace

DaneFacts lookup_dane(dns::Resolver& resolver, const std::string& domain, const Limits& limits) {
    DaneFacts facts;
    facts.domain = domain;
    MinTtl ttl;

    const DnsAnswer mx = resolver.query(domain, RrType::mx);
    facts.mx_outcome = mx.outcome;
    facts.mx_dnssec = mx.dnssec;
    facts.mx_why_bogus = mx.why_bogus;
    facts.mx_error = mx.error;

    // RFC 7672 §2.1.1, §2.2.1: a bogus or failed MX lookup defers; it is
    // never "no DANE".
    if (failed(mx)) {
        facts.dane = DomainDane::error;
        facts.why = describe_failure(mx, "MX lookup for " + domain);
        return facts;
    }
    ttl.add(mx);
    if (mx.outcome == DnsOutcome::nxdomain) {
        facts.nxdomain = true;
        facts.dane = DomainDane::none;
        facts.why = domain + " does not exist (NXDOMAIN)";
        facts.ttl = ttl.value();
        return facts;
    }

    MxStep step = mx_hosts(mx, facts, limits);
    facts.hosts = std::move(step.hosts);
    if (step.stop) {
        facts.dane = *step.stop;
        facts.why = std::move(step.why);
        facts.ttl = ttl.value();
        return facts;
    }

    // RFC 7672 §2.2.1: host names from an insecure MX RRset (or an insecure
    // denial of one) could be an attacker's; TLSA records found through them
    // prove nothing, so DANE does not apply and nothing further is looked up.
    if (mx.dnssec != DnssecState::secure) {
        const std::string why =
            facts.implicit_mx ? "the absence of an MX RRset for " + domain +
                                    " is insecure (zone not DNSSEC-signed)"
                              : "MX RRset of " + domain + " is insecure (zone not DNSSEC-signed)";
        for (auto& host : facts.hosts) {
            host.dane = MxDane::none;
            host.why = "not examined: " + why;
        }
        facts.dane = DomainDane::none;
        facts.why = why;
        facts.ttl = ttl.value();
        return facts;
    }

    for (auto& host : facts.hosts) {
        if (examine_addresses(resolver, host, limits, ttl)) {
            examine_tlsa(resolver, host, limits, ttl);
        }
    }
    aggregate(facts);
    facts.ttl = ttl.value();
    return facts;
}

}  // namespace dsm::dane
