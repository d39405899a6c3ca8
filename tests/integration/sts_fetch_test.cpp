// core/sts/https_fetcher against the HTTPS test bed (tests/testbed/https:
// nginx on NET.30.1:8443 (testbed_net.hpp) with its own CA; policies.txt lists the cases) and
// the DNS test bed that gives every mta-sts.<domain> its address.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/config/config.hpp"
#include "core/dns/unbound_resolver.hpp"
#include "core/sts/policy_fetcher.hpp"
#include "tests/support/testbed_net.hpp"
#include "tests/support/testbed_resolver.hpp"

using dsm::config::StsSettings;
using dsm::dns::UnboundResolver;
using namespace dsm::sts;
using namespace dsm::test;  // the test beds: testbed_resolver.hpp
using std::chrono::milliseconds;

namespace {

// The HTTPS test bed's nginx.
std::string https_address() {
    return dsm::test::testbed_addr("30.1");
}
std::string describe(const FetchResult& r) {
    std::ostringstream out;
    out << r.url << ": " << to_string(r.outcome) << " status=" << r.status << " type=\""
        << r.content_type << "\" size=" << r.size << " address=" << r.address
        << " took=" << r.took.count() << "ms error=\"" << r.error << "\"";
    return out.str();
}

// Resolver and fetcher for one test.
struct Fetcher {
    std::unique_ptr<UnboundResolver> resolver;
    std::unique_ptr<PolicyFetcher> fetcher;
    explicit Fetcher(const StsSettings& s, milliseconds dns_timeout = milliseconds(3000))
        : resolver(make_resolver(testbed_resolver_settings(dns_timeout))),
          fetcher(make_https_fetcher(*resolver, s)) {}
    FetchResult fetch(const std::string& domain) {
        FetchResult r = fetcher->fetch(domain);
        BOOST_TEST_MESSAGE(describe(r));
        return r;
    }
};

// A TCP socket bound to the HTTPS test bed's address on a port the kernel
// picks; `where` is set to that address and port.
int bound_socket(sockaddr_in& where) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    BOOST_TEST_REQUIRE(fd >= 0);
    where = sockaddr_in{};
    where.sin_family = AF_INET;
    BOOST_TEST_REQUIRE(::inet_pton(AF_INET, https_address().c_str(), &where.sin_addr) == 1);
    BOOST_TEST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&where), sizeof where) == 0);
    socklen_t len = sizeof where;
    BOOST_TEST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&where), &len) == 0);
    return fd;
}

// A TCP port on the test bed's address that is bound but not listening: a
// connection to it is refused at once, and nobody else can take it meanwhile.
class RefusingPort {
  public:
    RefusingPort() {
        sockaddr_in a{};
        fd_ = bound_socket(a);
        port_ = ntohs(a.sin_port);
    }
    ~RefusingPort() { ::close(fd_); }
    RefusingPort(const RefusingPort&) = delete;
    RefusingPort& operator=(const RefusingPort&) = delete;
    [[nodiscard]] std::uint16_t port() const { return port_; }

