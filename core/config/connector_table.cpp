#include "core/config/connector_table.hpp"

#include <cstddef>
#include <utility>

namespace dsm::config {
namespace {

Connector make_implicit_default() {
    Connector c;
    c.name = "default";
    c.recipient_domains.push_back(DomainPattern{DomainPattern::Kind::any, {}});
    c.dane = DaneMode::opportunistic;
    c.mta_sts = StsMode::opportunistic;
    return c;
}

}  // namespace

ConnectorTable::ConnectorTable() : ConnectorTable(std::vector<Connector>{}) {}

ConnectorTable::ConnectorTable(std::vector<Connector> connectors)
    : connectors_(std::move(connectors)), implicit_default_(make_implicit_default()) {
    if (connectors_.empty()) {
        connectors_.push_back(implicit_default_);
    }
}

namespace {

bool any_matches(const std::vector<DomainPattern>& patterns, std::string_view domain) {
    for (const DomainPattern& p : patterns) {
        if (p.matches(domain)) {
            return true;
        }
    }
    return false;
}

// SPEC §2: the most specific matching recipient pattern wins; a strict `>`
// keeps the first in file order on ties.
const Connector* best_match(const std::vector<Connector>& connectors,
                            std::string_view recipient_domain, bool sender_known,
                            std::string_view sender_domain) {
    const Connector* best = nullptr;
    std::size_t best_specificity = 0;
    for (const Connector& c : connectors) {
        if (!c.sender_domains.empty()) {
            // The null sender <> has no domain and the policy map has no
            // sender: neither satisfies a sender condition.
            if (!sender_known || sender_domain.empty() ||
                !any_matches(c.sender_domains, sender_domain)) {
                continue;
            }
        }
        for (const DomainPattern& p : c.recipient_domains) {
            if (!p.matches(recipient_domain)) {
                continue;
            }
            const std::size_t s = p.specificity();
            if (best == nullptr || s > best_specificity) {
                best = &c;
                best_specificity = s;
            }
        }
    }
    return best;
}

}  // namespace

const Connector& ConnectorTable::select(std::string_view recipient_domain,
                                        std::string_view sender_domain) const {
    const Connector* c = best_match(connectors_, recipient_domain, true, sender_domain);
    return c != nullptr ? *c : implicit_default_;
}

const Connector& ConnectorTable::select(std::string_view recipient_domain) const {
    const Connector* c = best_match(connectors_, recipient_domain, false, {});
    return c != nullptr ? *c : implicit_default_;
}

bool ConnectorTable::validates_sts_for(std::string_view recipient_domain) const {
    if (select(recipient_domain).mta_sts != StsMode::none) {
        return true;
    }
    for (const Connector& c : connectors_) {
        if (!c.sender_domains.empty() && c.mta_sts != StsMode::none &&
            any_matches(c.recipient_domains, recipient_domain)) {
            return true;
        }
    }
    return false;
}

}  // namespace dsm::config
