// RFC 8461 §3.3 checks of the policy fetch's HTTP response, apart from the
// socket: core/sts/https_fetcher.cpp calls them on what it received, and
// tests/fuzz/http_response_fuzz.cpp feeds them any octets.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include "core/sts/policy_fetcher.hpp"

namespace Poco::Net {
class HTTPResponse;
}

namespace dsm::sts {

// What the checks need of a response's head.
struct ResponseHead {
    int status = 0;
    std::string reason;
    std::string content_type;                    // "" when absent
    std::optional<std::int64_t> content_length;  // when sent
    std::string location;                        // "" when absent
};

// The head as Poco's HTTP client parsed it (the fetcher and judge_response
// must see the same fields).
ResponseHead head_of(const Poco::Net::HTTPResponse& response);

// §3.3: the media type must be "text/plain"; parameters (charset) allowed,
// type and subtype compare case-insensitively (RFC 9110 §8.3.1).
bool is_text_plain(std::string_view content_type);

// Status, media type and announced size, in that order (§3.3: no redirects,
// 200 only, text/plain, at most kMaxPolicySize octets). Fills r.status and
// r.content_type; false with r.outcome and r.error set when the head rules
// the body out.
bool check_response_head(const ResponseHead& head, FetchResult& r);

// Reads the body from `in`, one read from the source per round, stopping at
// kMaxPolicySize + 1 octets whatever the source has: a server sending
// without end is read no further. r.size follows what was read.
std::string read_limited_body(std::istream& in, FetchResult& r);

// The body as read (`stream_bad`: the stream failed under it): over the
// limit, broken, or shorter/longer than its Content-Length is an error;
// otherwise r.outcome is ok and r.body holds it.
void judge_body(std::string body, bool stream_bad, const ResponseHead& head, FetchResult& r);

// The whole response from octets (a status line, headers, CRLF, body as
// sent; no chunked decoding), parsed as the fetcher's HTTP client parses it
// (Poco::Net::HTTPResponse), then checked as above. For the fuzz target and
// tests; never throws.
FetchResult judge_response(std::istream& raw);

}  // namespace dsm::sts
