// SMTP replies as the probe reads them (internal to core/probe): the pure
// parsing of what a server sent, apart from the socket (session.cpp) so that
// tests/fuzz/smtp_reply_fuzz.cpp runs exactly this code.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dsm::probe::detail {

// RFC 5321 §4.5.3.1.5 allows 512 octets a reply line; be lenient but bounded.
inline constexpr std::size_t kMaxReplyLine = 4096;
inline constexpr std::size_t kMaxReplyLines = 256;

// How much of a server's line an error quotes. The server is anyone's (an MX
// host is named by the recipient's domain), and the error reaches logs, RCPT
// replies, --check --json and the store: printable ASCII only, cut short.
inline constexpr std::size_t kQuotedOctets = 100;

// `text` between double quotes, made printable (address::printable: '"' and
// '\' escaped, other octets as \xHH) and cut to about kQuotedOctets.
std::string quoted(std::string_view text);

struct Reply {
    int code = 0;
    std::vector<std::string> lines;  // text after "NNN-" / "NNN "
    // The code and first line, quoted(): for errors.
    [[nodiscard]] std::string quoted_first() const {
        return quoted(std::to_string(code) + (lines.empty() ? "" : " " + lines.front()));
    }
};

enum class ReplyLine {
    need_more,  // no complete line in the buffer (and not over kMaxReplyLine)
    more,       // a "NNN-" line was added to the reply; another must follow
    last,       // the reply is complete
    malformed,  // `error` says why; the connection is unusable
};

// Takes one line (LF or CRLF terminated) from the front of `in` into `reply`
// (which the caller starts empty for each reply). RFC 5321 §4.2.1:
// "NNN-text" lines continue a reply, "NNN text" (or a bare "NNN") ends it;
// every line carries the same code, 2xx to 5xx. At most kMaxReplyLines lines
// and kMaxReplyLine octets a line, so a server cannot make us hold more.
ReplyLine take_reply_line(std::string& in, Reply& reply, std::string& error);

// True when an EHLO reply offers STARTTLS (RFC 3207 §4): RFC 5321 §4.1.1.1,
// the first line greets and each further line starts with an EHLO keyword.
bool offers_starttls(const Reply& ehlo);

}  // namespace dsm::probe::detail
