// The two inputs of a SPEC §4 decision row, as the decision table's tests
// (decision_test, policy_answer_test, report_counts_test) write them: a
// connector named "partners" and a verdict of partner.test.
#pragma once

#include "core/config/connector.hpp"
#include "core/config/modes.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::test {

inline config::Connector connector(config::DaneMode dane, config::StsMode sts,
                                   config::OnFailure f = config::OnFailure::defer,
                                   bool test_mode = false) {
    config::Connector c;
    c.name = "partners";
    c.dane = dane;
    c.mta_sts = sts;
    c.on_failure = f;
    c.test_mode = test_mode;
    return c;
}

inline verdict::DomainVerdict make_verdict(verdict::DnssecField dnssec, verdict::DaneField dane,
                                           verdict::StsField sts = verdict::StsField::none) {
    verdict::DomainVerdict v;
    v.domain = "partner.test";
    v.dnssec = dnssec;
    v.dane = dane;
    v.sts = sts;
    return v;
}

}  // namespace dsm::test
