#include "tests/support/milter_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

namespace dsm::test {

namespace {

// libmilter's protocol constants (mfdef.h), spelled out: the test speaks the
// wire protocol itself rather than through the library under test.
constexpr std::uint32_t kVersion = 6;
constexpr std::uint32_t kAllActions = 0x1FF;
constexpr std::uint32_t kNoConnect = 0x1, kNoHelo = 0x2, kNoBody = 0x10, kNoHdrs = 0x20,
                        kNoEoh = 0x40, kNoUnknown = 0x100, kNoData = 0x200;
constexpr std::uint32_t kOfferedSteps =
    kNoConnect | kNoHelo | kNoBody | kNoHdrs | kNoEoh | kNoUnknown | kNoData;

void write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            throw std::runtime_error("milter connection: write failed");
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
}

void read_all(int fd, char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t r = ::recv(fd, p, n, 0);
        if (r <= 0) {
            throw std::runtime_error("milter connection: closed by the milter");
        }
        p += r;
        n -= static_cast<std::size_t>(r);
    }
}

std::uint32_t be32(const std::string& s, std::size_t at) {
    std::uint32_t v = 0;
    std::memcpy(&v, s.data() + at, 4);
    return ntohl(v);
}

std::string put32(std::uint32_t v) {
    v = htonl(v);
    return std::string(reinterpret_cast<const char*>(&v), 4);
}

}  // namespace

MilterClient::MilterClient(std::uint16_t port, std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
            int one = 1;
            ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            timeval tv{30, 0};
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            return;
        }
        ::close(fd_);
        fd_ = -1;
        if (std::chrono::steady_clock::now() > until) {
            throw std::runtime_error("cannot connect to the milter on port " +
                                     std::to_string(port));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

MilterClient::~MilterClient() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void MilterClient::send_packet(char command, const std::string& data) {
    std::string packet = put32(static_cast<std::uint32_t>(data.size() + 1));
    packet += command;
    packet += data;
    write_all(fd_, packet.data(), packet.size());
}

MilterReply MilterClient::read_reply() {
    for (;;) {
        char len_buf[4];
        read_all(fd_, len_buf, 4);
        std::uint32_t len = 0;
        std::memcpy(&len, len_buf, 4);
        len = ntohl(len);
        if (len == 0 || len > 1024 * 1024) {
            throw std::runtime_error("milter reply with bad length");
        }
        std::string data(len, '\0');
        read_all(fd_, data.data(), len);
        MilterReply r;
        r.code = data[0];
        if (r.code == 'p') {  // progress: keep waiting
            continue;
        }
        r.text = data.substr(1);
        while (!r.text.empty() && r.text.back() == '\0') {
            r.text.pop_back();
        }
        return r;
    }
}

std::pair<std::uint32_t, std::uint32_t> MilterClient::negotiate() {
    send_packet('O', put32(kVersion) + put32(kAllActions) + put32(kOfferedSteps));
    auto r = read_reply();
    if (r.code != 'O') {
        throw std::runtime_error("negotiation failed");
    }
    std::string body = r.text;
    body.resize(12, '\0');
    actions_ = be32(body, 4);
    protocol_ = be32(body, 8);
    return {actions_, protocol_};
}

void MilterClient::macros(char command,
                          const std::vector<std::pair<std::string, std::string>>& macros) {
    std::string data(1, command);
    for (const auto& [k, v] : macros) {
        data += k;
        data += '\0';
        data += v;
        data += '\0';
    }
    send_packet('D', data);
}

MilterReply MilterClient::connect(const std::string& host, const std::string& address) {
    if ((protocol_ & kNoConnect) != 0) {
        return {'c', ""};
    }
    std::string data = host + '\0' + '4' + std::string("\x00\x19", 2) + address + '\0';
    send_packet('C', data);
    return read_reply();
}

MilterReply MilterClient::helo(const std::string& name) {
    if ((protocol_ & kNoHelo) != 0) {
        return {'c', ""};
    }
    send_packet('H', name + '\0');
    return read_reply();
}

MilterReply MilterClient::mail(const std::string& sender) {
    send_packet('M', sender + '\0');
    return read_reply();
}

MilterReply MilterClient::rcpt(const std::string& recipient) {
    send_packet('R', recipient + '\0');
    return read_reply();
}

MilterReply MilterClient::header(const std::string& name, const std::string& value) {
    if ((protocol_ & kNoHdrs) != 0) {
        return {'c', ""};
    }
    send_packet('L', name + '\0' + value + '\0');
    return read_reply();
}

MilterReply MilterClient::end_of_headers() {
    if ((protocol_ & kNoEoh) != 0) {
        return {'c', ""};
    }
    send_packet('N', "");
    return read_reply();
}

MilterReply MilterClient::body(const std::string& chunk) {
    if ((protocol_ & kNoBody) != 0) {
        return {'c', ""};
    }
    send_packet('B', chunk);
    return read_reply();
}

EomResult MilterClient::end_of_message() {
    send_packet('E', "");
    EomResult out;
    for (;;) {
        auto r = read_reply();
        if (r.code == 'h' || r.code == 'm' || r.code == 'i') {
            Modification m;
            m.code = r.code;
            std::string rest = r.text;
            if (r.code != 'h') {
                rest.resize(std::max<std::size_t>(rest.size(), 4), '\0');
                m.index = be32(rest, 0);
                rest = rest.substr(4);
            }
            const auto nul = rest.find('\0');
            m.name = rest.substr(0, nul);
            m.value = nul == std::string::npos ? "" : rest.substr(nul + 1);
            out.modifications.push_back(m);
            continue;
        }
        out.final = r;
        return out;
    }
}

void MilterClient::abort() {
    send_packet('A', "");
}

void MilterClient::quit() {
    send_packet('Q', "");
}

}  // namespace dsm::test
