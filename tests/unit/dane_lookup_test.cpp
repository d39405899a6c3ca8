// core/dane/dane_lookup against a scripted in-memory Resolver: the RFC 7672 §2
// walk for the cases a real signed zone cannot stage cheaply (CNAME fallback,
// MX limits and duplicates, malformed rdata, record caps, one failing lookup
// among several hosts, TTL bookkeeping). Pure logic, no network. The cases
// against real signed zones and a real validating resolver live in
// tests/integration/dane_lookup_test.cpp.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/dane/dane_lookup.hpp"
#include "core/dns/resolver.hpp"
#include "tests/support/dane_facts_print.hpp"
#include "tests/support/enum_print.hpp"  // DnsOutcome, MxDane, ...

using namespace dsm::dane;
using namespace dsm::dns;
using dsm::test::describe;
using dsm::test::host;

namespace {

using Bytes = std::vector<std::uint8_t>;

// ---- rdata in wire format -------------------------------------------------

std::string key_name(std::string name) {
    for (char& c : name) {
        c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    if (!name.empty() && name.back() == '.') {
        name.pop_back();
    }
    return name;
}

// "mx.example" → \x02mx\x07example\x00; "" → the root.
Bytes wire_name(const std::string& name) {
    Bytes out;
    std::size_t start = 0;
    while (start < name.size()) {
        std::size_t dot = name.find('.', start);
        if (dot == std::string::npos) {
            dot = name.size();
        }
        out.push_back(static_cast<std::uint8_t>(dot - start));
        out.insert(out.end(), name.begin() + static_cast<long>(start),
                   name.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    out.push_back(0);
    return out;
}

Bytes mx_rr(std::uint16_t preference, const std::string& exchange) {
    const Bytes name = wire_name(exchange);
    // Sized up front: GCC 12 at -O2 misreads insert() into a 2-element vector
    // as an out-of-bounds memcpy (-Warray-bounds).
    Bytes out(2 + name.size());
    out[0] = static_cast<std::uint8_t>(preference >> 8);
    out[1] = static_cast<std::uint8_t>(preference & 0xFF);
    std::copy(name.begin(), name.end(), out.begin() + 2);
    return out;
}

Bytes a_rr(const char* text) {
    Bytes out(4);
    BOOST_TEST_REQUIRE(inet_pton(AF_INET, text, out.data()) == 1);
    return out;
}

Bytes aaaa_rr(const char* text) {
    Bytes out(16);
    BOOST_TEST_REQUIRE(inet_pton(AF_INET6, text, out.data()) == 1);
    return out;
}

// usage selector mtype, then `length` octets of association data.
Bytes tlsa_rr(std::uint8_t usage, std::uint8_t selector, std::uint8_t mtype, std::size_t length) {
    Bytes out(3 + length);
    out[0] = usage;
    out[1] = selector;
    out[2] = mtype;
    for (std::size_t i = 0; i < length; ++i) {
        out[3 + i] = static_cast<std::uint8_t>(i * 7 + 1);
    }
    return out;
}

Bytes usable_tlsa() {
    return tlsa_rr(3, 1, 1, 32);  // DANE-EE SPKI SHA2-256
}
Bytes unusable_tlsa() {
    return tlsa_rr(1, 1, 1, 32);  // PKIX-EE: unusable for SMTP (RFC 7672 §3.1.3)
}

// ---- answers -----------------------------------------------------------------

DnsAnswer nodata(DnssecState s = DnssecState::secure, std::uint32_t ttl = 3600) {
    DnsAnswer a;
    a.outcome = DnsOutcome::nodata;
    a.dnssec = s;
    a.ttl = ttl;
    return a;
}

DnsAnswer answer(std::vector<Bytes> records, DnssecState s = DnssecState::secure,
                 std::uint32_t ttl = 3600, std::string canonical = {}) {
    DnsAnswer a = nodata(s, ttl);
    a.outcome = DnsOutcome::answer;
    a.records = std::move(records);
    a.canonical_name = std::move(canonical);
    return a;
}

DnsAnswer nxdomain(DnssecState s = DnssecState::secure, std::uint32_t ttl = 3600) {
    DnsAnswer a = nodata(s, ttl);
    a.outcome = DnsOutcome::nxdomain;
    return a;
}

// As UnboundResolver reports a timeout or SERVFAIL.
DnsAnswer tempfail(std::string error = "timeout", std::uint32_t ttl = 0) {
    DnsAnswer a = nodata(DnssecState::indeterminate, ttl);
    a.outcome = DnsOutcome::tempfail;
    a.error = std::move(error);
    return a;
}

// As UnboundResolver reports a validation failure: data dropped, the reason
// kept. The TTL is set to show that it is never used.
DnsAnswer bogus(std::string why = "signature expired", std::uint32_t ttl = 1) {
    DnsAnswer a = tempfail("DNSSEC validation failed", ttl);
    a.dnssec = DnssecState::bogus;
    a.why_bogus = std::move(why);
    return a;
}

// ---- the scripted resolver -------------------------------------------------

// (name, type) → answer, names compared case-insensitively without the
// trailing dot. An unscripted question tempfails: a test that forgets one
// sees an error, never a silent "none". Every question is recorded.
class ScriptedResolver final : public dsm::dns::Resolver {
  public:
    void script(const std::string& name, RrType type, DnsAnswer a) {
        answers_[{key_name(name), type}] = std::move(a);
    }

    DnsAnswer query(const std::string& name, RrType type) override {
        const std::string key = key_name(name);
        asked_.emplace_back(key, type);
        DnsAnswer a = tempfail("not scripted");
        if (auto it = answers_.find({key, type}); it != answers_.end()) {
            a = it->second;
        }
        a.qname = key;
        a.qtype = type;
        if (a.canonical_name.empty()) {
            a.canonical_name = key;
        }
        return a;
    }

    [[nodiscard]] std::size_t count(const std::string& name, RrType type) const {
        return static_cast<std::size_t>(
            std::count(asked_.begin(), asked_.end(), std::make_pair(key_name(name), type)));
    }
    [[nodiscard]] bool asked(const std::string& name, RrType type) const {
        return count(name, type) > 0;
    }
    [[nodiscard]] std::size_t questions() const { return asked_.size(); }

    // A host with a secure A RRset, secure nodata for AAAA, and `tlsa` at
    // _25._tcp.<name>.
    void secure_host(const std::string& name, DnsAnswer tlsa, std::uint32_t ttl = 3600) {
        script(name, RrType::a, answer({a_rr("192.0.2.25")}, DnssecState::secure, ttl));
        script(name, RrType::aaaa, nodata(DnssecState::secure, ttl));
        script("_25._tcp." + name, RrType::tlsa, std::move(tlsa));
    }

    // example's one MX, mx.a.example, whose address RRsets (`s`: one A, no
    // AAAA) come through a CNAME: `canonical` is the expanded name.
    void cnamed_mx(const std::string& canonical, DnssecState s = DnssecState::secure) {
        script("example", RrType::mx, answer({mx_rr(10, "mx.a.example")}));
        script("mx.a.example", RrType::a, answer({a_rr("192.0.2.1")}, s, 3600, canonical));
        script("mx.a.example", RrType::aaaa, nodata(s));
    }

    // example's MXs mx1.example (10) and mx2.example (20), secure, TTL 3600.
    void two_mx() {
        script("example", RrType::mx,
               answer({mx_rr(10, "mx1.example"), mx_rr(20, "mx2.example")}, DnssecState::secure,
                      3600));
    }

  private:
    std::map<std::pair<std::string, RrType>, DnsAnswer> answers_;
    std::vector<std::pair<std::string, RrType>> asked_;
};

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> host_names(const DaneFacts& f) {
    std::vector<std::string> names;
    for (const auto& h : f.hosts) {
        names.push_back(h.name);
    }
    return names;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dane_lookup)

// ---- CNAME'd MX hosts (RFC 7672 §2.2.2) -------------------------------------

BOOST_AUTO_TEST_CASE(cname_expanded_name_without_tlsa_falls_back_to_original_name) {
    ScriptedResolver r;
    r.cnamed_mx("mx.b.example");
    r.script("_25._tcp.mx.b.example", RrType::tlsa, nodata());
    r.script("_25._tcp.mx.a.example", RrType::tlsa, answer({usable_tlsa()}));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::pass, describe(f));
    const auto& h = host(f, 0);
    BOOST_TEST(h.dane == MxDane::dane);
    BOOST_TEST(h.canonical_name == "mx.b.example");
    BOOST_TEST_REQUIRE(h.tlsa.size() == 2U);
    BOOST_TEST(h.tlsa[0].qname == "_25._tcp.mx.b.example");  // expanded name first
    BOOST_TEST(h.tlsa[0].outcome == DnsOutcome::nodata);
    BOOST_TEST(h.tlsa[1].qname == "_25._tcp.mx.a.example");
    BOOST_TEST(h.tlsa[1].records.size() == 1U);
    BOOST_TEST(h.addresses == std::vector<std::string>{"192.0.2.1"});
}

BOOST_AUTO_TEST_CASE(cname_expanded_name_with_tlsa_is_used_and_original_not_asked) {
    ScriptedResolver r;
    r.cnamed_mx("MX.B.Example");
    r.script("_25._tcp.mx.b.example", RrType::tlsa, answer({usable_tlsa()}));
    r.script("_25._tcp.mx.a.example", RrType::tlsa, answer({unusable_tlsa()}));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::pass, describe(f));
    const auto& h = host(f, 0);
    BOOST_TEST(h.canonical_name == "mx.b.example");  // lower-cased
    BOOST_TEST_REQUIRE(h.tlsa.size() == 1U);
    BOOST_TEST(h.tlsa[0].qname == "_25._tcp.mx.b.example");
    BOOST_TEST(!r.asked("_25._tcp.mx.a.example", RrType::tlsa));
}

BOOST_AUTO_TEST_CASE(cname_neither_name_has_tlsa) {
    ScriptedResolver r;
    r.cnamed_mx("mx.b.example");
    r.script("_25._tcp.mx.b.example", RrType::tlsa, nodata());
    r.script("_25._tcp.mx.a.example", RrType::tlsa, nxdomain());

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::none, describe(f));
    const auto& h = host(f, 0);
    BOOST_TEST(h.dane == MxDane::none);
    BOOST_TEST(h.tlsa.size() == 2U);
    BOOST_TEST(contains(h.why, "_25._tcp.mx.a.example"), h.why);
    BOOST_TEST(contains(h.why, "_25._tcp.mx.b.example"), h.why);
}

BOOST_AUTO_TEST_CASE(cname_bogus_tlsa_at_expanded_name_stops_the_search) {
    ScriptedResolver r;
    r.cnamed_mx("mx.b.example");
    r.script("_25._tcp.mx.b.example", RrType::tlsa, bogus("RRSIG expired"));
    r.script("_25._tcp.mx.a.example", RrType::tlsa, answer({usable_tlsa()}));

    const DaneFacts f = lookup_dane(r, "example");
    // RFC 7672 §2.1.1: a failed TLSA lookup is never read as "no TLSA".
    BOOST_TEST(f.dane == DomainDane::error, describe(f));
    BOOST_TEST(host(f, 0).dane == MxDane::error);
    BOOST_TEST(contains(f.why, "RRSIG expired"), f.why);
    BOOST_TEST(!r.asked("_25._tcp.mx.a.example", RrType::tlsa));
}

BOOST_AUTO_TEST_CASE(insecure_cname_chain_is_none_without_tlsa_lookup) {
    // The chain leaves the signed zone: the address RRset is insecure, so no
    // TLSA lookup is due at either name (RFC 7672 §2.2.2).
    ScriptedResolver r;
    r.cnamed_mx("mx.unsigned.example", DnssecState::insecure);

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::none, describe(f));
    const auto& h = host(f, 0);
    BOOST_TEST(h.dane == MxDane::none);
    BOOST_TEST(h.address_dnssec == DnssecState::insecure);
    BOOST_TEST(h.tlsa.empty());
    BOOST_TEST(!r.asked("_25._tcp.mx.unsigned.example", RrType::tlsa));
    BOOST_TEST(!r.asked("_25._tcp.mx.a.example", RrType::tlsa));
}

