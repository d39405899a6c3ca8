#include "core/report/decision_keys.hpp"

namespace dsm::report {

namespace {

Outcome outcome_of(const decision::Decision& d) {
    switch (d.would) {
        case decision::Action::accept:
            return Outcome::accepted;
        case decision::Action::defer:
            return d.test_mode ? Outcome::would_defer : Outcome::deferred;
        case decision::Action::reject:
            return d.test_mode ? Outcome::would_reject : Outcome::rejected;
    }
    return Outcome::accepted;
}

// The RFC 8460 word; a null MX (row 2) has none, but an administrator must
// still tell it from a DANE failure.
std::string cause_of(const decision::Decision& d) {
    if (d.would == decision::Action::accept) {
        return {};
    }
    if (d.result == decision::ResultType::none) {
        return d.row == 2 ? "null-mx" : "other";
    }
    return std::string(decision::to_string(d.result));
}

CountKey key_for(const config::Connector& c, const verdict::DomainVerdict& v,
                 const decision::Decision& d, const std::string& day, View view) {
    return CountKey{day, c.name, v.domain, view, outcome_of(d), cause_of(d)};
}

}  // namespace

config::Connector as_mandatory(const config::Connector& c) {
    config::Connector m = c;
    m.dane = config::DaneMode::mandatory;
    m.mta_sts = config::StsMode::opportunistic;
    m.test_mode = false;
    return m;
}

std::vector<CountKey> decision_keys(const config::Connector& c,
                                    const verdict::DomainVerdict& verdict,
                                    const decision::Decision& decision, const std::string& day) {
    std::vector<CountKey> keys;
    keys.push_back(key_for(c, verdict, decision, day, View::configured));
    if (c.dane != config::DaneMode::mandatory && !c.validates_nothing()) {
        const config::Connector m = as_mandatory(c);
        keys.push_back(key_for(m, verdict, decision::decide(m, verdict), day, View::mandatory));
    }
    return keys;
}

}  // namespace dsm::report
