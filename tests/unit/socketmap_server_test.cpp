// The socketmap server (socketmap_table(5), SPEC §7) on 127.0.0.1 with an
// ephemeral port, driven with raw sockets, and with Postfix's own client
// (postmap -q) when it is installed.
#include <boost/test/unit_test.hpp>

#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/config/connector.hpp"
#include "core/policymap/netstring.hpp"
#include "core/policymap/policy_answer.hpp"
#include "core/policymap/socketmap_server.hpp"
#include "core/verdict/verdict.hpp"

using namespace dsm::policymap;
using namespace std::chrono_literals;

namespace {

// Answers "OK <name>:<key>"; "throw" throws; "slow" waits a little.
std::string echo_handler(const std::string& name, const std::string& key) {
    if (key == "throw") {
        throw std::runtime_error("handler failure");
    }
    if (key == "notfound") {
        return "NOTFOUND ";
    }
    if (key == "slow") {
        std::this_thread::sleep_for(50ms);
    }
    return "OK " + name + ":" + key;
}

// Throws instead of asserting: Boost.Test assertions are not thread-safe and
// clients run on many threads.
class Client {
  public:
    explicit Client(std::uint16_t port) : socket_(Poco::Net::SocketAddress("127.0.0.1", port)) {
        socket_.setReceiveTimeout(Poco::Timespan(5, 0));
    }
    explicit Client(const std::string& unix_path)
        : socket_(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, unix_path)) {
        socket_.setReceiveTimeout(Poco::Timespan(5, 0));
    }

    void send_raw(std::string_view data) {
        while (!data.empty()) {
            const int n = socket_.sendBytes(data.data(), static_cast<int>(data.size()));
            if (n <= 0) {
                throw std::runtime_error("send failed");
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    void send(std::string_view request) { send_raw(netstring_encode(request)); }

    // The next reply, or nullopt when the server closed the connection.
    std::optional<std::string> reply() {
        std::string_view p;
        for (;;) {
            const auto s = reader_.next(p);
            if (s == NetstringStatus::complete) {
                return std::string(p);
            }
            if (s != NetstringStatus::need_more) {
                throw std::runtime_error("bad reply framing");
            }
            std::array<char, 4096> buf{};
            int n = 0;
            try {
                n = socket_.receiveBytes(buf.data(), static_cast<int>(buf.size()));
            } catch (const Poco::Net::ConnectionResetException&) {
                return std::nullopt;  // closed with our data unread: RST
            }
            if (n <= 0) {
                return std::nullopt;
            }
            reader_.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        }
    }

    std::optional<std::string> ask(std::string_view request) {
        send(request);
        return reply();
    }

  private:
    Poco::Net::StreamSocket socket_;
    NetstringReader reader_{200000};
};

struct Server {
    explicit Server(SocketmapServer::Handler h = echo_handler, unsigned threads = 64,
                    std::chrono::milliseconds idle = SocketmapServer::kDefaultIdleTimeout,
                    std::size_t max_connections = SocketmapServer::kDefaultMaxConnections)
        : server("inet:127.0.0.1:0", std::move(h), threads, idle, max_connections) {
        server.start();
    }
    SocketmapServer server;
};

std::filesystem::path temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "dsm-socketmap-XXXXXX").string();
    BOOST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    return tmpl;
}

// Runs `cmd`; its stdout and exit status.
std::pair<std::string, int> run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    BOOST_REQUIRE(p != nullptr);
    std::array<char, 512> buf{};
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
        out.append(buf.data(), n);
    }
    const int status = ::pclose(p);
    return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(socketmap_server)

BOOST_AUTO_TEST_CASE(request_and_answer) {
    Server s;
    BOOST_TEST(s.server.port() != 0);
    Client c(s.server.port());
    BOOST_TEST(c.ask("postfix example.test").value_or("<closed>") == "OK postfix:example.test");
    BOOST_TEST(c.ask("postfix notfound").value_or("<closed>") == "NOTFOUND ");
}

BOOST_AUTO_TEST_CASE(requests_on_one_connection_in_sequence) {
    Server s;
    Client c(s.server.port());
    for (int i = 0; i < 100; ++i) {
        const std::string key = "d" + std::to_string(i) + ".test";
        BOOST_TEST(c.ask("postfix " + key).value_or("<closed>") == "OK postfix:" + key);
    }
}