// ---- the MX RRset ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(mx_limit_examines_the_lowest_preferences) {
    const std::size_t limit = Limits{}.max_mx_hosts;
    const std::size_t total = limit + 3;
    ScriptedResolver r;
    std::vector<Bytes> records;
    // Written in descending preference: the walk must sort them.
    for (std::size_t i = total; i-- > 0;) {
        const std::string name = "mx" + std::to_string(i) + ".example";
        records.push_back(mx_rr(static_cast<std::uint16_t>(10 * (i + 1)), name));
        r.secure_host(name, nodata());
    }
    r.script("example", RrType::mx, answer(records));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.hosts.size() == limit, describe(f));
    BOOST_TEST(f.mx_hosts_skipped == 3U);
    for (std::size_t i = 0; i < f.hosts.size(); ++i) {
        BOOST_TEST(f.hosts[i].name == "mx" + std::to_string(i) + ".example");
        BOOST_TEST(f.hosts[i].preference == 10 * (i + 1));
    }
    for (std::size_t i = limit; i < total; ++i) {
        BOOST_TEST(!r.asked("mx" + std::to_string(i) + ".example", RrType::a));
    }
}

BOOST_AUTO_TEST_CASE(mx_limit_from_the_caller) {
    ScriptedResolver r;
    r.script("example", RrType::mx,
             answer({mx_rr(30, "c.example"), mx_rr(10, "a.example"), mx_rr(20, "b.example")}));
    r.secure_host("a.example", nodata());
    r.secure_host("b.example", nodata());
    r.secure_host("c.example", answer({usable_tlsa()}));
    Limits limits;
    limits.max_mx_hosts = 2;

    const DaneFacts f = lookup_dane(r, "example", limits);
    BOOST_TEST((host_names(f) == std::vector<std::string>{"a.example", "b.example"}));
    BOOST_TEST(f.mx_hosts_skipped == 1U);
    // The DANE MX is beyond the limit: not seen, so no pass.
    BOOST_TEST(f.dane == DomainDane::none, describe(f));
    BOOST_TEST(!r.asked("c.example", RrType::a));
}

