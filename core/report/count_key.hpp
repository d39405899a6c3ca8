// One counter of the readiness report (SPEC §11): recipients decided per
// connector, recipient domain and UTC day, by what was done (or, in test
// mode, would have been done) and its RFC 8460 §4.3 result type. Each RCPT
// is counted twice: as the connector decided (`configured`) and as the same
// connector switched to mode mandatory would have decided (`mandatory`), so
// that --report answers "what if I switch" from real traffic.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dsm::report {

// Which connector settings decided the counted outcome.
enum class View { configured, mandatory };

enum class Outcome { accepted, deferred, rejected, would_defer, would_reject };

std::string_view to_string(View v);
std::string_view to_string(Outcome o);  // "accepted", "would-defer", ...
std::optional<View> parse_view(std::string_view s);
std::optional<Outcome> parse_outcome(std::string_view s);

// The domain that counts beyond the distinct-key bound are folded into.
inline constexpr std::string_view kOtherDomain = "(other)";

struct CountKey {
    std::string day;  // UTC, YYYY-MM-DD
    std::string connector;
    std::string domain;
    View view = View::configured;
    Outcome outcome = Outcome::accepted;
    // RFC 8460 §4.3 result type of a defer/reject (`dane-required`, ...),
    // `null-mx` for RFC 7505, "" for an accept.
    std::string cause;

    bool operator==(const CountKey&) const = default;
};

struct CountKeyHash {
    std::size_t operator()(const CountKey& k) const noexcept;
};

struct CountRow {
    CountKey key;
    std::uint64_t count = 0;

    bool operator==(const CountRow&) const = default;
};

// The UTC day of `t`, YYYY-MM-DD.
std::string utc_day(std::chrono::system_clock::time_point t);
// `day` moved by `delta` days; nullopt for a malformed day.
std::optional<std::string> add_days(std::string_view day, int delta);

}  // namespace dsm::report
