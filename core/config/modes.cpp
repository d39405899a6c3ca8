#include "core/config/modes.hpp"

#include <cstddef>

#include "core/util/ascii.hpp"

namespace dsm::config {
namespace {

// Config values are matched without regard to case, as Poco matches the keys.
namespace ascii = util::ascii;

}  // namespace

std::string_view to_string(DaneMode m) {
    switch (m) {
        case DaneMode::opportunistic:
            return "opportunistic";
        case DaneMode::mandatory:
            return "mandatory";
        case DaneMode::none:
            return "none";
    }
    return "none";
}

std::string_view to_string(StsMode m) {
    switch (m) {
        case StsMode::opportunistic:
            return "opportunistic";
        case StsMode::none:
            return "none";
    }
    return "none";
}

std::string_view to_string(OnFailure f) {
    switch (f) {
        case OnFailure::defer:
            return "defer";
        case OnFailure::reject:
            return "reject";
    }
    return "defer";
}

std::optional<DaneMode> parse_dane_mode(std::string_view s) {
    for (const DaneMode m : {DaneMode::opportunistic, DaneMode::mandatory, DaneMode::none}) {
        if (ascii::iequals(s, to_string(m))) {
            return m;
        }
    }
    return std::nullopt;
}

std::optional<StsMode> parse_sts_mode(std::string_view s) {
    for (const StsMode m : {StsMode::opportunistic, StsMode::none}) {
        if (ascii::iequals(s, to_string(m))) {
            return m;
        }
    }
    return std::nullopt;
}

std::optional<OnFailure> parse_on_failure(std::string_view s) {
    for (const OnFailure f : {OnFailure::defer, OnFailure::reject}) {
        if (ascii::iequals(s, to_string(f))) {
            return f;
        }
    }
    return std::nullopt;
}

}  // namespace dsm::config
