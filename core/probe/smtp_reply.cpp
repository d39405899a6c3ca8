// See smtp_reply.hpp.
#include "core/probe/smtp_reply.hpp"

#include <algorithm>
#include <cctype>

#include "core/address/recipient.hpp"

namespace dsm::probe::detail {

std::string quoted(std::string_view text) {
    return "\"" + address::printable(text, kQuotedOctets) + "\"";
}

ReplyLine take_reply_line(std::string& in, Reply& reply, std::string& error) {
    const std::size_t eol = in.find('\n');
    if (eol == std::string::npos) {
        // kMaxReplyLine counts the line without its CRLF (as the check below
        // does), so a complete line may wait here with its CR (RFC 5321
        // §2.3.8, §4.5.3.1.5): refusing it then would make the outcome depend
        // on where TCP cut the stream (found by tests/fuzz/smtp_reply_fuzz).
        if (in.size() > kMaxReplyLine + 1) {
            error = "reply line longer than " + std::to_string(kMaxReplyLine) + " octets";
            return ReplyLine::malformed;
        }
        return ReplyLine::need_more;
    }
    std::string line = in.substr(0, eol);
    in.erase(0, eol + 1);
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    }
    const bool digits = line.size() >= 3 && std::all_of(line.begin(), line.begin() + 3, [](char c) {
                            return c >= '0' && c <= '9';
                        });
    if (!digits || line[0] < '2' || line[0] > '5' ||
        (line.size() > 3 && line[3] != ' ' && line[3] != '-') || line.size() > kMaxReplyLine) {
        error = "malformed reply line " + quoted(line);
        return ReplyLine::malformed;
    }
    const int code = std::stoi(line.substr(0, 3));
    if (!reply.lines.empty() && code != reply.code) {
        error = "reply code changes within a reply (" + std::to_string(reply.code) + ", then " +
                std::to_string(code) + ")";
        return ReplyLine::malformed;
    }
    reply.code = code;
    reply.lines.push_back(line.size() > 4 ? line.substr(4) : std::string());
    if (line.size() == 3 || line[3] == ' ') {
        return ReplyLine::last;
    }
    if (reply.lines.size() >= kMaxReplyLines) {
        error = "reply of more than " + std::to_string(kMaxReplyLines) + " lines";
        return ReplyLine::malformed;
    }
    return ReplyLine::more;
}

bool offers_starttls(const Reply& ehlo) {
    for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
        std::string keyword = ehlo.lines[i].substr(0, ehlo.lines[i].find(' '));
        std::transform(keyword.begin(), keyword.end(), keyword.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (keyword == "STARTTLS") {
            return true;
        }
    }
    return false;
}

}  // namespace dsm::probe::detail