  private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

// A TCP port on the test bed's address that never answers a connect, as a
// filtered host: it listens with a backlog of 0 and one connection, never
// accepted, fills its queue, so the kernel drops every later SYN (a full
// accept queue drops SYNs; tcp_abort_on_overflow is 0 by default). Real
// kernel behaviour; no peer is written for the test.
class UnansweredPort {
  public:
    UnansweredPort() {
        sockaddr_in a{};
        listener_ = bound_socket(a);
        BOOST_TEST_REQUIRE(::listen(listener_, 0) == 0);
        port_ = ntohs(a.sin_port);
        filler_ = ::socket(AF_INET, SOCK_STREAM, 0);
        BOOST_TEST_REQUIRE(filler_ >= 0);
        BOOST_TEST_REQUIRE(::connect(filler_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    }
    ~UnansweredPort() {
        ::close(filler_);
        ::close(listener_);
    }
    UnansweredPort(const UnansweredPort&) = delete;
    UnansweredPort& operator=(const UnansweredPort&) = delete;
    [[nodiscard]] std::uint16_t port() const { return port_; }

  private:
    int listener_ = -1;
    int filler_ = -1;
    std::uint16_t port_ = 0;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sts_fetch)

BOOST_AUTO_TEST_CASE(enforce_policy_is_fetched) {
    Fetcher f(testbed_sts());
    const FetchResult r = f.fetch("sts-enforce.test");
    BOOST_TEST(to_string(r.outcome) == "ok", describe(r));
    BOOST_TEST(r.url == "https://mta-sts.sts-enforce.test:8443/.well-known/mta-sts.txt");
    BOOST_TEST(r.address == https_address());
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.content_type.rfind("text/plain", 0) == 0u, r.content_type);
    BOOST_TEST(r.body ==
               "version: STSv1\nmode: enforce\nmx: mx.sts-enforce.test\nmax_age: 86400\n");
    BOOST_TEST(r.size == r.body.size());
    BOOST_TEST(r.error.empty(), r.error);
    BOOST_TEST(r.took.count() < 3000);
    // RFC 8461 §3.3: the request names the policy host (SNI and Host).
    BOOST_TEST(!await_https_access_log_lines("sni=mta-sts.sts-enforce.test", 1).empty());
}

BOOST_AUTO_TEST_CASE(name_is_normalised_and_body_kept_verbatim) {
    Fetcher f(testbed_sts());
    const FetchResult r = f.fetch("STS-Wild.test.");
    BOOST_TEST(to_string(r.outcome) == "ok", describe(r));
    BOOST_TEST(r.url == "https://mta-sts.sts-wild.test:8443/.well-known/mta-sts.txt");
    BOOST_TEST(r.body.find("mx: *.sts-wild.test\r\n") != std::string::npos, r.body);
}

BOOST_AUTO_TEST_CASE(redirect_is_not_followed) {
    Fetcher f(testbed_sts());
    const std::size_t before = https_access_log_lines("sni=mta-sts.sts-redirect.test").size();
    const std::size_t redirected_before = https_access_log_lines("/redirected/").size();
    const FetchResult r = f.fetch("sts-redirect.test");
    BOOST_TEST(to_string(r.outcome) == "http-status", describe(r));
    BOOST_TEST(r.status == 301);
    BOOST_TEST(r.error.find("/redirected/mta-sts.txt") != std::string::npos, r.error);
    BOOST_TEST(r.body.empty());
    const std::vector<std::string> lines =
        await_https_access_log_lines("sni=mta-sts.sts-redirect.test", before + 1);
    BOOST_TEST_REQUIRE(lines.size() == before + 1, "requests for sts-redirect: " << lines.size());
    BOOST_TEST(
        lines.back().find("\"GET /.well-known/mta-sts.txt HTTP/1.1\" 301") != std::string::npos,
        lines.back());
    BOOST_TEST(https_access_log_lines("/redirected/").size() == redirected_before);
}

BOOST_AUTO_TEST_CASE(certificate_for_another_name) {
    Fetcher f(testbed_sts());
    const FetchResult r = f.fetch("sts-wrongcert.test");
    BOOST_TEST(to_string(r.outcome) == "certificate-host-mismatch", describe(r));
    BOOST_TEST(r.error.find("mta-sts.sts-wrongcert.test") != std::string::npos, r.error);
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.body.empty());
}

BOOST_AUTO_TEST_CASE(certificate_from_unknown_ca) {
    Fetcher f(testbed_sts());
    const FetchResult r = f.fetch("sts-unknownca.test");
    BOOST_TEST(to_string(r.outcome) == "certificate-not-trusted", describe(r));
    BOOST_TEST(r.error.find("issuer") != std::string::npos, r.error);
    BOOST_TEST(r.status == 0);
}

// RFC 8461 §3.3: the policy host's certificate must be valid, hence not
// expired. sts-expired.test presents a certificate for the right name from
// the test CA, valid only in January 2020. The fetcher has no outcome of its
// own for an expired chain (FetchOutcome): any chain error but a name
// mismatch is certificate-not-trusted, and the error says why.
BOOST_AUTO_TEST_CASE(expired_certificate_is_not_trusted) {
    Fetcher f(testbed_sts());
    const FetchResult r = f.fetch("sts-expired.test");
    BOOST_TEST(to_string(r.outcome) == "certificate-not-trusted", describe(r));
    BOOST_TEST(r.error ==
                   "certificate not trusted: certificate has expired (depth 0, subject "
                   "CN=mta-sts.sts-expired.test)",
               r.error);
    BOOST_TEST(r.status == 0);
    BOOST_TEST(r.body.empty());
    BOOST_TEST(https_access_log_lines("sni=mta-sts.sts-expired.test").empty());  // no request sent
}

BOOST_AUTO_TEST_CASE(ca_file_is_the_only_trust) {
    // The right name and a valid chain, but to a CA that ca_file does not hold.
    StsSettings s = testbed_sts();
    s.ca_file = testbed_dir() + "/https/untrusted-ca.crt";
    Fetcher f(s);
    const FetchResult r = f.fetch("sts-enforce.test");
    BOOST_TEST(to_string(r.outcome) == "certificate-not-trusted", describe(r));
}

BOOST_AUTO_TEST_CASE(unreadable_ca_file) {
    StsSettings s = testbed_sts();
    s.ca_file = testbed_dir() + "/https/no-such-ca.crt";
    Fetcher f(s);
    const FetchResult r = f.fetch("sts-enforce.test");
    BOOST_TEST(to_string(r.outcome) == "tls-error", describe(r));
    BOOST_TEST(r.error.find("sts.ca_file") != std::string::npos, r.error);
}

BOOST_AUTO_TEST_CASE(not_found) {
    Fetcher f(testbed_sts());
    const FetchResult r = f.fetch("sts-404.test");
    BOOST_TEST(to_string(r.outcome) == "http-status", describe(r));
    BOOST_TEST(r.status == 404);
    BOOST_TEST(r.body.empty());
}

BOOST_AUTO_TEST_CASE(html_is_not_a_policy) {
    Fetcher f(testbed_sts());
    const FetchResult r = f.fetch("sts-html.test");
    BOOST_TEST(to_string(r.outcome) == "content-type", describe(r));
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.content_type.rfind("text/html", 0) == 0u, r.content_type);
    BOOST_TEST(r.body.empty());
}

