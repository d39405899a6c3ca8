// This run's test-bed network (tests/testbed/net.sh): the DNS test bed's
// start.sh chose 127.N for the test beds under $DSM_TESTBED_DIR and wrote it
// to $DSM_TESTBED_DIR/net. The address plan below N is fixed (net.sh).
#pragma once

#include <cstdlib>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>

namespace dsm::test {

// "127.N"; throws when the test beds were not started.
inline const std::string& testbed_net() {
    static const std::string net = [] {
        const char* dir = std::getenv("DSM_TESTBED_DIR");  // NOLINT(concurrency-mt-unsafe)
        if (dir == nullptr) {
            throw std::runtime_error("DSM_TESTBED_DIR is not set (run the tests through ctest)");
        }
        std::ifstream in(std::string(dir) + "/net");
        std::string line;
        if (!std::getline(in, line) || !std::regex_match(line, std::regex(R"(127\.[0-9]{1,3})"))) {
            throw std::runtime_error(std::string("no test-bed network in ") + dir +
                                     "/net (start the test beds first)");
        }
        return line;
    }();
    return net;
}

// testbed_addr("20.1") is "127.N.20.1".
inline std::string testbed_addr(std::string_view host) {
    return testbed_net() + "." + std::string(host);
}

}  // namespace dsm::test