BOOST_AUTO_TEST_CASE(pipelined_requests_answered_in_order) {
    Server s;
    Client c(s.server.port());
    c.send_raw(netstring_encode("postfix slow") + netstring_encode("postfix b.test") +
               netstring_encode("other c.test"));
    BOOST_TEST(c.reply().value_or("<closed>") == "OK postfix:slow");
    BOOST_TEST(c.reply().value_or("<closed>") == "OK postfix:b.test");
    BOOST_TEST(c.reply().value_or("<closed>") == "OK other:c.test");
}

BOOST_AUTO_TEST_CASE(many_pipelined_requests_in_one_write) {
    Server s;
    Client c(s.server.port());
    std::string wire;
    constexpr int kRequests = 3000;
    for (int i = 0; i < kRequests; ++i) {
        netstring_append(wire, "postfix p" + std::to_string(i));
    }
    c.send_raw(wire);
    int in_order = 0;
    for (int i = 0; i < kRequests; ++i) {
        if (c.reply() == "OK postfix:p" + std::to_string(i)) {
            ++in_order;
        }
    }
    BOOST_TEST(in_order == kRequests);
}

BOOST_AUTO_TEST_CASE(request_split_across_writes) {
    Server s;
    Client c(s.server.port());
    const std::string wire = netstring_encode("postfix split.test");
    for (const char ch : wire) {
        c.send_raw(std::string_view(&ch, 1));
        std::this_thread::sleep_for(1ms);
    }
    BOOST_TEST(c.reply().value_or("<closed>") == "OK postfix:split.test");
}

BOOST_AUTO_TEST_CASE(key_is_everything_after_the_first_space) {
    Server s;
    Client c(s.server.port());
    BOOST_TEST(c.ask("postfix [mx.test]:25 x").value_or("<closed>") == "OK postfix:[mx.test]:25 x");
}

BOOST_AUTO_TEST_CASE(malformed_requests_get_perm_and_the_connection_stays) {
    std::atomic<int> calls{0};
    Server s([&](const std::string& n, const std::string& k) {
        ++calls;
        return echo_handler(n, k);
    });
    Client c(s.server.port());
    for (const char* bad : {"postfix", "postfix ", " example.test", "", " "}) {
        BOOST_TEST(c.ask(bad).value_or("<closed>") == "PERM malformed request");
    }
    BOOST_TEST(calls == 0);
    BOOST_TEST(c.ask("postfix ok.test").value_or("<closed>") == "OK postfix:ok.test");
}

BOOST_AUTO_TEST_CASE(handler_exception_is_temp_internal_error) {
    Server s;
    Client c(s.server.port());
    BOOST_TEST(c.ask("postfix throw").value_or("<closed>") == "TEMP internal error");
    BOOST_TEST(c.ask("postfix after.test").value_or("<closed>") == "OK postfix:after.test");
}

BOOST_AUTO_TEST_CASE(overlong_reply_is_temp_internal_error) {
    Server s(
        [](const std::string&, const std::string&) { return "OK " + std::string(100001, 'x'); });
    Client c(s.server.port());
    BOOST_TEST(c.ask("postfix big.test").value_or("<closed>") == "TEMP internal error");
}

BOOST_AUTO_TEST_CASE(oversize_request_closes_the_connection_without_reply) {
    Server s;
    {
        Client c(s.server.port());
        c.send_raw("1025:" + std::string(1025, 'a') + ",");
        BOOST_TEST(!c.reply().has_value());
    }
    {
        Client c(s.server.port());
        c.send_raw("99999999999999999999:");  // refused from the length alone
        BOOST_TEST(!c.reply().has_value());
    }
    // The largest allowed request still works.
    Client c(s.server.port());
    const std::string key(1024 - 8, 'k');
    BOOST_TEST(c.ask("postfix " + key).value_or("<closed>") == "OK postfix:" + key);
}

