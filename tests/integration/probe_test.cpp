// core/probe against the STARTTLS test bed (tests/testbed/smtp: one asyncio
// server on NET.20.1 and NET.40.x (testbed_net.hpp), port 2525; its cases.txt gives each
// case's address, MX name and TLSA record). No DNS: the TLSA records are
// parameters, as the verdict pipeline passes them after its own lookup.
// Except the last suite (probe_sts_verdicts): the MTA-STS probe as the
// verdict builder runs it, with the DNS and HTTPS test beds (sts-probe-*.test).
#include <boost/test/unit_test.hpp>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/config/config.hpp"
#include "core/dns/unbound_resolver.hpp"
#include "core/probe/probe.hpp"
#include "core/probe/source_address.hpp"
#include "core/sts/policy_cache.hpp"
#include "core/sts/policy_fetcher.hpp"
#include "core/util/clock.hpp"
#include "core/verdict/verdict_builder.hpp"
#include "tests/support/enum_print.hpp"
#include "tests/support/testbed_net.hpp"
#include "tests/support/testbed_resolver.hpp"

namespace dsm::probe {
using dsm::test::operator<<;  // ProbeOutcome, printable in failed assertions
}  // namespace dsm::probe

using dsm::config::ProbeSettings;
using dsm::dane::TlsaRecord;
using namespace dsm::probe;
using std::chrono::milliseconds;

