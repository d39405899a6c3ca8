#include "core/dns/rdata.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstring>

namespace dsm::dns {

namespace {

// RFC 1035 §2.3.4.
constexpr std::size_t max_name_octets = 255;
constexpr std::size_t max_label_octets = 63;

void append_label_octet(std::string& out, std::uint8_t c) {
    if (c == '.' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
    } else if (c < 0x21 || c > 0x7e) {
        // RFC 1035 §5.1: \DDD, three decimal digits.
        out += '\\';
        out += static_cast<char>('0' + c / 100);
        out += static_cast<char>('0' + (c / 10) % 10);
        out += static_cast<char>('0' + c % 10);
    } else {
        out += static_cast<char>(c);
    }
}

}  // namespace

std::optional<WireName> parse_wire_name(std::span<const std::uint8_t> wire) {
    WireName name;
    std::size_t pos = 0;
    for (;;) {
        if (pos >= wire.size()) {
            return std::nullopt;
        }
        const std::uint8_t len = wire[pos];
        // The two top bits select the label type (RFC 1035 §4.1.4, RFC 6891
        // §5): 11 is a compression pointer, 01 and 10 are reserved/extended.
        if ((len & 0xC0) != 0) {
            return std::nullopt;
        }
        if (len == 0) {
            ++pos;
            break;
        }
        if (len > max_label_octets || wire.size() - pos - 1 < len) {
            return std::nullopt;
        }
        if (pos + 1 + len + 1 > max_name_octets) {
            return std::nullopt;
        }
        if (!name.text.empty()) {
            name.text += '.';
        }
        for (std::size_t i = 0; i < len; ++i) {
            append_label_octet(name.text, wire[pos + 1 + i]);
        }
        pos += 1 + static_cast<std::size_t>(len);
    }
    name.wire_length = pos;
    return name;
}

std::optional<MxRdata> parse_mx_rdata(std::span<const std::uint8_t> rdata) {
    if (rdata.size() < 3) {
        return std::nullopt;
    }
    auto exchange = parse_wire_name(rdata.subspan(2));
    if (!exchange || exchange->wire_length != rdata.size() - 2) {
        return std::nullopt;
    }
    MxRdata mx;
    mx.preference = static_cast<std::uint16_t>((rdata[0] << 8) | rdata[1]);
    mx.exchange = std::move(exchange->text);
    return mx;
}

std::optional<std::string> parse_a_rdata(std::span<const std::uint8_t> rdata) {
    if (rdata.size() != 4) {
        return std::nullopt;
    }
    std::string text;
    for (std::size_t i = 0; i < 4; ++i) {
        if (i != 0) {
            text += '.';
        }
        text += std::to_string(rdata[i]);
    }
    return text;
}

std::optional<std::string> parse_aaaa_rdata(std::span<const std::uint8_t> rdata) {
    if (rdata.size() != 16) {
        return std::nullopt;
    }
    in6_addr addr{};
    std::memcpy(&addr, rdata.data(), 16);
    std::array<char, INET6_ADDRSTRLEN> buf{};
    if (inet_ntop(AF_INET6, &addr, buf.data(), static_cast<socklen_t>(buf.size())) == nullptr) {
        return std::nullopt;
    }
    return std::string(buf.data());
}

std::optional<std::string> parse_txt_rdata(std::span<const std::uint8_t> rdata) {
    // RFC 1035 §3.3.14: TXT-DATA is one or more character-strings, so
    // zero-length rdata is malformed.
    if (rdata.empty()) {
        return std::nullopt;
    }
    std::string text;
    text.reserve(rdata.size());
    std::size_t pos = 0;
    while (pos < rdata.size()) {
        const std::size_t len = rdata[pos];
        ++pos;
        if (rdata.size() - pos < len) {
            return std::nullopt;
        }
        text.append(reinterpret_cast<const char*>(rdata.data() + pos), len);
        pos += len;
    }
    return text;
}

}  // namespace dsm::dns