BOOST_AUTO_TEST_CASE(duplicate_mx_hosts_are_examined_once) {
    ScriptedResolver r;
    r.script("example", RrType::mx,
             answer({mx_rr(20, "MX.Example"), mx_rr(10, "mx.example"), mx_rr(5, "mx2.example"),
                     mx_rr(30, "mx.example"), mx_rr(5, "mx2.example")}));
    r.secure_host("mx.example", answer({usable_tlsa()}));
    r.secure_host("mx2.example", nodata());

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST((host_names(f) == std::vector<std::string>{"mx2.example", "mx.example"}),
               describe(f));
    BOOST_TEST(host(f, 1).preference == 10);  // the lowest preference stays
    BOOST_TEST(f.mx_hosts_skipped == 0U);
    BOOST_TEST(r.count("mx.example", RrType::a) == 1U);
    BOOST_TEST(r.count("_25._tcp.mx.example", RrType::tlsa) == 1U);
    BOOST_TEST(f.dane == DomainDane::pass);
}

BOOST_AUTO_TEST_CASE(root_among_real_mx_hosts_is_skipped) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(0, ""), mx_rr(10, "mx.example")}));
    r.secure_host("mx.example", answer({usable_tlsa()}));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(!f.null_mx);
    BOOST_TEST((host_names(f) == std::vector<std::string>{"mx.example"}), describe(f));
    BOOST_TEST(f.dane == DomainDane::pass);
    BOOST_TEST(!r.asked("", RrType::a));
}

