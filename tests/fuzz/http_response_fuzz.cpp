// Fuzz target: the MTA-STS fetch's response handling (RFC 8461 §3.3): the
// status line and headers as the fetcher's HTTP client (Poco) parses them,
// then our checks of status, content type and size, and the body limit
// (core/sts/http_response.hpp, the same functions the fetcher calls on a
// real connection). Whatever the octets, it must return; an accepted
// response must keep §3.3's promises; a refusal's reason is printable ASCII
// (it reaches logs, RCPT replies and --check --json).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "core/sts/http_response.hpp"
#include "core/sts/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::istringstream raw(std::string(reinterpret_cast<const char*>(data), size));
    const dsm::sts::FetchResult r = dsm::sts::judge_response(raw);
    if (r.outcome != dsm::sts::FetchOutcome::ok) {
        // A refusal always says why, and never carries a body.
        const bool printable = std::all_of(r.error.begin(), r.error.end(),
                                           [](char c) { return c >= 0x20 && c < 0x7f; });
        if (r.error.empty() || !r.body.empty() || !printable) {
            __builtin_trap();
        }
        return 0;
    }
    // Accepted: 200, text/plain, within 64 KiB, and every octet read kept.
    if (r.status != 200 || !dsm::sts::is_text_plain(r.content_type) ||
        r.body.size() > dsm::sts::kMaxPolicySize || r.size != r.body.size() || !r.error.empty()) {
        __builtin_trap();
    }
    static_cast<void>(dsm::sts::parse_policy(r.body));
    return 0;
}
