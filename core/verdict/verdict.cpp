#include "core/verdict/verdict.hpp"

#include <utility>

namespace dsm::verdict {

std::string_view to_string(DnssecField f) {
    switch (f) {
        case DnssecField::secure:
            return "secure";
        case DnssecField::insecure:
            return "insecure";
        case DnssecField::bogus:
            return "bogus";
        case DnssecField::error:
            return "error";
        case DnssecField::skipped:
            return "skipped";
        case DnssecField::pending:
            return "pending";
    }
    return "?";
}

std::string_view to_string(DaneField f) {
    switch (f) {
        case DaneField::pass:
            return "pass";
        case DaneField::unusable:
            return "unusable";
        case DaneField::fail:
            return "fail";
        case DaneField::none:
            return "none";
        case DaneField::error:
            return "error";
        case DaneField::skipped:
            return "skipped";
        case DaneField::pending:
            return "pending";
    }
    return "?";
}

std::string_view to_string(StsField f) {
    switch (f) {
        case StsField::enforce:
            return "enforce";
        case StsField::testing:
            return "testing";
        case StsField::none:
            return "none";
        case StsField::fail:
            return "fail";
        case StsField::error:
            return "error";
        case StsField::skipped:
            return "skipped";
        case StsField::pending:
            return "pending";
    }
    return "?";
}

DomainVerdict pending_verdict(std::string domain) {
    DomainVerdict v;
    v.domain = std::move(domain);
    v.dnssec = DnssecField::pending;
    v.dane = DaneField::pending;
    v.sts = StsField::pending;
    v.dane_why = "the DNS lookup has not completed yet";
    v.at = std::chrono::system_clock::now();
    return v;
}

DomainVerdict address_literal_verdict(std::string literal) {
    DomainVerdict v;
    v.domain = std::move(literal);
    v.destination = Destination::address_literal;
    v.dnssec = DnssecField::skipped;
    v.dane = DaneField::none;
    v.sts = StsField::none;
    v.dane_why = "an address literal has no DNS name";
    v.at = std::chrono::system_clock::now();
    return v;
}

}  // namespace dsm::verdict
