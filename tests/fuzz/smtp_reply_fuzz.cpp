// The STARTTLS probe's SMTP reply parser (core/probe/smtp_reply.hpp, RFC 5321
// §4.2.1) on what a server sends: the input after octet 0 is the stream,
// handed over in reads of a size octet 0 picks (1 to 127 octets, or all at
// once), and read reply after reply as Session::read_reply does (banner,
// EHLO, STARTTLS, ...). Checked besides the sanitizers:
//   - a reply has 1 to kMaxReplyLines lines, one code 200..599, lines of at
//     most kMaxReplyLine octets without CR or LF, and an error only when
//     malformed;
//   - what waits for more input is at most kMaxReplyLine + 1 octets (a
//     longest line and its CR);
//   - the replies and the outcome do not depend on how the stream was cut
//     into reads (TCP segments it as it likes);
//   - offers_starttls agrees with RFC 3207 §4 read directly;
//   - what an error says or quotes of the server is printable ASCII, and a
//     quoted reply is at most about kQuotedOctets long.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/probe/smtp_reply.hpp"
#include "tests/support/fuzz_checks.hpp"

namespace {

using dsm::fuzz::check;
using dsm::probe::detail::kMaxReplyLine;
using dsm::probe::detail::kMaxReplyLines;
using dsm::probe::detail::kQuotedOctets;
using dsm::probe::detail::Reply;
using dsm::probe::detail::ReplyLine;

struct Dialogue {
    std::vector<Reply> replies;
    bool malformed = false;
    std::string left;  // octets after the last complete reply
};

bool starttls_in(const Reply& r) {
    for (std::size_t i = 1; i < r.lines.size(); ++i) {
        const std::string_view l = r.lines[i];
        const std::string_view word = l.substr(0, l.find(' '));
        if (word.size() == 8) {
            std::string up(word);
            for (auto& c : up) {
                c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            }
            if (up == "STARTTLS") {
                return true;
            }
        }
    }
    return false;
}

bool printable_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

void check_reply(const Reply& r) {
    check(!r.lines.empty() && r.lines.size() <= kMaxReplyLines);
    check(r.code >= 200 && r.code <= 599);
    for (const auto& l : r.lines) {
        check(l.size() <= kMaxReplyLine && l.find('\n') == std::string::npos);
    }
    const std::string q = r.quoted_first();
    check(q.rfind("\"" + std::to_string(r.code), 0) == 0);
    // An escape may overshoot the cut by 3 octets, then "..." and the quotes.
    check(q.size() <= kQuotedOctets + 8 && printable_ascii(q));
    check(dsm::probe::detail::offers_starttls(r) == starttls_in(r));
}

// Replies one after another, as the probe reads them, `chunk` octets a read
// (0: the whole stream in one read).
Dialogue read_all(std::string_view stream, std::size_t chunk) {
    Dialogue d;
    std::string in;
    std::size_t pos = 0;
    Reply reply;
    std::string error;
    for (;;) {
        const auto got = take_reply_line(in, reply, error);
        switch (got) {
            case ReplyLine::last:
                check(error.empty());
                check_reply(reply);
                d.replies.push_back(std::move(reply));
                reply = {};
                continue;
            case ReplyLine::more:
                check(error.empty() && reply.lines.size() < kMaxReplyLines);
                continue;
            case ReplyLine::malformed:
                check(!error.empty() && printable_ascii(error));
                d.malformed = true;
                return d;
            case ReplyLine::need_more:
                check(error.empty() && in.find('\n') == std::string::npos);
                check(in.size() <= kMaxReplyLine + 1);
                break;
        }
        if (pos == stream.size()) {
            // The server closed: what it sent of the last reply stays.
            for (const auto& l : reply.lines) {
                d.left += l;
            }
            d.left += in;
            return d;
        }
        const std::size_t n =
            chunk == 0 ? stream.size() - pos : std::min(chunk, stream.size() - pos);
        in.append(stream.substr(pos, n));
        pos += n;
    }
}

bool same(const Reply& a, const Reply& b) {
    return a.code == b.code && a.lines == b.lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::size_t chunk = data[0] % 128;
    const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
    const Dialogue cut = read_all(stream, chunk);
    const Dialogue whole = read_all(stream, 0);
    const Dialogue bytes = read_all(stream, 1);
    for (const Dialogue* d : {&whole, &bytes}) {
        check(d->malformed == cut.malformed);
        check(d->replies.size() == cut.replies.size());
        for (std::size_t i = 0; i < cut.replies.size(); ++i) {
            check(same(d->replies[i], cut.replies[i]));
        }
        check(d->left == cut.left);
    }
    return 0;
}
