// RFC 8461 §3.3 checks of the policy fetch's HTTP response
// (core/sts/http_response), row by row from raw octets, as the fetcher's
// HTTP client (Poco) parses them. The HTTPS fetch itself is in
// tests/integration/sts_fetch_test.cpp against the real nginx test bed.
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <sstream>
#include <string>

#include "core/sts/http_response.hpp"
#include "tests/support/enum_print.hpp"

namespace dsm::sts {
using dsm::test::operator<<;  // FetchOutcome, printable in failed assertions
}  // namespace dsm::sts

using dsm::sts::FetchOutcome;
using dsm::sts::judge_response;

namespace {

dsm::sts::FetchResult judge(const std::string& raw) {
    std::istringstream in(raw);
    return judge_response(in);
}

const std::string kPolicy =
    "version: STSv1\r\nmode: enforce\r\nmx: mx.a.test\r\nmax_age: 86400\r\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(http_response)

BOOST_AUTO_TEST_CASE(ok_text_plain_with_length) {
    const auto r = judge("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                         std::to_string(kPolicy.size()) + "\r\n\r\n" + kPolicy);
    BOOST_TEST(r.outcome == FetchOutcome::ok);
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body == kPolicy);
}

BOOST_AUTO_TEST_CASE(media_type_case_and_charset) {
    const auto r =
        judge("HTTP/1.1 200 OK\r\nContent-Type: TEXT/Plain ; charset=utf-8\r\n\r\n" + kPolicy);
    BOOST_TEST(r.outcome == FetchOutcome::ok);
    BOOST_TEST(r.content_type == "TEXT/Plain ; charset=utf-8");
}

BOOST_AUTO_TEST_CASE(redirect_not_followed) {
    const auto r = judge("HTTP/1.1 301 Moved\r\nLocation: https://elsewhere.test/\r\n\r\n");
    BOOST_TEST(r.outcome == FetchOutcome::http_status);
    BOOST_TEST(r.status == 301);
    BOOST_TEST(r.error == "HTTP 301 redirect to https://elsewhere.test/ not followed");
}

BOOST_AUTO_TEST_CASE(not_found) {
    const auto r = judge("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope");
    BOOST_TEST(r.outcome == FetchOutcome::http_status);
    BOOST_TEST(r.error == "HTTP 404 Not Found");
    BOOST_TEST(r.body.empty());
}

// http_response_fuzz found this: codes 512..999 lie outside Poco's HTTPStatus
// enum, and reading them through getStatus() was undefined behaviour.
BOOST_AUTO_TEST_CASE(status_outside_pocos_enum) {
    for (const std::string code : {"600", "999", "512"}) {
        const auto r =
            judge("HTTP/1.0 " + code + " Odd\r\nContent-Type: text/plain\r\n\r\n" + kPolicy);
        BOOST_TEST(r.outcome == FetchOutcome::http_status);
        BOOST_TEST(r.status == std::stoi(code));
        BOOST_TEST(r.error == "HTTP " + code + " Odd");
    }
}

BOOST_AUTO_TEST_CASE(not_text_plain) {
    const auto r = judge("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>");
    BOOST_TEST(r.outcome == FetchOutcome::content_type);
    BOOST_TEST(r.error == "Content-Type \"text/html\" is not text/plain");
}

// The policy host is anyone's: its reason phrase, Location and Content-Type
// reach logs, RCPT replies and --check --json only as printable ASCII
// (\xHH for other octets, '"' escaped), cut to about 100 octets.
BOOST_AUTO_TEST_CASE(server_words_in_errors_are_printable) {
    auto r = judge("HTTP/1.1 404 Not\x1b[31m Found\xff\r\nContent-Type: text/plain\r\n\r\n");
    BOOST_TEST(r.outcome == FetchOutcome::http_status);
    BOOST_TEST(r.error == "HTTP 404 Not\\x1b[31m Found\\xff");

    r = judge("HTTP/1.1 302 Found\r\nLocation: https://x.test/\"\x7f" + std::string(200, 'a') +
              "\r\n\r\n");
    BOOST_TEST(r.error.rfind("HTTP 302 redirect to https://x.test/\\\"\\x7faaa", 0) == 0U, r.error);
    BOOST_TEST(r.error.size() < 150U, r.error);
    BOOST_TEST(r.error.find("... not followed") != std::string::npos, r.error);

    r = judge("HTTP/1.1 200 OK\r\nContent-Type: text/html\x01\"\r\n\r\n<html>");
    BOOST_TEST(r.outcome == FetchOutcome::content_type);
    BOOST_TEST(r.error == "Content-Type \"text/html\\x01\\\"\" is not text/plain");
}

BOOST_AUTO_TEST_CASE(announced_too_large) {
    const auto r =
        judge("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 65537\r\n\r\n");
    BOOST_TEST(r.outcome == FetchOutcome::too_large);
}

BOOST_AUTO_TEST_CASE(sent_too_large) {
    const auto r =
        judge("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + std::string(70000, 'x'));
    BOOST_TEST(r.outcome == FetchOutcome::too_large);
    BOOST_TEST(r.size == 65537U);  // read no further than one octet over the limit
}

BOOST_AUTO_TEST_CASE(shorter_than_announced) {
    const auto r = judge(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\n" + kPolicy);
    BOOST_TEST(r.outcome != FetchOutcome::ok);
    BOOST_TEST(r.body.empty());
}

BOOST_AUTO_TEST_CASE(not_http) {
    const auto r = judge("SSH-2.0-OpenSSH_9.2\r\n");
    BOOST_TEST(r.outcome == FetchOutcome::protocol_error);
}

BOOST_AUTO_TEST_SUITE_END()