BOOST_AUTO_TEST_CASE(bad_framing_closes_after_answering_what_came_before) {
    Server s;
    for (const char* bad : {"x", "03:abc,", "5:ab cdX", "GET / HTTP/1.0\r\n\r\n"}) {
        Client c(s.server.port());
        c.send_raw(netstring_encode("postfix first.test") + bad);
        BOOST_TEST(c.reply().value_or("<closed>") == "OK postfix:first.test");
        BOOST_TEST(!c.reply().has_value());
    }
}

BOOST_AUTO_TEST_CASE(idle_connection_is_closed) {
    Server s(echo_handler, 4, 200ms);
    Client c(s.server.port());
    BOOST_TEST(c.ask("postfix a.test").value_or("<closed>") == "OK postfix:a.test");
    const auto t0 = std::chrono::steady_clock::now();
    BOOST_TEST(!c.reply().has_value());
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 4s));
}

BOOST_AUTO_TEST_CASE(thirty_two_concurrent_clients) {
    Server s(echo_handler, 64);
    constexpr int kClients = 32;
    constexpr int kRequests = 200;
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t) {
        threads.emplace_back([&, t] {
            try {
                Client c(s.server.port());
                for (int i = 0; i < kRequests; ++i) {
                    const std::string key = "c" + std::to_string(t) + "-" + std::to_string(i);
                    if (c.ask("postfix " + key) == "OK postfix:" + key) {
                        ++good;
                    }
                }
            } catch (...) {
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    BOOST_TEST(good == kClients * kRequests);
}

BOOST_AUTO_TEST_CASE(more_clients_than_threads_wait_their_turn) {
    Server s(echo_handler, 2, 300ms);
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&, t] {
            try {
                Client c(s.server.port());
                const std::string key = "q" + std::to_string(t);
                if (c.ask("postfix " + key) == "OK postfix:" + key) {
                    ++good;
                }
            } catch (...) {
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    BOOST_TEST(good == 6);
}

// Issue 14: Postfix keeps one connection per smtp(8) process open, and a
// large relay runs hundreds. With a thread per connection, 800 idle ones
// starved a well-behaved query; now only answering takes a thread.
BOOST_AUTO_TEST_CASE(idle_connections_do_not_hold_threads) {
    Server s(echo_handler, 2);
    std::vector<std::unique_ptr<Poco::Net::StreamSocket>> idle;
    for (int i = 0; i < 600; ++i) {
        idle.push_back(std::make_unique<Poco::Net::StreamSocket>(
            Poco::Net::SocketAddress("127.0.0.1", s.server.port())));
    }
    // Half of them send the start of a request and stop in the middle.
    for (std::size_t i = 0; i < idle.size(); i += 2) {
        idle[i]->sendBytes("20:postfix ", 11);
    }
    const auto t0 = std::chrono::steady_clock::now();
    Client c(s.server.port());
    BOOST_TEST(c.ask("postfix fresh.test").value_or("<closed>") == "OK postfix:fresh.test");
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));
}

BOOST_AUTO_TEST_CASE(connection_limit_refuses_the_next_and_keeps_serving) {
    Server s(echo_handler, 2, SocketmapServer::kDefaultIdleTimeout, 4);
    std::vector<std::unique_ptr<Client>> open;
    for (int i = 0; i < 4; ++i) {
        open.push_back(std::make_unique<Client>(s.server.port()));
        const std::string key = "k" + std::to_string(i) + ".test";
        BOOST_TEST(open.back()->ask("postfix " + key).value_or("<closed>") == "OK postfix:" + key);
    }
    // The fifth is accepted by the kernel and closed at once, unanswered.
    {
        Client over(s.server.port());
        BOOST_TEST(!over.ask("postfix over.test").has_value());
    }
    // Those already open keep their answers; a freed slot is taken again.
    BOOST_TEST(open[0]->ask("postfix again.test").value_or("<closed>") == "OK postfix:again.test");
    open.pop_back();
    std::optional<std::string> answer;
    for (int attempt = 0; attempt < 50 && !answer; ++attempt) {
        Client next(s.server.port());
        answer = next.ask("postfix next.test");
        if (!answer) {
            std::this_thread::sleep_for(20ms);  // the server has not seen the close yet
        }
    }
    BOOST_TEST(answer.value_or("<closed>") == "OK postfix:next.test");
}

// A client that sends without reading is not read further while its replies
// wait: the server holds one read's worth, TCP pushes back on the client, the
// others are served, and after the idle timeout the connection is closed.
BOOST_AUTO_TEST_CASE(client_that_never_reads_is_pushed_back_then_closed) {
    Server s(echo_handler, 2, 500ms);
    Poco::Net::StreamSocket flood(Poco::Net::SocketAddress("127.0.0.1", s.server.port()));
    flood.setBlocking(false);
    std::string chunk;
    for (int i = 0; i < 1000; ++i) {
        chunk += netstring_encode("postfix flood-" + std::to_string(i) + ".test");
    }
    std::size_t sent = 0;
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < deadline) {
        const ssize_t n = ::send(flood.impl()->sockfd(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
        } else {
            std::this_thread::sleep_for(10ms);
        }
    }
    // Kernel buffers on both sides are a few MiB; a server that kept reading
    // would have taken everything sent in 3 s (hundreds of MiB).
    BOOST_TEST(sent < 64U * 1024 * 1024);
    Client other(s.server.port());
    BOOST_TEST(other.ask("postfix other.test").value_or("<closed>") == "OK postfix:other.test");
    // Idle (replies not taken) for 500 ms: closed. Reading now drains the
    // replies written before and then hits the end of the stream.
    std::this_thread::sleep_for(1500ms);
    flood.setBlocking(true);
    flood.setReceiveTimeout(Poco::Timespan(5, 0));
    std::array<char, 65536> buf{};
    bool closed = false;
    try {
        for (int i = 0; i < 100000; ++i) {
            if (flood.receiveBytes(buf.data(), static_cast<int>(buf.size())) <= 0) {
                closed = true;
                break;
            }
        }
    } catch (const Poco::Net::ConnectionResetException&) {
        closed = true;
    }
    BOOST_TEST(closed);
}

BOOST_AUTO_TEST_CASE(stop_closes_open_connections_and_waits_for_handlers) {
    std::atomic<int> running{0};
    std::atomic<int> after_stop{0};
    std::atomic<bool> stopped{false};
    SocketmapServer server(
        "inet:127.0.0.1:0",
        [&](const std::string& n, const std::string& k) {
            ++running;
            if (stopped) {
                ++after_stop;
            }
            std::this_thread::sleep_for(k == "slow" ? 300ms : 0ms);
            --running;
            return echo_handler(n, k);
        },
        8);
    server.start();
    Client idle(server.port());
    BOOST_TEST(idle.ask("postfix a.test").value_or("<closed>") == "OK postfix:a.test");
    Client busy(server.port());
    busy.send("postfix slow");
    std::this_thread::sleep_for(50ms);  // the slow request is in the handler

    const auto t0 = std::chrono::steady_clock::now();
    server.stop();
    stopped = true;
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 5s));
    BOOST_TEST(running == 0);  // no handler outlives stop()
    BOOST_TEST(!idle.reply().has_value());
    (void)busy.reply();  // answered or cut: either way the connection ends
    BOOST_TEST(!busy.reply().has_value());
    BOOST_TEST(after_stop == 0);
    server.stop();  // idempotent
    BOOST_CHECK_THROW(Client late(server.port()), Poco::Exception);
}