BOOST_AUTO_TEST_CASE(null_mx) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(0, "")}, DnssecState::secure, 900));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.null_mx);
    BOOST_TEST(f.dane == DomainDane::none, describe(f));
    BOOST_TEST(f.hosts.empty());
    BOOST_TEST(f.ttl.count() == 900);
    BOOST_TEST(contains(f.why, "null MX"), f.why);
    BOOST_TEST(r.questions() == 1U);
}

BOOST_AUTO_TEST_CASE(malformed_mx_rdata_is_ignored_next_to_valid_records) {
    Bytes pointer = {0, 10, 0xC0, 0x0C};      // compression pointer
    Bytes trailing = mx_rr(20, "x.example");  // a valid name and then garbage
    trailing.push_back(0x41);
    Bytes overrun = {0, 10, 5, 'a', 'b'};  // label runs past the end
    Bytes short_rr = {0};                  // not even a preference
    ScriptedResolver r;
    r.script("example", RrType::mx,
             answer({short_rr, pointer, mx_rr(30, "mx.example"), trailing, overrun, Bytes{}}));
    r.secure_host("mx.example", answer({usable_tlsa()}));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST((host_names(f) == std::vector<std::string>{"mx.example"}), describe(f));
    BOOST_TEST(f.dane == DomainDane::pass);
    BOOST_TEST(!r.asked("x.example", RrType::a));
}

BOOST_AUTO_TEST_CASE(only_malformed_mx_rdata_is_an_error) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({Bytes{0}, Bytes{0, 1, 0xC0, 0x0C}, Bytes{}}));

    const DaneFacts f = lookup_dane(r, "example");
    // A secure MX RRset that names nothing usable is no proof of "no DANE".
    BOOST_TEST(f.dane == DomainDane::error, describe(f));
    BOOST_TEST(!f.null_mx);
    BOOST_TEST(f.hosts.empty());
    BOOST_TEST(contains(f.why, "names no usable host"), f.why);
    BOOST_TEST(r.questions() == 1U);
}

BOOST_AUTO_TEST_CASE(root_with_malformed_rdata_is_not_a_null_mx) {
    // RFC 7505 §3: the null MX is the only record of its RRset.
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(0, ""), Bytes{0, 0, 0x80}}));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(!f.null_mx);
    BOOST_TEST(f.dane == DomainDane::error, describe(f));
}

BOOST_AUTO_TEST_CASE(mx_tempfail_is_error_and_indeterminate) {
    ScriptedResolver r;
    r.script("example", RrType::mx, tempfail("timeout", 300));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::error, describe(f));
    BOOST_TEST(f.mx_outcome == DnsOutcome::tempfail);
    BOOST_TEST(f.mx_dnssec == DnssecState::indeterminate);
    BOOST_TEST(f.mx_error == "timeout");
    BOOST_TEST(contains(f.why, "MX lookup for example failed: timeout"), f.why);
    BOOST_TEST(f.ttl.count() == 0);  // a failed answer carries no TTL
    BOOST_TEST(r.questions() == 1U);
}

