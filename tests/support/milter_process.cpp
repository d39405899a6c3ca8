#include "tests/support/milter_process.hpp"

#include "tests/support/testbed_net.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace dsm::test {

namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (std::size_t at = s.find(from); at != std::string::npos;
         at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
}

bool can_connect(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    ::close(fd);
    return ntohs(sa.sin_port);
}

std::string testbed_dir() {
    const char* d = std::getenv("DSM_TESTBED_DIR");
    if (d == nullptr) {
        throw std::runtime_error("DSM_TESTBED_DIR is not set (run the tests through ctest)");
    }
    return d;
}

MilterProcess::MilterProcess(const std::string& binary, const std::string& config_body) {
    char tmpl[] = "/tmp/dsm-milter-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    dir_ = tmpl;
    port_ = free_port();
    const std::string conf_path = dir_ + "/milter.conf";
    std::ofstream(conf_path) << render(config_body);

    std::fflush(nullptr);  // the child must not repeat buffered output
    pid_ = ::fork();
    if (pid_ < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {
        const std::string out = dir_ + "/stderr.log";
        std::freopen(out.c_str(), "a", stderr);
        std::freopen("/dev/null", "w", stdout);
        ::execl(binary.c_str(), binary.c_str(), "-c", conf_path.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!can_connect(port_)) {
        if (!running() || std::chrono::steady_clock::now() > until) {
            throw std::runtime_error("the milter did not start; its log:\n" + log());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

MilterProcess::~MilterProcess() {
    stop();
}

std::string MilterProcess::render(const std::string& body) const {
    std::string conf = body;
    replace_all(conf, "@PORT@", std::to_string(port_));
    replace_all(conf, "@TESTBED@", testbed_dir());
    replace_all(conf, "@NET@", testbed_net());
    replace_all(conf, "@LOG@", dir_ + "/milter.log");
    replace_all(conf, "@DIR@", dir_);
    return conf;
}

bool MilterProcess::reload(const std::string& config_body, const std::string& expect) {
    const std::size_t before = log().size();
    std::ofstream(dir_ + "/milter.conf", std::ios::trunc) << render(config_body);
    if (pid_ <= 0 || ::kill(pid_, SIGHUP) != 0) {
        return false;
    }
    for (int i = 0; i < 500; ++i) {
        const std::string l = log();
        if (l.size() > before && l.find(expect, before) != std::string::npos) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

bool MilterProcess::signal(int sig) {
    return pid_ > 0 && ::kill(pid_, sig) == 0;
}

int MilterProcess::wait_exit(std::chrono::milliseconds bound) {
    const auto until = std::chrono::steady_clock::now() + bound;
    while (pid_ > 0) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return status;
        }
        if (std::chrono::steady_clock::now() > until) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
}

int MilterProcess::stop() {
    if (pid_ <= 0) {
        return -1;
    }
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 1000; ++i) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return status;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
}

bool MilterProcess::running() const {
    if (pid_ <= 0) {
        return false;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

std::string MilterProcess::log() const {
    std::stringstream ss;
    ss << std::ifstream(dir_ + "/milter.log").rdbuf()
       << std::ifstream(dir_ + "/stderr.log").rdbuf();
    return ss.str();
}

}  // namespace dsm::test