BOOST_AUTO_TEST_CASE(body_over_64k) {
    Fetcher f(testbed_sts());
    const FetchResult r = f.fetch("sts-big.test");
    BOOST_TEST(to_string(r.outcome) == "too-large", describe(r));
    BOOST_TEST(r.size <= dsm::sts::kMaxPolicySize + 1);
    BOOST_TEST(r.body.empty());
}

BOOST_AUTO_TEST_CASE(dripping_server_is_cut_at_the_deadline) {
    // Every byte arrives within a second: only a deadline for the whole
    // exchange ends this (~6 minutes otherwise).
    Fetcher f(testbed_sts(milliseconds(2000)));
    const FetchResult r = f.fetch("sts-drip.test");
    BOOST_TEST(to_string(r.outcome) == "timeout", describe(r));
    BOOST_TEST(r.took.count() >= 1900);
    BOOST_TEST(r.took.count() < 3000);
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body.empty());
}

// SPEC §8 SIGTERM: a fetch under way (a dripping server) ends at once, not
// at fetch_timeout_ms, and a fetch begun afterwards does not connect.
BOOST_AUTO_TEST_CASE(shutdown_cuts_fetches_under_way_short) {
    Fetcher f(testbed_sts(milliseconds(8000)));
    // Boost.Test is not thread-safe: the fetching thread only fetches.
    auto drip = std::async(std::launch::async, [&] { return f.fetcher->fetch("sts-drip.test"); });
    BOOST_TEST_REQUIRE((drip.wait_for(milliseconds(1000)) == std::future_status::timeout));
    const auto cut_at = std::chrono::steady_clock::now();
    BOOST_TEST(f.fetcher->shutdown() == 1U);
    const FetchResult r = drip.get();
    BOOST_TEST(to_string(r.outcome) == "timeout", describe(r));
    BOOST_TEST(r.error == "cut short: the milter is stopping");
    BOOST_TEST(r.body.empty());
    BOOST_TEST((std::chrono::steady_clock::now() - cut_at < milliseconds(1000)));

    const FetchResult later = f.fetch("sts-enforce.test");
    BOOST_TEST(later.error == "cut short: the milter is stopping", describe(later));
    BOOST_TEST(later.address.empty());  // not connected
    BOOST_TEST(f.fetcher->shutdown() == 0U);
}

// SPEC §8 SIGTERM: a fetch still waiting for its TCP connection (a policy
// host that drops SYNs) ends at once too, not at fetch_timeout_ms.
BOOST_AUTO_TEST_CASE(shutdown_cuts_an_unanswered_connect_short) {
    UnansweredPort silent;
    StsSettings s = testbed_sts(milliseconds(8000));
    s.https_port = silent.port();
    Fetcher f(s);
    // Boost.Test is not thread-safe: the fetching thread only fetches.
    auto hung =
        std::async(std::launch::async, [&] { return f.fetcher->fetch("sts-enforce.test"); });
    BOOST_TEST_REQUIRE((hung.wait_for(milliseconds(1000)) == std::future_status::timeout));
    const auto cut_at = std::chrono::steady_clock::now();
    BOOST_TEST(f.fetcher->shutdown() == 1U);  // the connect under way
    const FetchResult r = hung.get();
    BOOST_TEST(to_string(r.outcome) == "timeout", describe(r));
    BOOST_TEST(r.error == "cut short: the milter is stopping");
    BOOST_TEST(r.address.empty());  // never connected
    BOOST_TEST((std::chrono::steady_clock::now() - cut_at < milliseconds(1000)));
}

