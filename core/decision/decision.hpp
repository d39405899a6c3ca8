// decide(connector, verdict) -> Decision: the SPEC §4 table as a pure
// function. No I/O, no clock, no libmilter: milter/ turns the Decision into a
// reply, policymap/ into a socketmap answer.
#pragma once

#include <string>
#include <string_view>

#include "core/config/connector.hpp"
#include "core/verdict/verdict.hpp"

namespace dsm::decision {

enum class Action { accept, defer, reject };

// What delivery must enforce for this destination (SPEC §4 `require`).
enum class Require { dane, sts, encrypt, none };

// RFC 8460 §4.3 result types, reported on a defer or reject.
enum class ResultType {
    none,
    dnssec_invalid,
    tlsa_invalid,
    dane_required,
    validation_failure,
    sts_policy_invalid,
    certificate_host_mismatch,
    certificate_not_trusted,
    starttls_not_supported,
};

std::string_view to_string(Action a);
std::string_view to_string(Require r);
std::string_view to_string(ResultType r);  // the RFC 8460 word, "" for none

struct Decision {
    int row = 0;                     // the SPEC §4 row that decided (1..12)
    Action action = Action::accept;  // what the MTA is told
    Action would = Action::accept;   // what the table decided (differs in test mode)
    bool test_mode = false;
    Require require = Require::none;
    ResultType result = ResultType::none;
    // Fields as reported in the header and log: `skipped` where the connector
    // does not validate that mechanism.
    verdict::DnssecField dnssec = verdict::DnssecField::skipped;
    verdict::DaneField dane = verdict::DaneField::skipped;
    verdict::StsField sts = verdict::StsField::skipped;
    // The reply the table decided (also computed in test mode, for the log):
    // "450", "4.7.4", and a text that names domain, connector and cause.
    std::string reply_code;
    std::string enhanced_code;
    std::string reply_text;
};

Decision decide(const config::Connector& connector, const verdict::DomainVerdict& verdict);

}  // namespace dsm::decision
