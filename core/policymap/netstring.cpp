#include "core/policymap/netstring.hpp"

#include <array>
#include <charconv>

namespace dsm::policymap {

std::string_view to_string(NetstringStatus s) {
    switch (s) {
        case NetstringStatus::need_more:
            return "need_more";
        case NetstringStatus::complete:
            return "complete";
        case NetstringStatus::oversize:
            return "oversize";
        case NetstringStatus::malformed:
            return "malformed";
    }
    return "?";
}

void NetstringReader::feed(std::string_view data) {
    if (failed_ != NetstringStatus::need_more) {
        return;  // framing lost: nothing more is read from this stream
    }
    if (pos_ > 0) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    buf_.append(data);
}

NetstringStatus NetstringReader::next(std::string_view& payload) {
    if (failed_ != NetstringStatus::need_more) {
        return failed_;
    }
    const auto fail = [this](NetstringStatus s) {
        failed_ = s;
        return s;
    };
    const std::string_view in(buf_.data() + pos_, buf_.size() - pos_);
    if (in.empty()) {
        return NetstringStatus::need_more;
    }
    // [len]: a nonempty run of digits; "Extra zeros at the front of [len] are
    // prohibited: [len] begins with <30> exactly when [string] is empty."
    std::size_t i = 0;
    std::size_t len = 0;
    for (; i < in.size() && in[i] >= '0' && in[i] <= '9'; ++i) {
        if (i == 1 && in[0] == '0') {
            return fail(NetstringStatus::malformed);
        }
        len = len * 10 + static_cast<std::size_t>(in[i] - '0');
        if (len > max_payload_) {
            return fail(NetstringStatus::oversize);
        }
    }
    if (i == in.size()) {
        return NetstringStatus::need_more;
    }
    if (i == 0 || in[i] != ':') {
        return fail(NetstringStatus::malformed);
    }
    const std::size_t start = i + 1;
    if (in.size() < start + len + 1) {
        return NetstringStatus::need_more;
    }
    if (in[start + len] != ',') {
        return fail(NetstringStatus::malformed);
    }
    payload = in.substr(start, len);
    pos_ += start + len + 1;
    return NetstringStatus::complete;
}

void netstring_append(std::string& out, std::string_view payload) {
    std::array<char, 24> digits{};
    const auto r = std::to_chars(digits.data(), digits.data() + digits.size(), payload.size());
    out.reserve(out.size() + static_cast<std::size_t>(r.ptr - digits.data()) + payload.size() + 2);
    out.append(digits.data(), r.ptr);
    out.push_back(':');
    out.append(payload);
    out.push_back(',');
}

std::string netstring_encode(std::string_view payload) {
    std::string out;
    netstring_append(out, payload);
    return out;
}

}  // namespace dsm::policymap
