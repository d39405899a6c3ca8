// The socketmap request framing (core/policymap/netstring.hpp, SPEC §7) on a
// byte stream as a client sends it, cut into reads at positions taken from
// the input, and the map name that picks the answer style
// (policy_answer.hpp map_client). Input: octet 0 picks the payload limit
// (the production kMaxRequestPayload, or a small one so oversize is easy to
// reach), octet 1 the number of cuts, then two octets per cut (offsets into
// the stream), then the stream.
// Checked besides the sanitizers, against an independent reading of the
// whole stream at once:
//   - the reader hands out exactly the same payloads, whole and in order,
//     however the stream is cut (so a request split across reads is never
//     lost or mangled);
//   - oversize and malformed are terminal: every later next() answers the
//     same and later input is ignored (buffered() stops growing);
//   - memory stays bounded: after the reader says need_more it holds less
//     than one maximal netstring;
//   - each payload re-encoded with netstring_encode reads back unchanged;
//   - map_client of the payload's first word matches its definition.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/policymap/netstring.hpp"
#include "core/policymap/policy_answer.hpp"
#include "tests/support/fuzz_checks.hpp"

namespace {

using dsm::fuzz::check;
using dsm::policymap::kMaxRequestPayload;
using dsm::policymap::NetstringReader;
using dsm::policymap::NetstringStatus;

struct Reading {
    std::vector<std::string> payloads;
    NetstringStatus end = NetstringStatus::need_more;
};

// The reference: cr.yp.to/proto/netstrings.txt read over the whole stream.
Reading reference(std::string_view in, std::size_t max) {
    Reading r;
    for (;;) {
        if (in.empty()) {
            return r;
        }
        std::size_t i = 0;
        std::size_t len = 0;
        while (i < in.size() && in[i] >= '0' && in[i] <= '9') {
            if (i == 1 && in[0] == '0') {
                r.end = NetstringStatus::malformed;
                return r;
            }
            len = len * 10 + static_cast<std::size_t>(in[i] - '0');
            if (len > max) {
                r.end = NetstringStatus::oversize;
                return r;
            }
            ++i;
        }
        if (i == in.size()) {
            return r;
        }
        if (i == 0 || in[i] != ':') {
            r.end = NetstringStatus::malformed;
            return r;
        }
        if (in.size() - i - 1 < len + 1) {
            return r;
        }
        if (in[i + 1 + len] != ',') {
            r.end = NetstringStatus::malformed;
            return r;
        }
        r.payloads.emplace_back(in.substr(i + 1, len));
        in.remove_prefix(i + 1 + len + 1);
    }
}

std::size_t digits(std::size_t n) {
    std::size_t d = 1;
    while (n >= 10) {
        n /= 10;
        ++d;
    }
    return d;
}

// Takes every complete netstring out of `reader`; returns the status that
// ended the run.
NetstringStatus drain(NetstringReader& reader, Reading& out, std::size_t max) {
    for (;;) {
        std::string_view payload;
        const auto status = reader.next(payload);
        if (status != NetstringStatus::complete) {
            if (status == NetstringStatus::need_more) {
                // Less than `len:` + max payload + `,` is ever held back.
                check(reader.buffered() < digits(max) + max + 2);
            }
            return status;
        }
        check(payload.size() <= max);
        out.payloads.emplace_back(payload);
    }
}

void check_map_name(std::string_view payload) {
    // socketmap_table(5): "name <space> key".
    const std::string_view name = payload.substr(0, payload.find(' '));
    const auto client = dsm::policymap::map_client(name);
    using dsm::policymap::MapClient;
    check((client == MapClient::sendmail_sts) == (name == "sts"));
    check((client == MapClient::postfix_tlsrpt) == (name == dsm::policymap::kTlsrptMapName));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    const std::size_t max = data[0] % 2 == 0 ? kMaxRequestPayload : data[0] % 32;
    const std::size_t ncuts = data[1] % 16;
    std::size_t at = 2;
    std::vector<std::size_t> cuts;
    for (std::size_t i = 0; i < ncuts && at + 1 < size; ++i, at += 2) {
        cuts.push_back((static_cast<std::size_t>(data[at]) << 8) | data[at + 1]);
    }
    const std::string_view stream(reinterpret_cast<const char*>(data) + at, size - at);
    for (auto& c : cuts) {
        c = stream.empty() ? 0 : c % (stream.size() + 1);
    }

    const Reading expected = reference(stream, max);

    // Fed in pieces, drained after each read as the server does.
    NetstringReader reader(max);
    Reading got;
    NetstringStatus status = NetstringStatus::need_more;
    std::size_t pos = 0;
    std::size_t cut = 0;
    while (pos < stream.size()) {
        std::size_t end = stream.size();
        if (cut < cuts.size()) {
            end = std::max(pos, cuts[cut++]);
        }
        const std::size_t before = reader.buffered();
        reader.feed(stream.substr(pos, end - pos));
        if (status != NetstringStatus::need_more) {
            // Terminal: further input is ignored and the answer stays.
            check(reader.buffered() == before);
            std::string_view payload;
            check(reader.next(payload) == status);
        } else {
            status = drain(reader, got, max);
        }
        pos = end;
    }
    check(status == expected.end);
    check(got.payloads == expected.payloads);

    // All at once gives the same.
    NetstringReader whole(max);
    whole.feed(stream);
    Reading once;
    check(drain(whole, once, max) == expected.end);
    check(once.payloads == expected.payloads);

    // Re-encoded, every payload reads back as it was.
    std::string encoded;
    for (const auto& p : got.payloads) {
        dsm::policymap::netstring_append(encoded, p);
        check(dsm::policymap::netstring_encode(p).size() == digits(p.size()) + p.size() + 2);
        check_map_name(p);
    }
    NetstringReader again(max);
    again.feed(encoded);
    Reading back;
    check(drain(again, back, max) == NetstringStatus::need_more);
    check(back.payloads == got.payloads && again.buffered() == 0);
    return 0;
}
