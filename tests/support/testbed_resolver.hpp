// The settings an integration test needs to reach the test beds through the
// product's own classes: the validating resolver on the DNS test bed (knotd's
// signed test. zone, its DS as the trust anchor) and the MTA-STS fetch from
// the HTTPS test bed (its CA, port 8443, its access log). Addresses: testbed_net.hpp.
#pragma once

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/config/config.hpp"
#include "core/dns/unbound_resolver.hpp"
#include "tests/support/testbed_net.hpp"

namespace dsm::test {

// $DSM_TESTBED_DIR: the test beds' files (dns/, https/, smtp/, redis/).
inline std::string testbed_dir() {
    const char* dir = std::getenv("DSM_TESTBED_DIR");  // NOLINT(concurrency-mt-unsafe)
    BOOST_TEST_REQUIRE(dir != nullptr, "DSM_TESTBED_DIR is not set");
    return dir;
}

// The HTTPS test bed's access log lines (nginx, tests/testbed/https) that
// contain `needle`, e.g. " sni=mta-sts.sts-enforce.test ".
inline std::vector<std::string> https_access_log_lines(const std::string& needle) {
    std::vector<std::string> lines;
    std::ifstream in(testbed_dir() + "/https/access.log");
    for (std::string line; std::getline(in, line);) {
        if (line.find(needle) != std::string::npos) {
            lines.push_back(line);
        }
    }
    return lines;
}

// nginx writes a request's line once it has answered it, which may be a
// moment after the client has read the answer (a loaded machine: CI). Waits
// up to 2 s for at least `count` lines containing `needle`, and returns them
// all (fewer if they never came: the caller's assertion says so).
inline std::vector<std::string> await_https_access_log_lines(const std::string& needle,
                                                             std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    std::vector<std::string> lines = https_access_log_lines(needle);
    while (lines.size() < count && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        lines = https_access_log_lines(needle);
    }
    return lines;
}

inline config::ResolverSettings testbed_resolver_settings(
    std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
    config::ResolverSettings s;
    s.stub_zones = {{"test.", testbed_addr("10.53") + "@53"}};
    s.trust_anchor_file = testbed_dir() + "/dns/test.ds";
    s.timeout = timeout;
    return s;
}

// A resolver on `s`; the test stops here if libunbound refuses them.
inline std::unique_ptr<dns::UnboundResolver> make_resolver(const config::ResolverSettings& s) {
    auto r = dns::UnboundResolver::create(s);
    BOOST_TEST_REQUIRE(r.ok(), "UnboundResolver::create: " << (r.ok() ? "" : r.error()));
    return std::move(r).value();
}

constexpr std::uint16_t kHttpsPort = 8443;

inline config::StsSettings testbed_sts(
    std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    config::StsSettings s;
    s.ca_file = testbed_dir() + "/https/ca.crt";
    BOOST_TEST_REQUIRE(std::filesystem::exists(s.ca_file),
                       s.ca_file << " missing: is tests/testbed/https running?");
    s.https_port = kHttpsPort;
    s.fetch_timeout = timeout;
    return s;
}

}  // namespace dsm::test
