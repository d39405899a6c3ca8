// The control socket's protocol (core/control/control_server.hpp) over a real
// unix socket in a temporary directory, with a handler that echoes what it
// was asked; the commands themselves are tested against a running milter in
// tests/milter/control_check.sh.
#include <boost/test/unit_test.hpp>

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/control/control_server.hpp"
#include "tests/support/temp_dir.hpp"

using namespace dsm;
namespace fs = std::filesystem;
using control::ControlServer;

namespace {

struct Dir : dsm::test::TempDir {
    Dir() : TempDir("dsm-ctl") {}
};

struct Echo {
    std::atomic<int> calls{0};
    ControlServer::Handler handler() {
        return [this](const std::vector<std::string>& words) -> ControlServer::Reply {
            ++calls;
            if (words.front() == "fail") {
                return {false, "it failed"};
            }
            std::string out;
            for (const auto& w : words) {
                out += "<" + w + ">";
            }
            return {true, out};
        };
    }
};

// The raw answer to `bytes` (sent as they are, then the write side closed).
std::string raw(const fs::path& sock, const std::string& bytes) {
    Poco::Net::StreamSocket s;
    s.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, sock.string()));
    s.setReceiveTimeout(Poco::Timespan(10, 0));
    s.sendBytes(bytes.data(), static_cast<int>(bytes.size()));
    s.shutdownSend();
    std::string out;
    char buf[4096];
    int n = 0;
    while ((n = s.receiveBytes(buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

// Where each test's server listens, and its handler.
struct Socket {
    Dir dir;
    Echo echo;
    fs::path sock = dir.path / "c.sock";
};

// A server on `sock` whose handler is `echo`, started; the test stops here
// if it cannot listen.
std::unique_ptr<ControlServer> started(const fs::path& sock, Echo& echo) {
    auto server = ControlServer::create("unix:" + sock.string(), echo.handler());
    BOOST_TEST_REQUIRE(static_cast<bool>(server), (server ? "" : server.error()));
    (*server)->start();
    return std::move(*server);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(control_server)

BOOST_FIXTURE_TEST_CASE(a_command_and_its_answer, Socket) {
    auto server = started(sock, echo);
    struct stat st {};
    BOOST_TEST_REQUIRE(::stat(sock.c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0660U);  // root and the daemon's group only

    auto r = control::send_command("unix:" + sock.string(), {"show", "a.test", "b.test"},
                                   std::chrono::seconds(5));
    BOOST_TEST_REQUIRE(static_cast<bool>(r), (r ? "" : r.error()));
    BOOST_TEST(r->ok);
    BOOST_TEST(r->text == "<show><a.test><b.test>\n");
    r = control::send_command("unix:" + sock.string(), {"fail"}, std::chrono::seconds(5));
    BOOST_TEST_REQUIRE(static_cast<bool>(r));
    BOOST_TEST(!r->ok);
    BOOST_TEST(r->text == "it failed");
    // Blanks and tabs separate words; CR LF ends a line too.
    BOOST_TEST(raw(sock, "show \t a.test\r\n") == "ok\n<show><a.test>\n");
    BOOST_TEST(echo.calls == 3);
}

BOOST_FIXTURE_TEST_CASE(bad_requests_never_reach_the_handler, Socket) {
    auto server = started(sock, echo);
    BOOST_TEST(raw(sock, std::string(ControlServer::kMaxRequest + 10, 'a')) ==
               "error: request over 16384 octets\n");
    BOOST_TEST(raw(sock, "stats") == "error: the request does not end in a line feed\n");
    BOOST_TEST(raw(sock, "\n") == "error: empty request\n");
    BOOST_TEST(raw(sock, "show \x01x\n") ==
               "error: the request is not one line of printable ASCII\n");
    BOOST_TEST(raw(sock, "show \xc3\xa9.test\n") ==
               "error: the request is not one line of printable ASCII\n");
    BOOST_TEST(raw(sock, "stats\nstats\n") == "error: one request per connection\n");
    BOOST_TEST(echo.calls == 0);
}

BOOST_FIXTURE_TEST_CASE(socket_file_lifecycle, Socket) {
    // A stale socket (nobody listens) is replaced.
    {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
        BOOST_TEST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        ::close(fd);
    }
    auto server = started(sock, echo);
    // A live one is not taken over.
    auto second = ControlServer::create("unix:" + sock.string(), echo.handler());
    BOOST_TEST_REQUIRE(!second);
    BOOST_TEST(second.error().find("in use by another process") != std::string::npos);
    server->stop();
    BOOST_TEST(!fs::exists(sock));  // removed on stop
    auto r = control::send_command("unix:" + sock.string(), {"stats"}, std::chrono::seconds(2));
    BOOST_TEST_REQUIRE(!r);
    BOOST_TEST(r.error().find("cannot talk to the daemon at " + sock.string()) == 0U, r.error());
    // Any other file is left alone.
    std::ofstream(sock) << "precious";
    auto third = ControlServer::create("unix:" + sock.string(), echo.handler());
    BOOST_TEST_REQUIRE(!third);
    BOOST_TEST(third.error().find("exists and is not a socket") != std::string::npos);
    BOOST_TEST(fs::file_size(sock) == 8U);
    // Only unix:/ABSOLUTE/PATH.
    BOOST_TEST(!ControlServer::create("inet:127.0.0.1:8953", echo.handler()));
    BOOST_TEST(!ControlServer::create("unix:relative.sock", echo.handler()));
}

BOOST_AUTO_TEST_SUITE_END()