BOOST_AUTO_TEST_CASE(tcp_nodelay_on_accepted_sockets) {
    // Observable from the client only as latency: 50 sequential requests on
    // one connection finish far below 50 x 40 ms delayed-ACK stalls.
    Server s;
    Client c(s.server.port());
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) {
        BOOST_TEST(c.ask("postfix n.test").has_value());
    }
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 1s));
}

BOOST_AUTO_TEST_CASE(unix_socket) {
    const auto dir = temp_dir();
    const auto path = (dir / "policy.sock").string();
    {
        // A stale socket file from an earlier run is replaced.
        SocketmapServer stale("unix:" + path, echo_handler, 2);
    }
    BOOST_TEST(!std::filesystem::exists(path));  // removed by stop()
    {
        SocketmapServer first("unix:" + path, echo_handler, 2);
        first.start();
        // A live one is not stolen.
        auto second = SocketmapServer::create("unix:" + path, echo_handler, 2);
        BOOST_TEST(!second.ok());
        if (!second.ok()) {
            BOOST_TEST(second.error().find("in use") != std::string::npos);
        }
        BOOST_TEST(first.port() == 0);
        Client c(path);
        BOOST_TEST(c.ask("postfix unix.test").value_or("<closed>") == "OK postfix:unix.test");
        BOOST_TEST(c.ask("postfix").value_or("<closed>") == "PERM malformed request");
    }
    BOOST_TEST(!std::filesystem::exists(path));
    // Not a socket: left alone, refused.
    std::ofstream(path) << "data";
    BOOST_TEST(!SocketmapServer::create("unix:" + path, echo_handler, 2).ok());
    BOOST_TEST(std::filesystem::exists(path));
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(bad_listen_values_are_errors) {
    for (const char* bad : {"", "127.0.0.1:8461", "tcp:127.0.0.1:1", "inet:127.0.0.1", "inet::8461",
                            "inet:127.0.0.1:65536", "inet:127.0.0.1:x", "inet:[::1:1",
                            "unix:relative/path", "inet:192.0.2.255.1:1"}) {
        auto r = SocketmapServer::create(bad, echo_handler, 2);
        BOOST_TEST_INFO("listen: " << bad);
        BOOST_TEST(!r.ok());
        if (!r.ok()) {
            BOOST_TEST(r.error().find("policy_map listen") != std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(port_in_use_is_an_error) {
    Server s;
    const std::string listen = "inet:127.0.0.1:" + std::to_string(s.server.port());
    auto r = SocketmapServer::create(listen, echo_handler, 2);
    BOOST_TEST(!r.ok());
    BOOST_CHECK_THROW(SocketmapServer(listen, echo_handler, 2), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(ipv6_loopback) {
    auto r = SocketmapServer::create("inet:[::1]:0", echo_handler, 2);
    if (!r.ok()) {
        BOOST_TEST_MESSAGE("no IPv6 loopback here: " << r.error());
        return;
    }
    (*r)->start();
    Poco::Net::StreamSocket sock(Poco::Net::SocketAddress("::1", (*r)->port()));
    const std::string req = netstring_encode("postfix six.test");
    sock.sendBytes(req.data(), static_cast<int>(req.size()));
    std::array<char, 64> buf{};
    const int n = sock.receiveBytes(buf.data(), static_cast<int>(buf.size()));
    BOOST_TEST(std::string(buf.data(), static_cast<std::size_t>(std::max(n, 0))) ==
               netstring_encode("OK postfix:six.test"));
}

// Postfix's own socketmap client: postmap -q KEY socketmap:inet:HOST:PORT:NAME
// prints the value of an OK reply and exits 1 on NOTFOUND.
BOOST_AUTO_TEST_CASE(postmap_is_a_real_peer) {
    const char* postmap = "/usr/sbin/postmap";
    if (::access(postmap, X_OK) != 0) {
        BOOST_TEST_MESSAGE("postmap not installed: skipped");
        return;
    }
    Server s([](const std::string& name, const std::string& key) -> std::string {
        if (name != "postfix") {
            return "PERM unknown map " + name;
        }
        if (key == "dane.test") {
            return "OK dane-only";
        }
        if (key == "sts.test") {
            return "OK secure match=.sts.test:mx.sts.test servername=hostname";
        }
        if (key == "Other.TEST") {
            return "OK key=" + key;
        }
        if (key == "defer.test") {
            return "TEMP 4.7.5 defer.test: connector \"partners\" requires DANE (dane-required)";
        }
        return "NOTFOUND ";
    });
    const auto dir = temp_dir();
    std::ofstream(dir / "main.cf") << "compatibility_level = 3.6\n";
    const std::string map =
        "socketmap:inet:127.0.0.1:" + std::to_string(s.server.port()) + ":postfix";
    const std::string base = std::string(postmap) + " -c " + dir.string() + " -q ";

    auto [dane, dane_rc] = run(base + "dane.test " + map + " 2>/dev/null");
    BOOST_TEST(dane_rc == 0);
    BOOST_TEST(dane == "dane-only\n");

    auto [sts, sts_rc] = run(base + "sts.test " + map + " 2>/dev/null");
    BOOST_TEST(sts_rc == 0);
    BOOST_TEST(sts == "secure match=.sts.test:mx.sts.test servername=hostname\n");

    // The key arrives verbatim: socketmap folds case only with
    // DICT_FLAG_FOLD_MUL (dict_sockmap.c), which neither postmap nor
    // smtp_tls_policy_maps (DICT_FLAG_FOLD_FIX) sets; the handler folds.
    auto [keyed, keyed_rc] = run(base + "Other.TEST " + map + " 2>/dev/null");
    BOOST_TEST(keyed_rc == 0);
    BOOST_TEST(keyed == "key=Other.TEST\n");

    auto [none, none_rc] = run(base + "other.test " + map + " 2>/dev/null");
    BOOST_TEST(none_rc == 1);
    BOOST_TEST(none.empty());

    // A TEMP reply is a lookup error: postmap says so and fails.
    auto [temp, temp_rc] = run(base + "defer.test " + map + " 2>&1");
    BOOST_TEST(temp_rc != 0);
    BOOST_TEST(temp.find("temporary error: 4.7.5 defer.test") != std::string::npos);

    // Several keys on one connection, as the smtp client does (postmap -q -).
    auto [many, many_rc] = run("printf 'dane.test\\nother.test\\nsts.test\\n' | " + base + "- " +
                               map + " 2>/dev/null");
    BOOST_TEST(many_rc == 0);
    BOOST_TEST(many ==
               "dane.test\tdane-only\nsts.test\tsecure match=.sts.test:mx.sts.test "
               "servername=hostname\n");
    std::filesystem::remove_all(dir);
}

// The map name picks the answer (SPEC §7): the same MTA-STS verdict as
// Postfix 3.7 gets it under "postfix" and Postfix 3.10's TLSRPT support
// under "postfix-tlsrpt", over the wire and through postmap -q (which prints
// the value as the smtp client receives it; it does not parse attributes).
BOOST_AUTO_TEST_CASE(map_name_selects_the_tlsrpt_answer) {
    Server s([](const std::string& name, const std::string& key) -> std::string {
        if (key != "partner.test") {
            return "NOTFOUND ";
        }
        dsm::config::Connector c;
        c.name = "partners";
        dsm::verdict::DomainVerdict v;
        v.domain = key;
        v.dnssec = dsm::verdict::DnssecField::insecure;
        v.dane = dsm::verdict::DaneField::none;
        v.sts = dsm::verdict::StsField::enforce;
        v.sts_mx = {"*.partner.test"};
        return policy_answer(c, v, v.sts_mx, map_client(name));
    });
    const std::string plain = "OK secure match=.partner.test servername=hostname";
    const std::string extended =
        plain +
        " policy_type=sts policy_domain=partner.test mx_host_pattern=*.partner.test "
        "{ policy_string = version: STSv1 } { policy_string = mode: enforce } "
        "{ policy_string = mx: *.partner.test }";
    Client c(s.server.port());
    BOOST_TEST(c.ask("postfix partner.test").value_or("<closed>") == plain);
    BOOST_TEST(c.ask("postfix-tlsrpt partner.test").value_or("<closed>") == extended);
    BOOST_TEST(c.ask("postfix-tlsrpt other.test").value_or("<closed>") == "NOTFOUND ");

    const char* postmap = "/usr/sbin/postmap";
    if (::access(postmap, X_OK) != 0) {
        BOOST_TEST_MESSAGE("postmap not installed: skipped");
        return;
    }
    const auto dir = temp_dir();
    std::ofstream(dir / "main.cf") << "compatibility_level = 3.6\n";
    const std::string map = "socketmap:inet:127.0.0.1:" + std::to_string(s.server.port()) + ":";
    const std::string base = std::string(postmap) + " -c " + dir.string() + " -q partner.test ";
    auto [p, p_rc] = run(base + map + "postfix 2>/dev/null");
    BOOST_TEST(p_rc == 0);
    BOOST_TEST(p == plain.substr(3) + "\n");
    auto [t, t_rc] = run(base + map + "postfix-tlsrpt 2>/dev/null");
    BOOST_TEST(t_rc == 0);
    BOOST_TEST(t == extended.substr(3) + "\n");
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
