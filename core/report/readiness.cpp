#include "core/report/readiness.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

namespace dsm::report {

namespace {

bool refused(Outcome o) {
    return o != Outcome::accepted;
}

std::string action_of(Outcome o) {
    return o == Outcome::rejected || o == Outcome::would_reject ? "reject" : "defer";
}

double percent(std::uint64_t part, std::uint64_t whole) {
    if (whole == 0) {
        return 0;
    }
    return std::round(static_cast<double>(part) * 1000.0 / static_cast<double>(whole)) / 10.0;
}

// Sums the rows of one view of one connector (over days) into a scenario.
Scenario scenario_of(const std::vector<const CountRow*>& rows, View view, std::string dane_mode,
                     bool test_mode, std::uint64_t connector_recipients) {
    Scenario s;
    s.dane_mode = std::move(dane_mode);
    s.test_mode = test_mode;
    std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> by_domain;
    std::set<std::string> domains;
    for (const CountRow* r : rows) {
        if (r->key.view != view || !refused(r->key.outcome)) {
            continue;
        }
        const std::string action = action_of(r->key.outcome);
        by_domain[{r->key.domain, action, r->key.cause}] += r->count;
        domains.insert(r->key.domain);
        (action == "reject" ? s.rejected : s.deferred) += r->count;
    }
    s.recipients = s.deferred + s.rejected;
    s.domains = domains.size();
    s.share_percent = percent(s.recipients, connector_recipients);
    for (const auto& [k, n] : by_domain) {
        s.refused.push_back(RefusedDomain{std::get<0>(k), std::get<1>(k), std::get<2>(k), n});
    }
    // Most recipients first; ties by name, so the report is stable.
    std::stable_sort(
        s.refused.begin(), s.refused.end(),
        [](const RefusedDomain& a, const RefusedDomain& b) { return a.recipients > b.recipients; });
    return s;
}

}  // namespace

ReadinessReport compute_readiness(const std::vector<CountRow>& rows,
                                  const std::vector<config::Connector>& connectors,
                                  const std::string& only, std::string first_day,
                                  std::string last_day, unsigned days, std::string store) {
    ReadinessReport report;
    report.first_day = std::move(first_day);
    report.last_day = std::move(last_day);
    report.days = days;
    report.store = std::move(store);
    for (const auto& c : connectors) {
        if (!only.empty() && c.name != only) {
            continue;
        }
        std::vector<const CountRow*> mine;
        for (const auto& r : rows) {
            if (r.key.connector == c.name) {
                mine.push_back(&r);
            }
        }
        ConnectorReadiness cr;
        cr.name = c.name;
        cr.dane_mode = std::string(config::to_string(c.dane));
        cr.sts_mode = std::string(config::to_string(c.mta_sts));
        cr.test_mode = c.test_mode;
        std::set<std::string> domains;
        for (const CountRow* r : mine) {
            if (r->key.view == View::configured) {
                cr.recipients += r->count;
                domains.insert(r->key.domain);
            }
        }
        cr.domains = domains.size();
        cr.configured =
            scenario_of(mine, View::configured, cr.dane_mode, c.test_mode, cr.recipients);
        if (c.dane != config::DaneMode::mandatory && !c.validates_nothing()) {
            cr.mandatory = scenario_of(mine, View::mandatory, "mandatory", false, cr.recipients);
        }
        report.connectors.push_back(std::move(cr));
    }
    return report;
}

}  // namespace dsm::report
