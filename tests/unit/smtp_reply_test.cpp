// The probe's reading of SMTP replies (core/probe/smtp_reply), row by row
// from raw octets: RFC 5321 §4.2.1 reply lines, and what an error quotes of
// a server's words. The dialogue over real STARTTLS listeners is in
// tests/integration/probe_test.cpp.
#include <boost/test/unit_test.hpp>

#include <string>

#include "core/probe/smtp_reply.hpp"

using dsm::probe::detail::kMaxReplyLine;
using dsm::probe::detail::quoted;
using dsm::probe::detail::Reply;
using dsm::probe::detail::ReplyLine;
using dsm::probe::detail::take_reply_line;

namespace {

// Every line of `in` into one reply; the status of the last take.
ReplyLine take_all(std::string in, Reply& reply, std::string& error) {
    ReplyLine last = ReplyLine::need_more;
    while ((last = take_reply_line(in, reply, error)) == ReplyLine::more) {
    }
    return last;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(smtp_reply)

BOOST_AUTO_TEST_CASE(one_line_and_continuations) {
    Reply r;
    std::string error;
    BOOST_TEST((take_all("220 mx.a.test ESMTP\r\n", r, error) == ReplyLine::last));
    BOOST_TEST(r.code == 220);
    BOOST_TEST(r.lines.size() == 1U);
    BOOST_TEST(r.lines[0] == "mx.a.test ESMTP");

    Reply ehlo;
    BOOST_TEST((take_all("250-mx.a.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n", ehlo, error) ==
                ReplyLine::last));
    BOOST_TEST(ehlo.lines.size() == 3U);
    BOOST_TEST(dsm::probe::detail::offers_starttls(ehlo));
}

BOOST_AUTO_TEST_CASE(a_line_waits_for_its_end) {
    Reply r;
    std::string error;
    std::string in = "220 partial";
    BOOST_TEST((take_reply_line(in, r, error) == ReplyLine::need_more));
    BOOST_TEST(in == "220 partial");  // nothing taken yet
}

BOOST_AUTO_TEST_CASE(malformed_lines) {
    for (const std::string line : {"hello\r\n", "600 no\r\n", "22\r\n", "220x\r\n"}) {
        Reply r;
        std::string error;
        std::string in = line;
        BOOST_TEST_CONTEXT(line) {
            BOOST_TEST((take_reply_line(in, r, error) == ReplyLine::malformed));
            BOOST_TEST(error.rfind("malformed reply line \"", 0) == 0U, error);
        }
    }
    Reply r;
    std::string error;
    BOOST_TEST((take_all("250-a\r\n251 b\r\n", r, error) == ReplyLine::malformed));
    BOOST_TEST(error == "reply code changes within a reply (250, then 251)");
}

BOOST_AUTO_TEST_CASE(a_line_is_bounded) {
    Reply r;
    std::string error;
    std::string in(kMaxReplyLine + 2, 'x');  // no end of line in sight
    BOOST_TEST((take_reply_line(in, r, error) == ReplyLine::malformed));
    BOOST_TEST(error == "reply line longer than 4096 octets");
}

// An MX host is anyone's: what an error quotes of its words reaches logs,
// RCPT replies, --check --json and the store. Printable ASCII only ('"' and
// '\' escaped, other octets \xHH), about 100 octets.
BOOST_AUTO_TEST_CASE(errors_quote_server_words_printably) {
    Reply r;
    std::string error;
    std::string in = std::string("garbage\x1b[2J\xff\"\0tail", 18) + "\r\n";
    BOOST_TEST((take_reply_line(in, r, error) == ReplyLine::malformed));
    BOOST_TEST(error == "malformed reply line \"garbage\\x1b[2J\\xff\\\"\\x00tail\"");

    Reply refused;
    BOOST_TEST((take_all("554 5.7.1 go \"away\"\x07 " + std::string(300, 'z') + "\r\n", refused,
                         error) == ReplyLine::last));
    const std::string q = refused.quoted_first();
    BOOST_TEST(q.rfind("\"554 5.7.1 go \\\"away\\\"\\x07 zzz", 0) == 0U, q);
    BOOST_TEST(q.size() < 120U, q);
    BOOST_TEST(q.substr(q.size() - 4) == "...\"", q);
    for (const char c : q) {
        BOOST_TEST((c >= 0x20 && c < 0x7f), q);
    }
    BOOST_TEST(quoted("") == "\"\"");
}

BOOST_AUTO_TEST_SUITE_END()