BOOST_AUTO_TEST_CASE(policy_host_without_address) {
    Fetcher f(testbed_sts());
    const FetchResult r = f.fetch("sts-nohost.test");
    BOOST_TEST(to_string(r.outcome) == "dns-error", describe(r));
    BOOST_TEST(r.error == "mta-sts.sts-nohost.test has no address");
    BOOST_TEST(r.address.empty());
}

BOOST_AUTO_TEST_CASE(bogus_address_is_not_used) {
    // expired.test: every signature expired in 2020.
    Fetcher f(testbed_sts());
    const FetchResult r = f.fetch("expired.test");
    BOOST_TEST(to_string(r.outcome) == "dns-error", describe(r));
    BOOST_TEST(r.error.find("bogus") != std::string::npos, r.error);
}

BOOST_AUTO_TEST_CASE(failed_lookup_is_a_dns_error) {
    // noanswer.test: delegated to a server that never answers.
    Fetcher f(testbed_sts(), milliseconds(500));
    const FetchResult r = f.fetch("noanswer.test");
    BOOST_TEST(to_string(r.outcome) == "dns-error", describe(r));
    BOOST_TEST(r.error.find("lookup failed") != std::string::npos, r.error);
}

BOOST_AUTO_TEST_CASE(nothing_listens) {
    RefusingPort closed;
    StsSettings s = testbed_sts();
    s.https_port = closed.port();
    Fetcher f(s);
    const FetchResult r = f.fetch("sts-enforce.test");
    BOOST_TEST(to_string(r.outcome) == "connect-error", describe(r));
    BOOST_TEST(
        r.error.find(https_address() + ":" + std::to_string(closed.port())) != std::string::npos,
        r.error);
    BOOST_TEST(r.took.count() < 1000);
}

// The whole exchange has fetch_timeout_ms, the TCP connect included: a
// policy host that never answers the SYN costs that, and the error says where.
BOOST_AUTO_TEST_CASE(unanswered_connect_is_a_timeout) {
    UnansweredPort silent;
    StsSettings s = testbed_sts(milliseconds(1000));
    s.https_port = silent.port();
    Fetcher f(s);
    const FetchResult r = f.fetch("sts-enforce.test");
    BOOST_TEST(to_string(r.outcome) == "timeout", describe(r));
    const std::string where = https_address() + ":" + std::to_string(silent.port());
    BOOST_TEST(r.error.rfind("no connection to mta-sts.sts-enforce.test within 1000 ms (" + where +
                                 ": no answer within ",
                             0) == 0,
               r.error);
    BOOST_TEST(r.address.empty());
    BOOST_TEST(r.took.count() >= 900);
    BOOST_TEST(r.took.count() < 2000);
}

BOOST_AUTO_TEST_CASE(not_a_domain_name) {
    Fetcher f(testbed_sts());
    const FetchResult r = f.fetch("sts-enforce.test\r\nX-Injected: 1");
    BOOST_TEST(to_string(r.outcome) == "dns-error", describe(r));
    BOOST_TEST(r.error == "\"sts-enforce.test\\x0d\\x0aX-Injected: 1\" is not a domain name");
}

BOOST_AUTO_TEST_CASE(concurrent_fetches_share_one_fetcher) {
    // PolicyFetcher is thread-safe: one fetcher, one TLS context, several
    // fetches at once, a dripping one among them.
    Fetcher f(testbed_sts(milliseconds(2000)));
    const std::vector<std::pair<std::string, FetchOutcome>> cases = {
        {"sts-enforce.test", FetchOutcome::ok},
        {"sts-testing.test", FetchOutcome::ok},
        {"sts-drip.test", FetchOutcome::timeout},
        {"sts-wrongcert.test", FetchOutcome::certificate_host_mismatch},
        {"sts-unknownca.test", FetchOutcome::certificate_not_trusted},
        {"sts-html.test", FetchOutcome::content_type},
        {"sts-enforce.test", FetchOutcome::ok},
        {"sts-drip.test", FetchOutcome::timeout},
    };
    std::vector<FetchResult> results(cases.size());
    std::vector<std::thread> threads;
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < cases.size(); ++i) {
        threads.emplace_back([&, i] { results[i] = f.fetcher->fetch(cases[i].first); });
    }
    for (auto& t : threads) {
        t.join();
    }
    const auto took = std::chrono::steady_clock::now() - start;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        BOOST_TEST(to_string(results[i].outcome) == to_string(cases[i].second),
                   describe(results[i]));
    }
    BOOST_TEST(std::chrono::duration_cast<milliseconds>(took).count() < 3000);
}

BOOST_AUTO_TEST_SUITE_END()