BOOST_AUTO_TEST_CASE(mx_bogus_is_error) {
    ScriptedResolver r;
    r.script("example", RrType::mx, bogus("no signatures"));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::error, describe(f));
    BOOST_TEST(f.mx_dnssec == DnssecState::bogus);
    BOOST_TEST(f.mx_why_bogus == "no signatures");
    BOOST_TEST(contains(f.why, "is bogus: no signatures"), f.why);
    BOOST_TEST(r.questions() == 1U);
}

BOOST_AUTO_TEST_CASE(nxdomain_domain) {
    ScriptedResolver r;
    r.script("example", RrType::mx, nxdomain(DnssecState::secure, 600));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.nxdomain);
    BOOST_TEST(f.dane == DomainDane::none, describe(f));
    BOOST_TEST(f.mx_outcome == DnsOutcome::nxdomain);
    BOOST_TEST(f.hosts.empty());
    BOOST_TEST(f.ttl.count() == 600);
    BOOST_TEST(r.questions() == 1U);
}

BOOST_AUTO_TEST_CASE(implicit_mx_via_secure_nodata) {
    ScriptedResolver r;
    r.script("example", RrType::mx, nodata(DnssecState::secure, 1800));
    r.secure_host("example", answer({usable_tlsa()}));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.implicit_mx);
    BOOST_TEST(f.dane == DomainDane::pass, describe(f));
    const auto& h = host(f, 0);
    BOOST_TEST(h.name == "example");
    BOOST_TEST(h.preference == 0);
    BOOST_TEST_REQUIRE(h.tlsa.size() == 1U);
    BOOST_TEST(h.tlsa[0].qname == "_25._tcp.example");
    BOOST_TEST(f.why.rfind("the implicit MX example", 0) == 0U, f.why);
    BOOST_TEST(f.ttl.count() == 1800);
}

BOOST_AUTO_TEST_CASE(implicit_mx_via_insecure_nodata_looks_no_further) {
    ScriptedResolver r;
    r.script("example", RrType::mx, nodata(DnssecState::insecure));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.implicit_mx);
    BOOST_TEST(f.dane == DomainDane::none, describe(f));
    BOOST_TEST(host(f, 0).dane == MxDane::none);
    BOOST_TEST(r.questions() == 1U);
}

BOOST_AUTO_TEST_CASE(insecure_mx_rrset_looks_no_further) {
    // RFC 7672 §2.2.1: names from an insecure MX RRset could be an attacker's.
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}, DnssecState::insecure, 3600));
    r.secure_host("mx.example", answer({usable_tlsa()}));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::none, describe(f));
    BOOST_TEST(host(f, 0).dane == MxDane::none);
    BOOST_TEST(!r.asked("mx.example", RrType::a));
    BOOST_TEST(!r.asked("_25._tcp.mx.example", RrType::tlsa));
}

// ---- address records ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_tempfail_with_aaaa_secure_is_error) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.script("mx.example", RrType::a, tempfail("timeout"));
    r.script("mx.example", RrType::aaaa, answer({aaaa_rr("2001:db8::25")}));
    r.script("_25._tcp.mx.example", RrType::tlsa, answer({usable_tlsa()}));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::error, describe(f));
    const auto& h = host(f, 0);
    BOOST_TEST(h.dane == MxDane::error);
    BOOST_TEST(h.address_lookup_failed);
    BOOST_TEST(h.address_dnssec == DnssecState::indeterminate);
    BOOST_TEST(contains(h.why, "A lookup for mx.example failed: timeout"), h.why);
    BOOST_TEST(!r.asked("_25._tcp.mx.example", RrType::tlsa));
}

BOOST_AUTO_TEST_CASE(a_bogus_is_error) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.script("mx.example", RrType::a, bogus("DS mismatch"));
    r.script("mx.example", RrType::aaaa, nodata());

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::error, describe(f));
    const auto& h = host(f, 0);
    BOOST_TEST(h.dane == MxDane::error);
    BOOST_TEST(h.address_dnssec == DnssecState::bogus);
    BOOST_TEST(contains(h.why, "is bogus: DS mismatch"), h.why);
    BOOST_TEST(!r.asked("_25._tcp.mx.example", RrType::tlsa));
}

BOOST_AUTO_TEST_CASE(aaaa_bogus_after_a_secure_is_error) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.script("mx.example", RrType::a, answer({a_rr("192.0.2.25")}));
    r.script("mx.example", RrType::aaaa, bogus());

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::error, describe(f));
    BOOST_TEST(host(f, 0).address_dnssec == DnssecState::bogus);
    BOOST_TEST(contains(host(f, 0).why, "AAAA lookup for mx.example"), host(f, 0).why);
}

