#include "core/report/count_key.hpp"

#include <fmt/format.h>

#include <charconv>
#include <functional>

namespace dsm::report {

std::string_view to_string(View v) {
    switch (v) {
        case View::configured:
            return "configured";
        case View::mandatory:
            return "mandatory";
    }
    return "?";
}

std::string_view to_string(Outcome o) {
    switch (o) {
        case Outcome::accepted:
            return "accepted";
        case Outcome::deferred:
            return "deferred";
        case Outcome::rejected:
            return "rejected";
        case Outcome::would_defer:
            return "would-defer";
        case Outcome::would_reject:
            return "would-reject";
    }
    return "?";
}

std::optional<View> parse_view(std::string_view s) {
    for (const View v : {View::configured, View::mandatory}) {
        if (s == to_string(v)) {
            return v;
        }
    }
    return std::nullopt;
}

std::optional<Outcome> parse_outcome(std::string_view s) {
    for (const Outcome o : {Outcome::accepted, Outcome::deferred, Outcome::rejected,
                            Outcome::would_defer, Outcome::would_reject}) {
        if (s == to_string(o)) {
            return o;
        }
    }
    return std::nullopt;
}

std::size_t CountKeyHash::operator()(const CountKey& k) const noexcept {
    const std::hash<std::string> h;
    std::size_t seed = h(k.day);
    for (const std::size_t part :
         {h(k.connector), h(k.domain), h(k.cause), static_cast<std::size_t>(k.view),
          static_cast<std::size_t>(k.outcome)}) {
        seed ^= part + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
    }
    return seed;
}

std::string utc_day(std::chrono::system_clock::time_point t) {
    const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t)};
    return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                       static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

std::optional<std::string> add_days(std::string_view day, int delta) {
    int y = 0;
    unsigned m = 0;
    unsigned d = 0;
    if (day.size() != 10 || day[4] != '-' || day[7] != '-') {
        return std::nullopt;
    }
    const char* p = day.data();
    if (std::from_chars(p, p + 4, y).ptr != p + 4 ||
        std::from_chars(p + 5, p + 7, m).ptr != p + 7 ||
        std::from_chars(p + 8, p + 10, d).ptr != p + 10) {
        return std::nullopt;
    }
    const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m},
                                          std::chrono::day{d}};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    const std::chrono::sys_days moved = std::chrono::sys_days{ymd} + std::chrono::days{delta};
    return utc_day(moved);
}

}  // namespace dsm::report
