// A connector: which recipient (and optionally sender) domains it covers and
// how strictly it enforces DANE and MTA-STS (SPEC §2).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/config/modes.hpp"

namespace dsm::config {

// `example.com` (exact), `*.example.com` (sub-domains only, any depth),
// or `*` (everything). Stored lower-case, A-label, no trailing dot.
struct DomainPattern {
    enum class Kind { exact, suffix, any };
    Kind kind = Kind::any;
    std::string domain;  // exact: the domain; suffix: "example.com" for "*.example.com"

    [[nodiscard]] bool matches(std::string_view domain) const;
    // Higher is more specific: exact > longer suffix > shorter suffix > any.
    [[nodiscard]] std::size_t specificity() const;
    [[nodiscard]] std::string to_string() const;
};

struct Connector {
    std::string name;  // from [connector.NAME]
    std::vector<DomainPattern> recipient_domains;
    std::vector<DomainPattern> sender_domains;  // empty: any sender
    DaneMode dane = DaneMode::opportunistic;
    StsMode mta_sts = StsMode::opportunistic;
    OnFailure on_failure = OnFailure::defer;
    bool test_mode = false;
    std::vector<std::string> tags;

    // Row 1 of the SPEC §4 table: nothing to look up at all.
    [[nodiscard]] bool validates_nothing() const {
        return dane == DaneMode::none && mta_sts == StsMode::none;
    }
};

}  // namespace dsm::config