BOOST_AUTO_TEST_CASE(both_nodata_is_no_addresses) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.script("mx.example", RrType::a, nodata());
    r.script("mx.example", RrType::aaaa, nodata());

    const DaneFacts f = lookup_dane(r, "example");
    const auto& h = host(f, 0);
    BOOST_TEST(h.dane == MxDane::no_addresses, describe(f));
    BOOST_TEST(h.address_dnssec == DnssecState::secure);
    BOOST_TEST(!h.address_lookup_failed);
    BOOST_TEST(f.dane == DomainDane::none);
    BOOST_TEST(contains(f.why, "has address records"), f.why);
    BOOST_TEST(!r.asked("_25._tcp.mx.example", RrType::tlsa));
}

BOOST_AUTO_TEST_CASE(insecure_nodata_is_no_addresses_insecure) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.script("mx.example", RrType::a, nxdomain(DnssecState::insecure));
    r.script("mx.example", RrType::aaaa, nxdomain(DnssecState::insecure));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(host(f, 0).dane == MxDane::no_addresses, describe(f));
    BOOST_TEST(host(f, 0).address_dnssec == DnssecState::insecure);
}

BOOST_AUTO_TEST_CASE(insecure_a_is_none_without_tlsa_query) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.script("mx.example", RrType::a, answer({a_rr("192.0.2.25")}, DnssecState::insecure));
    r.script("mx.example", RrType::aaaa, nodata(DnssecState::insecure));
    r.script("_25._tcp.mx.example", RrType::tlsa, answer({usable_tlsa()}));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::none, describe(f));
    const auto& h = host(f, 0);
    BOOST_TEST(h.dane == MxDane::none);
    BOOST_TEST(h.address_dnssec == DnssecState::insecure);
    BOOST_TEST(h.addresses == std::vector<std::string>{"192.0.2.25"});
    BOOST_TEST(h.tlsa.empty());
    BOOST_TEST(!r.asked("_25._tcp.mx.example", RrType::tlsa));
}

BOOST_AUTO_TEST_CASE(secure_a_with_insecure_aaaa_is_none) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.script("mx.example", RrType::a, answer({a_rr("192.0.2.25")}));
    r.script("mx.example", RrType::aaaa, answer({aaaa_rr("2001:db8::25")}, DnssecState::insecure));
    r.script("_25._tcp.mx.example", RrType::tlsa, answer({usable_tlsa()}));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(host(f, 0).dane == MxDane::none, describe(f));
    BOOST_TEST(!r.asked("_25._tcp.mx.example", RrType::tlsa));
}

BOOST_AUTO_TEST_CASE(addresses_are_kept_in_order_and_capped) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.script("mx.example", RrType::a,
             answer({a_rr("192.0.2.1"), Bytes{1, 2, 3}, a_rr("192.0.2.2"), a_rr("192.0.2.3")}));
    r.script("mx.example", RrType::aaaa, answer({aaaa_rr("2001:db8::1"), Bytes(15, 0)}));
    r.script("_25._tcp.mx.example", RrType::tlsa, answer({usable_tlsa()}));
    Limits limits;
    limits.max_addresses = 3;

    const DaneFacts f = lookup_dane(r, "example", limits);
    const auto& h = host(f, 0);
    // The malformed A rdata is skipped; the cap stops before the AAAA.
    BOOST_TEST((h.addresses == std::vector<std::string>{"192.0.2.1", "192.0.2.2", "192.0.2.3"}),
               describe(f));
    BOOST_TEST(h.dane == MxDane::dane);
}

BOOST_AUTO_TEST_CASE(malformed_address_rdata_does_not_crash) {
    // A secure A RRset whose rdata cannot be read: nothing printable to keep,
    // but the RRset is secure, so the TLSA lookup is still due.
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.script("mx.example", RrType::a, answer({Bytes{}, Bytes{192, 0, 2}, Bytes(5, 1)}));
    r.script("mx.example", RrType::aaaa, answer({Bytes(17, 0xFF)}));
    r.script("_25._tcp.mx.example", RrType::tlsa, nodata());

    const DaneFacts f = lookup_dane(r, "example");
    const auto& h = host(f, 0);
    BOOST_TEST(h.addresses.empty(), describe(f));
    BOOST_TEST(h.address_dnssec == DnssecState::secure);
    BOOST_TEST(h.dane == MxDane::none);
    BOOST_TEST(r.asked("_25._tcp.mx.example", RrType::tlsa));
}