namespace {

constexpr std::uint16_t kProbePort = 2525;
constexpr milliseconds kTimeout{5000};
// X509_V_ERR_* values (OpenSSL 3.0 x509_vfy.h), without including OpenSSL.
constexpr int kHostnameMismatch = 62;
constexpr int kDaneNoMatch = 65;
constexpr int kCertHasExpired = 10;

std::string smtp_dir() {
    const char* dir = std::getenv("DSM_TESTBED_DIR");  // NOLINT(concurrency-mt-unsafe)
    BOOST_TEST_REQUIRE(dir != nullptr, "DSM_TESTBED_DIR is not set");
    std::string smtp = std::string(dir) + "/smtp";
    BOOST_TEST_REQUIRE(std::filesystem::exists(smtp + "/cases.txt"),
                       smtp << "/cases.txt missing: is tests/testbed/smtp running?");
    return smtp;
}

// The chain is fine, the name is not (RFC 7672 §3.2.3, RFC 8461 §4.2): a
// host mismatch, OpenSSL's first verify error; `subject` is the leaf's.
void expect_host_mismatch(const ProbeResult& r, const std::string& subject) {
    BOOST_TEST(r.outcome == ProbeOutcome::certificate_host_mismatch);
    BOOST_TEST(r.verify_error == kHostnameMismatch);
    BOOST_TEST(r.peer_subject == subject);
}

struct Case {
    std::string address;
    std::string host;
    std::optional<TlsaRecord> tlsa;
    std::string expected;  // to_string(ProbeOutcome), for the record
};

TlsaRecord parse_tlsa(int usage, int selector, int mtype, const std::string& hex) {
    TlsaRecord r;
    r.usage = static_cast<std::uint8_t>(usage);
    r.selector = static_cast<std::uint8_t>(selector);
    r.mtype = static_cast<std::uint8_t>(mtype);
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        r.data.push_back(static_cast<std::uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
    }
    return r;
}

// cases.txt: "case address mx_host (U S M HEX | -) expected", '#' comments.
const std::map<std::string, Case>& cases() {
    static const std::map<std::string, Case> all = [] {
        std::map<std::string, Case> m;
        std::ifstream in(smtp_dir() + "/cases.txt");
        for (std::string line; std::getline(in, line);) {
            if (line.empty() || line[0] == '#') {
                continue;
            }
            std::istringstream words(line);
            std::string name;
            Case c;
            std::string first;
            words >> name >> c.address >> c.host >> first;
            if (first != "-") {
                int selector = 0;
                int mtype = 0;
                std::string hex;
                words >> selector >> mtype >> hex;
                c.tlsa = parse_tlsa(std::stoi(first), selector, mtype, hex);
            }
            words >> c.expected;
            m.emplace(name, c);
        }
        return m;
    }();
    return all;
}

const Case& get(const std::string& name) {
    const auto it = cases().find(name);
    BOOST_TEST_REQUIRE((it != cases().end()), "no case " << name << " in cases.txt");
    return it->second;
}

std::vector<TlsaRecord> tlsa_of(const std::string& name) {
    const Case& c = get(name);
    BOOST_TEST_REQUIRE(c.tlsa.has_value(), name << " has no TLSA record");
    return {*c.tlsa};
}

std::string upper(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return s;
}

std::unique_ptr<Prober> prober(milliseconds timeout = kTimeout) {
    ProbeSettings s;
    s.enabled = true;
    s.port = kProbePort;
    s.timeout = timeout;
    return make_smtp_prober(s, smtp_dir() + "/webpki-ca.crt");
}

ProbeResult logged(ProbeResult r) {
    BOOST_TEST_MESSAGE(r.host << " " << r.address << ": " << to_string(r.outcome) << " in "
                              << r.took.count() << " ms; " << r.detail << " [" << r.tls_version
                              << " " << r.cipher << " subject=\"" << r.peer_subject
                              << "\" verify_error=" << r.verify_error << " tlsa=" << r.matched_tlsa
                              << "]");
    return r;
}

ProbeResult dane(const std::string& name, Prober& p) {
    const Case& c = get(name);
    return logged(p.probe_dane(c.host, c.address, tlsa_of(name)));
}

ProbeResult webpki(const std::string& name, Prober& p) {
    const Case& c = get(name);
    return logged(p.probe_webpki(c.host, c.address));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(probe_words)

BOOST_AUTO_TEST_CASE(rfc8460_result_types) {
    using dsm::probe::result_type;
    BOOST_TEST(result_type(ProbeOutcome::verified) == "");
    BOOST_TEST(result_type(ProbeOutcome::not_answering) == "");
    BOOST_TEST(result_type(ProbeOutcome::starttls_not_supported) == "starttls-not-supported");
    BOOST_TEST(result_type(ProbeOutcome::certificate_host_mismatch) == "certificate-host-mismatch");
    BOOST_TEST(result_type(ProbeOutcome::certificate_expired) == "certificate-expired");
    BOOST_TEST(result_type(ProbeOutcome::certificate_not_trusted) == "certificate-not-trusted");
    BOOST_TEST(result_type(ProbeOutcome::validation_failure) == "validation-failure");
    BOOST_TEST(result_type(ProbeOutcome::tls_error) == "validation-failure");
    BOOST_TEST(result_type(ProbeOutcome::protocol_error) == "validation-failure");
    BOOST_TEST(to_string(ProbeOutcome::not_answering) == "not-answering");
    BOOST_TEST(!dsm::probe::is_failure(ProbeOutcome::not_answering));
    BOOST_TEST(dsm::probe::is_failure(ProbeOutcome::tls_error));
}

BOOST_AUTO_TEST_CASE(tlsa_base_domain_from_qname) {
    dsm::dane::TlsaLookup t;
    t.qname = "_25._tcp.mx.example.test.";
    BOOST_TEST(dsm::probe::tlsa_base_domain(t) == "mx.example.test");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(probe_dane)

// RFC 7672 §3.1.1: the server's key is the one the 3 1 1 record names.
BOOST_AUTO_TEST_CASE(dane_ee_match_is_verified) {
    auto p = prober();
    const ProbeResult r = dane("dane-ee", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::verified);
    BOOST_TEST(r.matched_tlsa == upper(tlsa_of("dane-ee").front().to_string()));
    BOOST_TEST(r.matched_tlsa.rfind("3 1 1 ", 0) == 0);
    BOOST_TEST(!r.tls_version.empty());
    BOOST_TEST(!r.cipher.empty());
    BOOST_TEST(r.peer_subject == "CN=mx.dane-ok.test");
    BOOST_TEST(r.verify_error == 0);
    BOOST_TEST(r.took < kTimeout);
}

BOOST_AUTO_TEST_CASE(dane_ee_full_certificate_digest) {
    auto p = prober();
    const ProbeResult r = dane("dane-ee-cert", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::verified);
    BOOST_TEST(r.matched_tlsa.rfind("3 0 1 ", 0) == 0);
}

// §3.1.1: DANE-EE ignores the names in the certificate.
BOOST_AUTO_TEST_CASE(dane_ee_ignores_names) {
    auto p = prober();
    const ProbeResult r =
        logged(p->probe_dane("mx.elsewhere.test", get("dane-ee").address, tlsa_of("dane-ee")));
    BOOST_TEST(r.outcome == ProbeOutcome::verified);
}

BOOST_AUTO_TEST_CASE(dane_ee_no_match_is_validation_failure) {
    auto p = prober();
    const ProbeResult r = dane("dane-ee-nomatch", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::validation_failure);
    BOOST_TEST(r.verify_error == kDaneNoMatch);
    BOOST_TEST(r.matched_tlsa.empty());
    BOOST_TEST(r.peer_subject == "CN=mx.dane-ok.test");
}

// RFC 6698 §4.1 / RFC 7672 §3: one matching record in the RRset suffices.
BOOST_AUTO_TEST_CASE(one_match_among_several_records) {
    auto p = prober();
    std::vector<TlsaRecord> rrset = {*get("dane-ee-nomatch").tlsa, *get("dane-ta").tlsa,
                                     *get("dane-ee").tlsa};
    const ProbeResult r = logged(p->probe_dane("mx.dane-ok.test", get("dane-ee").address, rrset));
    BOOST_TEST(r.outcome == ProbeOutcome::verified);
    BOOST_TEST(r.matched_tlsa == upper(get("dane-ee").tlsa->to_string()));
}

// §3.1.1: nor the validity dates.
BOOST_AUTO_TEST_CASE(dane_ee_expired_certificate_is_verified) {
    auto p = prober();
    const ProbeResult r = dane("dane-ee-expired", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::verified);
    BOOST_TEST(r.verify_error == 0);
}

// §3.1.2: the chain leads to the trust anchor the 2 0 1 / 2 1 1 record names,
// and the leaf carries the MX name.
BOOST_AUTO_TEST_CASE(dane_ta_right_name_is_verified) {
    auto p = prober();
    const ProbeResult r = dane("dane-ta", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::verified);
    BOOST_TEST(r.matched_tlsa == upper(tlsa_of("dane-ta").front().to_string()));
    BOOST_TEST(r.peer_subject == "CN=mx.dane-ta.test");
    const ProbeResult spki = dane("dane-ta-spki", *p);
    BOOST_TEST(spki.outcome == ProbeOutcome::verified);
    BOOST_TEST(spki.matched_tlsa.rfind("2 1 1 ", 0) == 0);
}

// §3.2.2: the chain is fine, the name is not. OpenSSL verifies the chain up
// to the DANE trust anchor first and then checks the reference identifiers
// (check_id), so the first error is X509_V_ERR_HOSTNAME_MISMATCH, not
// X509_V_ERR_DANE_NO_MATCH; `openssl s_client -dane_tlsa_rrdata` reports
// "verify error:num=62:hostname mismatch" for this listener too.
BOOST_AUTO_TEST_CASE(dane_ta_wrong_name_is_host_mismatch) {
    auto p = prober();
    const ProbeResult r = dane("dane-ta-wrongname", *p);
    expect_host_mismatch(r, "CN=wrong.dane-ta.test");
}

// RFC 7672 §3.2.3 (RFC 6125 §6.4.3): in DANE-TA name checks a wildcard
// stands for exactly one whole left-most label. The NET.40.13 leaf (chain
// to the same TA as dane-ta) has the SAN *.dane-ta.test: it names
// mx.dane-ta.test, but not mx.sub.dane-ta.test (two labels).
BOOST_AUTO_TEST_CASE(dane_ta_wildcard_stands_for_one_whole_label) {
    auto p = prober();
    const ProbeResult r = dane("dane-ta-wildcard", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::verified);
    BOOST_TEST(r.verify_error == 0);
    BOOST_TEST(r.peer_subject == "CN=*.dane-ta.test");
    BOOST_TEST(r.matched_tlsa == upper(tlsa_of("dane-ta-wildcard").front().to_string()));
    const ProbeResult two = dane("dane-ta-wildcard-2labels", *p);
    BOOST_TEST(get("dane-ta-wildcard-2labels").host == "mx.sub.dane-ta.test");
    expect_host_mismatch(two, "CN=*.dane-ta.test");
}

// ...never for part of one: SAN m*.dane-ta.test does not name mx.dane-ta.test
// (X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS; OpenSSL alone would accept it).
BOOST_AUTO_TEST_CASE(dane_ta_partial_wildcard_is_host_mismatch) {
    auto p = prober();
    const ProbeResult r = dane("dane-ta-partwild", *p);
    expect_host_mismatch(r, "CN=m*.dane-ta.test");
    BOOST_TEST(r.matched_tlsa.empty());
}

// RFC 7672 §3.2.3: the CN-ID counts when a certificate has no DNS-ID, so a
// DANE-TA leaf with CN=mx.dane-ta.test and no SAN is accepted (unlike
// WebPKI, RFC 8461 §4.2: probe_webpki/san_less_certificate_is_host_mismatch).
BOOST_AUTO_TEST_CASE(dane_ta_san_less_certificate_matches_by_cn) {
    auto p = prober();
    const ProbeResult r = dane("dane-ta-nosan", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::verified);
    BOOST_TEST(r.peer_subject == "CN=mx.dane-ta.test");
}

// RFC 7671 §9 (RFC 7672 §5), digest algorithm agility: with a SHA2-512
// record published for usage 3 selector 1, the SHA2-256 record of the same
// usage and selector is ignored, even though it matches. NET.20.1
// presents the key of dane-ee (3 1 1); dane-ee-sha512-wrong is a 3 1 2
// digest of no key.
BOOST_AUTO_TEST_CASE(weaker_digest_is_ignored_when_a_stronger_one_is_published) {
    auto p = prober();
    const Case& ee = get("dane-ee");
    const TlsaRecord sha256 = *ee.tlsa;
    const TlsaRecord wrong512 = *get("dane-ee-sha512-wrong").tlsa;
    BOOST_TEST_REQUIRE(sha256.mtype == 1);
    BOOST_TEST_REQUIRE(wrong512.mtype == 2);
    BOOST_TEST_REQUIRE((wrong512.usage == sha256.usage && wrong512.selector == sha256.selector));
    // Alone, each does what it says.
    BOOST_TEST(dane("dane-ee", *p).outcome == ProbeOutcome::verified);
    BOOST_TEST(dane("dane-ee-sha512-wrong", *p).outcome == ProbeOutcome::validation_failure);
    // Together, in either order: the right SHA2-256 digest does not count.
    for (const auto& rrset :
         {std::vector<TlsaRecord>{sha256, wrong512}, std::vector<TlsaRecord>{wrong512, sha256}}) {
        const ProbeResult r = logged(p->probe_dane(ee.host, ee.address, rrset));
        BOOST_TEST(r.outcome == ProbeOutcome::validation_failure);
        BOOST_TEST(r.verify_error == kDaneNoMatch);
        BOOST_TEST(r.matched_tlsa.empty());
    }
    // The right SHA2-512 digest next to it: that one matches.
    const ProbeResult both =
        logged(p->probe_dane(ee.host, ee.address, {sha256, *get("dane-ee-sha512").tlsa}));
    BOOST_TEST(both.outcome == ProbeOutcome::verified);
    BOOST_TEST(both.matched_tlsa == upper(get("dane-ee-sha512").tlsa->to_string()));
    // Agility is per usage and selector: a matching 3 0 1 (selector 0) still
    // counts next to the wrong 3 1 2.
    const ProbeResult other_selector =
        logged(p->probe_dane(ee.host, ee.address, {wrong512, *get("dane-ee-cert").tlsa}));
    BOOST_TEST(other_selector.outcome == ProbeOutcome::verified);
    BOOST_TEST(other_selector.matched_tlsa.rfind("3 0 1 ", 0) == 0U);
}

// A 2 0 1 record naming a certificate that is not in the chain: with the
// TLSA records as the only trust anchors, nothing matches.
BOOST_AUTO_TEST_CASE(dane_ta_other_anchor_is_validation_failure) {
    auto p = prober();
    TlsaRecord other = *get("dane-ee-cert").tlsa;  // 3 0 1 of another certificate
    other.usage = 2;
    const ProbeResult r = logged(p->probe_dane("mx.dane-ta.test", get("dane-ta").address, {other}));
    BOOST_TEST(r.outcome == ProbeOutcome::validation_failure);
    BOOST_TEST(r.verify_error != 0);
}

// §2.2.2 / §3.2.2: TLSA found at the CNAME-expanded name; the certificate
// may carry either that name or the MX name.
BOOST_AUTO_TEST_CASE(dane_ta_cname_expanded_names) {
    auto p = prober();
    const std::string address = get("dane-ta").address;
    const auto rrset = tlsa_of("dane-ta");
    // Certificate for the TLSA base domain (the SNI and primary identifier).
    BOOST_TEST(logged(p->probe_dane_expanded("alias.other.test", "mx.dane-ta.test", address, rrset))
                   .outcome == ProbeOutcome::verified);
    // Certificate for the MX name, TLSA at the expanded name.
    BOOST_TEST(logged(p->probe_dane_expanded("mx.dane-ta.test", "real.other.test", address, rrset))
                   .outcome == ProbeOutcome::verified);
    // Neither.
    BOOST_TEST(logged(p->probe_dane_expanded("alias.other.test", "real.other.test", address, rrset))
                   .outcome == ProbeOutcome::certificate_host_mismatch);
}

BOOST_AUTO_TEST_CASE(probe_dane_host_uses_the_last_tlsa_lookup) {
    auto p = prober();
    dsm::dane::MxHost host;
    host.name = "alias.other.test";
    host.canonical_name = "mx.dane-ta.test";
    host.dane = dsm::dane::MxDane::dane;
    dsm::dane::TlsaLookup t;
    t.qname = "_25._tcp.mx.dane-ta.test.";
    t.records = tlsa_of("dane-ta");
    host.tlsa.push_back(t);
    const ProbeResult r = logged(dsm::probe::probe_dane_host(*p, host, get("dane-ta").address));
    BOOST_TEST(r.outcome == ProbeOutcome::verified);
    BOOST_TEST(r.host == "alias.other.test");
}

// §3.1.3: PKIX-TA/PKIX-EE are unusable; with nothing usable there is
// nothing to probe with (and no connection is made).
BOOST_AUTO_TEST_CASE(no_usable_record_fails_without_connecting) {
    auto p = prober();
    TlsaRecord pkix = *get("dane-ee").tlsa;
    pkix.usage = 1;
    const ProbeResult r = logged(p->probe_dane("mx.dane-ok.test", get("dane-ee").address, {pkix}));
    BOOST_TEST(r.outcome == ProbeOutcome::validation_failure);
    BOOST_TEST(r.tls_version.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(probe_smtp)

BOOST_AUTO_TEST_CASE(no_starttls_offered) {
    auto p = prober();
    BOOST_TEST(dane("no-starttls", *p).outcome == ProbeOutcome::starttls_not_supported);
    BOOST_TEST(webpki("no-starttls", *p).outcome == ProbeOutcome::starttls_not_supported);
}

BOOST_AUTO_TEST_CASE(starttls_refused_with_454) {
    auto p = prober();
    BOOST_TEST(dane("starttls-454", *p).outcome == ProbeOutcome::starttls_not_supported);
}

// RFC 3207 §5 (CVE-2011-0411): a reply after the STARTTLS 220, before TLS.
BOOST_AUTO_TEST_CASE(data_after_starttls_reply_is_protocol_error) {
    auto p = prober();
    BOOST_TEST(dane("starttls-inject", *p).outcome == ProbeOutcome::protocol_error);
}

BOOST_AUTO_TEST_CASE(refused_connection_is_not_answering_at_once) {
    auto p = prober();
    const ProbeResult r = dane("refused", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::not_answering);
    BOOST_TEST(r.took < milliseconds(500));
    BOOST_TEST(r.detail.find("refused") != std::string::npos);
}

// SPEC §5: silence is "not answering", and timeout_ms bounds the whole probe.
BOOST_AUTO_TEST_CASE(no_banner_is_not_answering_within_the_timeout) {
    const milliseconds timeout{1500};
    auto p = prober(timeout);
    const auto start = std::chrono::steady_clock::now();
    const ProbeResult r = dane("silent", *p);
    const auto wall = std::chrono::steady_clock::now() - start;
    BOOST_TEST(r.outcome == ProbeOutcome::not_answering);
    BOOST_TEST(r.took >= timeout - milliseconds(50));
    BOOST_TEST(wall < timeout + milliseconds(1000));
    BOOST_TEST(r.detail.find("banner") != std::string::npos);
}

// The deadline covers the handshake too: 220 to STARTTLS, then nothing.
BOOST_AUTO_TEST_CASE(silent_tls_handshake_ends_at_the_deadline) {
    const milliseconds timeout{1500};
    auto p = prober(timeout);
    const auto start = std::chrono::steady_clock::now();
    const ProbeResult r = dane("tls-hang", *p);
    const auto wall = std::chrono::steady_clock::now() - start;
    BOOST_TEST(r.outcome == ProbeOutcome::not_answering);
    BOOST_TEST(wall < timeout + milliseconds(1000));
    BOOST_TEST(r.detail.find("handshake") != std::string::npos);
}

// SPEC §8 SIGTERM: a probe waiting on a silent server (before the banner) or
// inside a handshake that never ends is cut short at once, not at its
// timeout, and a probe begun afterwards ends before it connects.
BOOST_AUTO_TEST_CASE(shutdown_cuts_probes_under_way_short) {
    auto p = prober(milliseconds(8000));
    // Boost.Test is not thread-safe: the probing threads only probe.
    const Case& silent_mx = get("silent");
    const Case& hang_mx = get("tls-hang");
    const auto silent_tlsa = tlsa_of("silent");
    const auto hang_tlsa = tlsa_of("tls-hang");
    auto silent = std::async(std::launch::async, [&] {
        return p->probe_dane(silent_mx.host, silent_mx.address, silent_tlsa);
    });
    auto hang = std::async(std::launch::async,
                           [&] { return p->probe_dane(hang_mx.host, hang_mx.address, hang_tlsa); });
    BOOST_TEST_REQUIRE((silent.wait_for(milliseconds(500)) == std::future_status::timeout));
    const auto cut_at = std::chrono::steady_clock::now();
    BOOST_TEST(p->shutdown() == 2U);
    for (auto* f : {&silent, &hang}) {
        const ProbeResult r = logged(f->get());
        BOOST_TEST(r.outcome == ProbeOutcome::not_answering);
        BOOST_TEST(r.detail.find("cut short: the milter is stopping") != std::string::npos,
                   r.detail);
    }
    BOOST_TEST((std::chrono::steady_clock::now() - cut_at < milliseconds(1000)));

    const auto start = std::chrono::steady_clock::now();
    const ProbeResult later = dane("dane-ee", *p);
    BOOST_TEST(later.outcome == ProbeOutcome::not_answering);
    BOOST_TEST(later.detail.find("cut short") != std::string::npos, later.detail);
    BOOST_TEST((std::chrono::steady_clock::now() - start < milliseconds(1000)));
    BOOST_TEST(p->shutdown() == 0U);  // idempotent: nothing under way
}

BOOST_AUTO_TEST_CASE(not_an_address) {
    auto p = prober();
    const ProbeResult r = logged(p->probe_webpki("mx.webpki.test", "mx.webpki.test"));
    BOOST_TEST(r.outcome == ProbeOutcome::not_answering);
}

BOOST_AUTO_TEST_SUITE_END()

// [probe] bind_address and bind_address6 (core/probe/source_address.hpp):
// the address probes connect from, as Postfix's smtp_bind_address.
BOOST_AUTO_TEST_SUITE(probe_source)

// The test bed logs each client's address ("<case> <ip>:<port> connect");
// without a bind address the kernel picks 127.0.0.1 for every 127/8 peer.
BOOST_AUTO_TEST_CASE(probe_connects_from_bind_address) {
    ProbeSettings s;
    s.enabled = true;
    s.port = kProbePort;
    s.timeout = kTimeout;
    s.bind_address = dsm::test::testbed_addr("99.7");
    BOOST_TEST(!check_source_addresses(s));
    auto p = make_smtp_prober(s, smtp_dir() + "/webpki-ca.crt");
    const ProbeResult r = dane("dane-ee", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::verified, r.detail);

    const std::string from = " dane-ee " + s.bind_address + ":";
    std::size_t seen = 0;
    std::ifstream log(smtp_dir() + "/server.log");
    for (std::string line; std::getline(log, line);) {
        seen += line.find(from) != std::string::npos && line.ends_with(" connect") ? 1 : 0;
    }
    BOOST_TEST(seen == 1U, "connections from" << from << " in server.log");
}

// Checked at start: an address this host does not have is a configuration
// error. Should it go away later, each probe says so as a local error (the
// MX is not to blame: not_answering) at once, without a connection.
BOOST_AUTO_TEST_CASE(an_address_of_another_host_is_a_local_error) {
    ProbeSettings s;
    s.enabled = true;
    s.port = kProbePort;
    s.timeout = kTimeout;
    s.bind_address = "192.0.2.1";  // TEST-NET-1 (RFC 5737): nobody's
    BOOST_TEST(check_source_addresses(s).value_or("") ==
               "[probe] bind_address 192.0.2.1: Cannot assign requested address");
    auto p = make_smtp_prober(s, smtp_dir() + "/webpki-ca.crt");
    const ProbeResult r = dane("dane-ee", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::not_answering);
    BOOST_TEST(r.detail == "connect to " + get("dane-ee").address +
                               " port 2525: local error: bind to 192.0.2.1: Cannot assign "
                               "requested address",
               r.detail);
    BOOST_TEST(r.took < milliseconds(500));

    s.bind_address.clear();
    s.bind_address6 = "2001:db8::1";  // RFC 3849 documentation prefix
    const auto six = check_source_addresses(s).value_or("");
    BOOST_TEST(six.starts_with("[probe] bind_address6 2001:db8::1: "), six);
    // ... and it is not used for an IPv4 MX.
    auto p6 = make_smtp_prober(s, smtp_dir() + "/webpki-ca.crt");
    BOOST_TEST(dane("dane-ee", *p6).outcome == ProbeOutcome::verified);
}

BOOST_AUTO_TEST_CASE(source_address_by_the_peers_family) {
    ProbeSettings s;
    s.bind_address = "198.51.100.7";
    s.bind_address6 = "2001:db8::7";
    BOOST_TEST(source_address_for(s, "203.0.113.1") == "198.51.100.7");
    BOOST_TEST(source_address_for(s, "2001:db8::25") == "2001:db8::7");
    BOOST_TEST(source_address_for(s, "::ffff:203.0.113.1") == "2001:db8::7");
    s.bind_address6.clear();
    BOOST_TEST(source_address_for(s, "2001:db8::25").empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(probe_webpki)

// RFC 8461 §4.2: a chain to a trusted CA and the MX name.
BOOST_AUTO_TEST_CASE(right_name_is_verified) {
    auto p = prober();
    const ProbeResult r = webpki("webpki", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::verified);
    BOOST_TEST(r.peer_subject == "CN=mx.webpki.test");
    BOOST_TEST(r.matched_tlsa.empty());
}

BOOST_AUTO_TEST_CASE(wrong_name_is_host_mismatch) {
    auto p = prober();
    const ProbeResult r = webpki("webpki-wrongname", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::certificate_host_mismatch);
    BOOST_TEST(r.verify_error == kHostnameMismatch);
}

BOOST_AUTO_TEST_CASE(expired_is_certificate_expired) {
    auto p = prober();
    const ProbeResult r = webpki("webpki-expired", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::certificate_expired);
    BOOST_TEST(r.verify_error == kCertHasExpired);
}

BOOST_AUTO_TEST_CASE(unknown_ca_is_not_trusted) {
    auto p = prober();
    BOOST_TEST(webpki("webpki-unknownca", *p).outcome == ProbeOutcome::certificate_not_trusted);
}

// RFC 8461 §4.2: the MX name must be a subjectAltName DNS-ID. The leaf on
// NET.40.24 (trusted CA, valid dates) has CN=mx.sts-probe-nosan.test and
// no SAN: OpenSSL would fall back to the CN without
// X509_CHECK_FLAG_NEVER_CHECK_SUBJECT.
BOOST_AUTO_TEST_CASE(san_less_certificate_is_host_mismatch) {
    auto p = prober();
    const ProbeResult r = webpki("sts-probe-nosan", *p);
    expect_host_mismatch(r, "CN=mx.sts-probe-nosan.test");
}

// RFC 8461 §4.2 with RFC 6125 §6.4.3: SAN *.sts-probe-wildcard.test names
// mx.sts-probe-wildcard.test (one whole label), not a.mx.sts-probe-wildcard.test.
BOOST_AUTO_TEST_CASE(wildcard_san_stands_for_one_whole_label) {
    auto p = prober();
    const ProbeResult r = webpki("sts-probe-wildcard", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::verified);
    BOOST_TEST(r.peer_subject == "CN=*.sts-probe-wildcard.test");
    const ProbeResult two =
        logged(p->probe_webpki("a.mx.sts-probe-wildcard.test", get("sts-probe-wildcard").address));
    BOOST_TEST(two.outcome == ProbeOutcome::certificate_host_mismatch);
    BOOST_TEST(two.verify_error == kHostnameMismatch);
}

// A partial wildcard (m*.sts-probe-partwild.test) names nothing.
BOOST_AUTO_TEST_CASE(partial_wildcard_san_is_host_mismatch) {
    auto p = prober();
    const ProbeResult r = webpki("sts-probe-partwild", *p);
    expect_host_mismatch(r, "CN=m*.sts-probe-partwild.test");
}

// A DANE-only certificate (self-signed) is not a WebPKI one.
BOOST_AUTO_TEST_CASE(self_signed_is_not_trusted) {
    auto p = prober();
    const ProbeResult r = logged(p->probe_webpki("mx.dane-ok.test", get("dane-ee").address));
    BOOST_TEST(r.outcome == ProbeOutcome::certificate_not_trusted);
}

BOOST_AUTO_TEST_CASE(unreadable_ca_file_is_a_local_error) {
    ProbeSettings s;
    s.port = kProbePort;
    s.timeout = kTimeout;
    auto p = make_smtp_prober(s, smtp_dir() + "/no-such-ca.crt");
    const ProbeResult r = webpki("webpki", *p);
    BOOST_TEST(r.outcome == ProbeOutcome::tls_error);
    BOOST_TEST(r.detail.find("no-such-ca.crt") != std::string::npos);
    BOOST_TEST(r.took < milliseconds(5));  // no connection made
    // DANE does not need the CA file.
    BOOST_TEST(dane("dane-ee", *p).outcome == ProbeOutcome::verified);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(probe_concurrency)

// One Prober, many threads (SPEC §6 prefetcher): every probe stands alone.
BOOST_AUTO_TEST_CASE(shared_prober_many_threads) {
    auto p = prober();
    const Case& ee = get("dane-ee");
    const Case& pki = get("webpki");
    const auto ee_tlsa = tlsa_of("dane-ee");
    const auto bad_tlsa = tlsa_of("dane-ee-nomatch");
    std::atomic<int> wrong{0};
    constexpr int kThreads = 8;
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 5; ++i) {
                ProbeResult r;
                ProbeOutcome want = ProbeOutcome::verified;
                switch ((t + i) % 3) {
                    case 0:
                        r = p->probe_dane(ee.host, ee.address, ee_tlsa);
                        break;
                    case 1:
                        r = p->probe_dane(ee.host, ee.address, bad_tlsa);
                        want = ProbeOutcome::validation_failure;
                        break;
                    default:
                        r = p->probe_webpki(pki.host, pki.address);
                        break;
                }
                if (r.outcome != want) {
                    ++wrong;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    BOOST_TEST(wrong.load() == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(probe_webpki_sts_cases)

// The MXs behind the sts-probe-*.test domains, one RFC 8460 §4.3 result type
// each (cases.txt says which).
BOOST_AUTO_TEST_CASE(each_case_gives_its_result_type) {
    auto p = prober();
    const std::map<std::string, std::pair<ProbeOutcome, std::string>> want = {
        {"sts-probe-ok", {ProbeOutcome::verified, ""}},
        {"sts-probe-wrongname",
         {ProbeOutcome::certificate_host_mismatch, "certificate-host-mismatch"}},
        {"sts-probe-expired", {ProbeOutcome::certificate_expired, "certificate-expired"}},
        {"sts-probe-untrusted", {ProbeOutcome::certificate_not_trusted, "certificate-not-trusted"}},
        {"sts-probe-nostarttls", {ProbeOutcome::starttls_not_supported, "starttls-not-supported"}},
        // SPEC §5: not a failure, and no result type.
        {"sts-probe-refused", {ProbeOutcome::not_answering, ""}},
        // RFC 8461 §4.2: DNS-IDs only, wildcards as whole left-most labels.
        {"sts-probe-nosan", {ProbeOutcome::certificate_host_mismatch, "certificate-host-mismatch"}},
        {"sts-probe-wildcard", {ProbeOutcome::verified, ""}},
        {"sts-probe-partwild",
         {ProbeOutcome::certificate_host_mismatch, "certificate-host-mismatch"}},
    };
    for (const auto& [name, expected] : want) {
        const Case& c = get(name);
        BOOST_TEST(c.expected == std::string(to_string(expected.first)), name);
        const ProbeResult r = webpki(name, *p);
        BOOST_TEST(r.outcome == expected.first, name);
        BOOST_TEST(dsm::probe::result_type(r.outcome) == expected.second, name);
        BOOST_TEST(dsm::probe::is_failure(r.outcome) == !expected.second.empty(), name);
    }
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// The whole lookup of one domain with the probe on: the DNS test bed, the
// HTTPS test bed's policies, the SMTP test bed's listeners. The probe trusts
// both test CAs, as [sts] ca_file would (one bundle for fetch and probe).
struct StsProbeStack {
    std::string testbed = std::string(std::getenv("DSM_TESTBED_DIR"));  // NOLINT
    std::string bundle = (std::filesystem::temp_directory_path() /
                          ("dsm-probe-test-ca-" + std::to_string(::getpid()) + ".pem"))
                             .string();
    std::unique_ptr<dsm::dns::UnboundResolver> resolver;
    std::unique_ptr<dsm::sts::PolicyFetcher> fetcher;
    dsm::sts::PolicyCache policies;
    dsm::util::SystemClock clock;
    std::unique_ptr<Prober> prober;
    std::unique_ptr<dsm::verdict::VerdictBuilder> builder;

    StsProbeStack() {
        {
            std::ofstream out(bundle, std::ios::trunc);
            for (const char* part : {"/https/ca.crt", "/smtp/webpki-ca.crt"}) {
                std::ifstream in(testbed + part);
                BOOST_TEST_REQUIRE(in.good(), testbed << part << " missing");
                out << in.rdbuf();
            }
        }
        resolver = dsm::test::make_resolver(dsm::test::testbed_resolver_settings());
        dsm::config::StsSettings ss;
        ss.ca_file = bundle;
        ss.https_port = dsm::test::kHttpsPort;
        ss.fetch_timeout = milliseconds(5000);
        fetcher = dsm::sts::make_https_fetcher(*resolver, ss);
        ProbeSettings ps;
        ps.enabled = true;
        ps.port = kProbePort;
        ps.timeout = kTimeout;
        prober = make_smtp_prober(ps, bundle);
        builder = std::make_unique<dsm::verdict::VerdictBuilder>(*resolver, fetcher.get(), policies,
                                                                 clock, prober.get());
    }
    ~StsProbeStack() { std::filesystem::remove(bundle); }
    StsProbeStack(const StsProbeStack&) = delete;
    StsProbeStack& operator=(const StsProbeStack&) = delete;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(probe_sts_verdicts, StsProbeStack)

// Issue 12 item 1: every eligible MX of an enforce or testing policy is
// probed against WebPKI and its name (RFC 8461 §4.2); sts=fail only when one
// answered and none verified (SPEC §5); testing stays testing (§5).
BOOST_AUTO_TEST_CASE(sts_field_per_case) {
    struct Want {
        std::string domain;
        ProbeOutcome outcome;
        std::string sts;
    };
    const std::vector<Want> cases = {
        {"sts-probe-ok.test", ProbeOutcome::verified, "enforce"},
        {"sts-probe-wrongname.test", ProbeOutcome::certificate_host_mismatch, "fail"},
        {"sts-probe-expired.test", ProbeOutcome::certificate_expired, "fail"},
        {"sts-probe-untrusted.test", ProbeOutcome::certificate_not_trusted, "fail"},
        {"sts-probe-nostarttls.test", ProbeOutcome::starttls_not_supported, "fail"},
        {"sts-probe-refused.test", ProbeOutcome::not_answering, "enforce"},
        {"sts-probe-testing.test", ProbeOutcome::certificate_host_mismatch, "testing"},
        {"sts-probe-nosan.test", ProbeOutcome::certificate_host_mismatch, "fail"},
        {"sts-probe-wildcard.test", ProbeOutcome::verified, "enforce"},
        {"sts-probe-partwild.test", ProbeOutcome::certificate_host_mismatch, "fail"},
    };
    for (const auto& w : cases) {
        const auto facts = builder->lookup(w.domain, true);
        BOOST_TEST_REQUIRE(facts.sts.has_value(), w.domain);
        BOOST_TEST(facts.dane_probes.empty(), w.domain);
        BOOST_TEST_REQUIRE(facts.sts_probes.size() == 1U, w.domain);
        const ProbeResult& r = logged(facts.sts_probes.front());
        BOOST_TEST(r.host == "mx." + w.domain);
        BOOST_TEST(r.outcome == w.outcome, w.domain);
        const auto v = dsm::verdict::verdict_from_facts(facts, clock.wall());
        BOOST_TEST(std::string(dsm::verdict::to_string(v.sts)) == w.sts, w.domain);
        const std::string type(dsm::probe::result_type(w.outcome));
        // The cause names the MX and its RFC 8460 result type (log, reply),
        // or says that it did not answer.
        const std::string said = type.empty() ? std::string(to_string(w.outcome)) : type;
        if (w.outcome != ProbeOutcome::verified) {
            BOOST_TEST(v.sts_why.find("mx." + w.domain + " (" + said + ")") != std::string::npos,
                       v.sts_why);
        }
    }
}

// Only eligible MXs are probed (RFC 8461 §4.1), and never a DANE MX with
// WebPKI (§2: DANE governs it); no policy, no probe.
BOOST_AUTO_TEST_CASE(only_eligible_non_dane_mxs) {
    for (const char* d : {"sts-nomatch.test", "sts-dane.test", "sts-none.test", "sts-notxt.test"}) {
        const auto facts = builder->lookup(d, true);
        BOOST_TEST(facts.sts_probes.empty(), d);
    }
    // Without MTA-STS validation, nothing is fetched or probed.
    BOOST_TEST(builder->lookup("sts-probe-wrongname.test", false).sts_probes.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(probe_dane_verdicts, StsProbeStack)

// RFC 7671 §9 through DNS: dane-agility.test publishes, for its MX on
// NET.20.1, the right 3 1 1 record and a wrong 3 1 2 record (DNS test
// bed). Both are usable, so the lookup alone says pass; the probe ignores the
// weaker SHA2-256 record, nothing matches, and the verdict is dane=fail
// (SPEC §4 row 5: 450 4.7.5, tlsa-invalid).
BOOST_AUTO_TEST_CASE(weaker_digest_in_the_zone_does_not_verify) {
    const auto facts = builder->lookup("dane-agility.test", false);
    BOOST_TEST(to_string(facts.dane.dane) == "pass", facts.dane.why);
    BOOST_TEST_REQUIRE(facts.dane.hosts.size() == 1U);
    BOOST_TEST_REQUIRE(facts.dane.hosts.front().tlsa.size() == 1U);
    const auto& records = facts.dane.hosts.front().tlsa.front().records;
    BOOST_TEST_REQUIRE(records.size() == 2U);
    BOOST_TEST_REQUIRE(facts.dane_probes.size() == 1U);
    const ProbeResult& r = logged(facts.dane_probes.front());
    BOOST_TEST(r.host == "mx.dane-agility.test");
    BOOST_TEST(r.address == dsm::test::testbed_addr("20.1"));
    BOOST_TEST(r.outcome == ProbeOutcome::validation_failure);
    BOOST_TEST(r.verify_error == kDaneNoMatch);
    const auto v = dsm::verdict::verdict_from_facts(facts, clock.wall());
    BOOST_TEST(std::string(dsm::verdict::to_string(v.dane)) == "fail");
    BOOST_TEST(v.dane_why ==
                   "no DANE MX presented a certificate matching its TLSA records: "
                   "mx.dane-agility.test (validation-failure): " +
                       r.detail,
               v.dane_why);
}

BOOST_AUTO_TEST_SUITE_END()
