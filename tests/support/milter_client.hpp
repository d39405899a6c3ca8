// A minimal MTA side of the milter protocol (version 6), enough to drive the
// built binary as Postfix would: negotiate, macros, MAIL, RCPT, headers, EOM.
// Test-only; speaks to a real dane-sts-milter over TCP.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dsm::test {

struct MilterReply {
    char code = 0;     // 'c' continue, 'a' accept, 'r' reject, 't' tempfail, 'y' reply code
    std::string text;  // for 'y': "450 4.7.4 text"
};

struct Modification {
    char code = 0;  // 'h' add header, 'm' change/delete header, 'i' insert header
    std::uint32_t index = 0;
    std::string name;
    std::string value;
};

struct EomResult {
    std::vector<Modification> modifications;
    MilterReply final;
};

class MilterClient {
  public:
    // Connects to 127.0.0.1:port, retrying until `deadline` passes.
    MilterClient(std::uint16_t port, std::chrono::milliseconds deadline);
    ~MilterClient();
    MilterClient(const MilterClient&) = delete;
    MilterClient& operator=(const MilterClient&) = delete;
    MilterClient(MilterClient&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)), actions_(other.actions_), protocol_(other.protocol_) {}
    MilterClient& operator=(MilterClient&&) = delete;

    // Offers every action and step-skipping flag; returns the milter's choice.
    std::pair<std::uint32_t, std::uint32_t> negotiate();
    void macros(char command, const std::vector<std::pair<std::string, std::string>>& macros);
    MilterReply connect(const std::string& host, const std::string& address);
    MilterReply helo(const std::string& name);
    MilterReply mail(const std::string& sender);
    MilterReply rcpt(const std::string& recipient);
    MilterReply header(const std::string& name, const std::string& value);
    MilterReply end_of_headers();
    MilterReply body(const std::string& chunk);
    EomResult end_of_message();
    void abort();
    void quit();

    [[nodiscard]] std::uint32_t protocol() const { return protocol_; }

    // Raw access for malformed-input tests.
    void send_packet(char command, const std::string& data);
    MilterReply read_reply();

  private:
    int fd_ = -1;
    std::uint32_t actions_ = 0;
    std::uint32_t protocol_ = 0;
};

}  // namespace dsm::test