// ---- TLSA RRsets ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(malformed_tlsa_rdata_only_is_unusable) {
    // A secure TLSA RRset exists, none of it usable: RFC 7672 §2.2 still
    // demands encryption. It is not "none" and not "dane".
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.secure_host("mx.example", answer({Bytes{3, 1, 1}, Bytes{}, Bytes{3}}));

    const DaneFacts f = lookup_dane(r, "example");
    const auto& h = host(f, 0);
    BOOST_TEST(h.dane == MxDane::unusable, describe(f));
    BOOST_TEST_REQUIRE(h.tlsa.size() == 1U);
    BOOST_TEST(h.tlsa[0].records.empty());
    BOOST_TEST(f.dane == DomainDane::unusable);
}

BOOST_AUTO_TEST_CASE(malformed_tlsa_rdata_next_to_a_usable_record) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.secure_host("mx.example", answer({Bytes{3, 1}, tlsa_rr(3, 1, 1, 31), usable_tlsa(),
                                        tlsa_rr(3, 1, 2, 63), tlsa_rr(3, 7, 1, 32)}));

    const DaneFacts f = lookup_dane(r, "example");
    const auto& h = host(f, 0);
    BOOST_TEST(h.dane == MxDane::dane, describe(f));
    BOOST_TEST_REQUIRE(h.tlsa.size() == 1U);
    // The 2-octet rdata is dropped; wrong digest lengths and selectors are
    // kept as unusable records, after the usable one.
    BOOST_TEST_REQUIRE(h.tlsa[0].records.size() == 4U);
    BOOST_TEST(h.tlsa[0].records[0].usable());
    BOOST_TEST(contains(h.why, "1 usable TLSA record"), h.why);
}

BOOST_AUTO_TEST_CASE(tlsa_cap_keeps_usable_records) {
    ScriptedResolver r;
    std::vector<Bytes> records;
    for (int i = 0; i < 6; ++i) {
        records.push_back(tlsa_rr(0, 0, 1, 32));  // PKIX-TA: unusable
    }
    records.push_back(tlsa_rr(2, 0, 2, 64));  // DANE-TA SHA2-512, last
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.secure_host("mx.example", answer(records));
    Limits limits;
    limits.max_tlsa_records = 3;

    const DaneFacts f = lookup_dane(r, "example", limits);
    const auto& h = host(f, 0);
    BOOST_TEST(h.dane == MxDane::dane, describe(f));
    BOOST_TEST_REQUIRE(h.tlsa.size() == 1U);
    BOOST_TEST_REQUIRE(h.tlsa[0].records.size() == 3U);
    BOOST_TEST(h.tlsa[0].records[0].usage == 2);
    BOOST_TEST(h.tlsa[0].records[0].usable());
}

BOOST_AUTO_TEST_CASE(tlsa_cap_bounds_usable_records_too) {
    ScriptedResolver r;
    const std::size_t cap = Limits{}.max_tlsa_records;
    std::vector<Bytes> records(cap + 8, usable_tlsa());
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.secure_host("mx.example", answer(records));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST_REQUIRE(host(f, 0).tlsa.size() == 1U);
    BOOST_TEST(host(f, 0).tlsa[0].records.size() == cap);
    BOOST_TEST(f.dane == DomainDane::pass, describe(f));
}

BOOST_AUTO_TEST_CASE(insecure_tlsa_rrset_is_treated_as_absent) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.secure_host("mx.example", answer({usable_tlsa()}, DnssecState::insecure));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(host(f, 0).dane == MxDane::none, describe(f));
    BOOST_TEST(contains(host(f, 0).why, "insecure"), host(f, 0).why);
    BOOST_TEST(f.dane == DomainDane::none);
}

BOOST_AUTO_TEST_CASE(tlsa_tempfail_is_error) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}));
    r.secure_host("mx.example", tempfail("SERVFAIL"));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::error, describe(f));
    BOOST_TEST(contains(f.why, "TLSA lookup for _25._tcp.mx.example failed: SERVFAIL"), f.why);
}

// ---- aggregation over several hosts -------------------------------------------

namespace {

enum class Kind { dane, error, unusable, none, no_addresses };

void script_host(ScriptedResolver& r, const std::string& name, Kind k) {
    switch (k) {
        case Kind::dane:
            r.secure_host(name, answer({usable_tlsa()}));
            break;
        case Kind::error:
            r.secure_host(name, bogus("TLSA RRSIG expired"));
            break;
        case Kind::unusable:
            r.secure_host(name, answer({unusable_tlsa()}));
            break;
        case Kind::none:
            r.secure_host(name, nodata());
            break;
        case Kind::no_addresses:
            r.script(name, RrType::a, nodata());
            r.script(name, RrType::aaaa, nodata());
            break;
    }
}

MxDane expected_mx(Kind k) {
    switch (k) {
        case Kind::dane:
            return MxDane::dane;
        case Kind::error:
            return MxDane::error;
        case Kind::unusable:
            return MxDane::unusable;
        case Kind::none:
            return MxDane::none;
        case Kind::no_addresses:
            return MxDane::no_addresses;
    }
    return MxDane::none;
}

}  // namespace

