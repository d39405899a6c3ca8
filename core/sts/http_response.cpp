#include "core/sts/http_response.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPResponse.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <sstream>
#include <utility>

#include "core/address/recipient.hpp"
#include "core/util/ascii.hpp"

namespace dsm::sts {

namespace {

namespace ascii = util::ascii;

// The status code without reading Poco's HTTPStatus enum: Poco stores any
// three-digit code in it, but 512..999 lie outside that enum's range, and
// loading such a value is undefined behaviour (UBSan's "enum" check fired on
// "HTTP/1.0 600" in http_response_fuzz). Poco's own write() converts it back
// to a number in Poco's code, so the code is read from the status line it
// writes. 0 when that line has no number after the version.
int status_code(const Poco::Net::HTTPResponse& response) {
    std::ostringstream head;
    response.write(head);
    const std::string text = head.str();
    const auto space = text.find(' ');
    if (space == std::string::npos) {
        return 0;
    }
    int code = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data() + space + 1, end, code);
    return ec == std::errc{} && ptr != end && *ptr == ' ' ? code : 0;
}

// The policy host's own words (reason phrase, Location, Content-Type, what
// Poco quotes of a malformed response) in an error: it reaches logs, RCPT
// replies, --check --json and the store, so printable ASCII only, cut short
// (address::printable).
std::string shown(std::string_view server_text) {
    constexpr std::size_t kShownOctets = 100;
    return address::printable(server_text, kShownOctets);
}

}  // namespace

ResponseHead head_of(const Poco::Net::HTTPResponse& response) {
    ResponseHead head;
    head.status = status_code(response);
    head.reason = response.getReason();
    head.content_type = response.get(Poco::Net::HTTPMessage::CONTENT_TYPE, "");
    if (response.hasContentLength()) {
        head.content_length = response.getContentLength64();
    }
    head.location = response.get("Location", "");
    return head;
}

bool is_text_plain(std::string_view content_type) {
    std::string_view media = content_type.substr(0, content_type.find(';'));
    const auto ows = [](char c) { return c == ' ' || c == '\t'; };
    while (!media.empty() && ows(media.front())) {
        media.remove_prefix(1);
    }
    while (!media.empty() && ows(media.back())) {
        media.remove_suffix(1);
    }
    constexpr std::string_view kTextPlain = "text/plain";
    return media.size() == kTextPlain.size() &&
           std::equal(media.begin(), media.end(), kTextPlain.begin(),
                      [](char a, char b) { return ascii::lower(a) == b; });
}

bool check_response_head(const ResponseHead& head, FetchResult& r) {
    r.status = head.status;
    r.content_type = head.content_type;
    if (r.status >= 300 && r.status < 400) {
        // §3.3: "HTTP 3xx redirects MUST NOT be followed".
        r.outcome = FetchOutcome::http_status;
        r.error = "HTTP " + std::to_string(r.status) + " redirect" +
                  (head.location.empty() ? "" : " to " + shown(head.location)) + " not followed";
        return false;
    }
    if (r.status != 200) {
        r.outcome = FetchOutcome::http_status;
        r.error = "HTTP " + std::to_string(r.status) + " " + shown(head.reason);
        return false;
    }
    if (!is_text_plain(r.content_type)) {
        r.outcome = FetchOutcome::content_type;
        r.error = "Content-Type \"" + shown(r.content_type) + "\" is not text/plain";
        return false;
    }
    if (head.content_length && *head.content_length > static_cast<std::int64_t>(kMaxPolicySize)) {
        r.outcome = FetchOutcome::too_large;
        r.error = "Content-Length " + std::to_string(*head.content_length) + " exceeds " +
                  std::to_string(kMaxPolicySize) + " octets";
        return false;
    }
    return true;
}

std::string read_limited_body(std::istream& in, FetchResult& r) {
    // One read from the source per round (peek), then what it brought
    // (readsome): `size` stays right when a later read fails. Stops at one
    // octet over the limit.
    std::string body;
    std::array<char, 8192> buffer{};
    while (body.size() <= kMaxPolicySize && in.peek() != std::istream::traits_type::eof()) {
        const std::size_t want = std::min(buffer.size(), kMaxPolicySize + 1 - body.size());
        const std::streamsize got = in.readsome(buffer.data(), static_cast<std::streamsize>(want));
        body.append(buffer.data(), static_cast<std::size_t>(got));
        r.size = body.size();
    }
    return body;
}

void judge_body(std::string body, bool stream_bad, const ResponseHead& head, FetchResult& r) {
    if (body.size() > kMaxPolicySize) {
        r.outcome = FetchOutcome::too_large;
        r.error = "body exceeds " + std::to_string(kMaxPolicySize) + " octets";
        return;
    }
    if (stream_bad) {
        r.outcome = FetchOutcome::protocol_error;
        r.error = "malformed response body";
        return;
    }
    if (head.content_length && static_cast<std::int64_t>(body.size()) != *head.content_length) {
        r.outcome = FetchOutcome::protocol_error;
        r.error = "body ended after " + std::to_string(body.size()) + " of " +
                  std::to_string(*head.content_length) + " octets";
        return;
    }
    r.outcome = FetchOutcome::ok;
    r.body = std::move(body);
}

FetchResult judge_response(std::istream& raw) {
    FetchResult r;
    try {
        Poco::Net::HTTPResponse response;
        response.read(raw);
        const ResponseHead head = head_of(response);
        if (!check_response_head(head, r)) {
            return r;
        }
        std::string body = read_limited_body(raw, r);
        judge_body(std::move(body), raw.bad(), head, r);
    } catch (const Poco::Exception& e) {
        // As the fetcher: after the handshake, a malformed response is the
        // server not speaking HTTP properly. Poco's message may quote it.
        r.outcome = FetchOutcome::protocol_error;
        r.error = shown(e.displayText());
        r.body.clear();
    } catch (const std::exception& e) {
        r.outcome = FetchOutcome::protocol_error;
        r.error = shown(e.what());
        r.body.clear();
    }
    return r;
}

}  // namespace dsm::sts