BOOST_AUTO_TEST_CASE(aggregation_precedence_pass_error_unusable_none) {
    struct Row {
        std::vector<Kind> hosts;  // in MX preference order
        DomainDane expected;
    };
    const std::vector<Row> rows = {
        {{Kind::none, Kind::unusable, Kind::error, Kind::dane}, DomainDane::pass},
        {{Kind::dane, Kind::error}, DomainDane::pass},
        {{Kind::error, Kind::no_addresses, Kind::dane}, DomainDane::pass},
        {{Kind::none, Kind::unusable, Kind::error}, DomainDane::error},
        {{Kind::unusable, Kind::error}, DomainDane::error},
        {{Kind::no_addresses, Kind::error}, DomainDane::error},
        {{Kind::none, Kind::unusable}, DomainDane::unusable},
        {{Kind::unusable, Kind::none, Kind::no_addresses}, DomainDane::unusable},
        {{Kind::none, Kind::none}, DomainDane::none},
        {{Kind::no_addresses, Kind::none}, DomainDane::none},
        {{Kind::no_addresses, Kind::no_addresses}, DomainDane::none},
    };
    for (std::size_t i = 0; i < rows.size(); ++i) {
        BOOST_TEST_CONTEXT("row " << i) {
            const Row& row = rows[i];
            ScriptedResolver r;
            std::vector<Bytes> mx;
            for (std::size_t j = 0; j < row.hosts.size(); ++j) {
                const std::string name = "mx" + std::to_string(j) + ".example";
                mx.push_back(mx_rr(static_cast<std::uint16_t>(10 * (j + 1)), name));
                script_host(r, name, row.hosts[j]);
            }
            r.script("example", RrType::mx, answer(mx));

            const DaneFacts f = lookup_dane(r, "example");
            BOOST_TEST(f.dane == row.expected, describe(f));
            BOOST_TEST_REQUIRE(f.hosts.size() == row.hosts.size());
            for (std::size_t j = 0; j < row.hosts.size(); ++j) {
                BOOST_TEST(f.hosts[j].dane == expected_mx(row.hosts[j]));
            }
            if (row.expected == DomainDane::pass) {
                const auto dane_host = static_cast<std::size_t>(
                    std::find(row.hosts.begin(), row.hosts.end(), Kind::dane) - row.hosts.begin());
                BOOST_TEST(contains(f.why, "mx" + std::to_string(dane_host) + ".example"), f.why);
            }
            if (row.expected == DomainDane::error) {
                BOOST_TEST(contains(f.why, "TLSA RRSIG expired"), f.why);
            }
        }
    }
}

// ---- TTL -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(ttl_is_the_minimum_of_the_answers_used) {
    ScriptedResolver r;
    r.two_mx();
    r.script("mx1.example", RrType::a, answer({a_rr("192.0.2.1")}, DnssecState::secure, 1200));
    r.script("mx1.example", RrType::aaaa, nodata(DnssecState::secure, 900));
    r.script("_25._tcp.mx1.example", RrType::tlsa,
             answer({usable_tlsa()}, DnssecState::secure, 240));
    r.script("mx2.example", RrType::a, answer({a_rr("192.0.2.2")}, DnssecState::secure, 7200));
    r.script("mx2.example", RrType::aaaa, nodata(DnssecState::secure, 600));
    r.script("_25._tcp.mx2.example", RrType::tlsa, nodata(DnssecState::secure, 480));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::pass, describe(f));
    BOOST_TEST(f.ttl.count() == 240);
}

BOOST_AUTO_TEST_CASE(ttl_ignores_failed_and_bogus_answers) {
    ScriptedResolver r;
    r.two_mx();
    r.secure_host("mx1.example", bogus("expired", 5), 1800);
    r.script("mx2.example", RrType::a, tempfail("timeout", 7));
    r.script("mx2.example", RrType::aaaa, nodata(DnssecState::secure, 2400));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.dane == DomainDane::error, describe(f));
    BOOST_TEST(f.ttl.count() == 1800);
}

BOOST_AUTO_TEST_CASE(ttl_of_an_insecure_mx_rrset) {
    ScriptedResolver r;
    r.script("example", RrType::mx, answer({mx_rr(10, "mx.example")}, DnssecState::insecure, 420));

    const DaneFacts f = lookup_dane(r, "example");
    BOOST_TEST(f.ttl.count() == 420, describe(f));
}

BOOST_AUTO_TEST_SUITE_END()
