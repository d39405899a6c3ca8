#include "core/verdict/dane_verdict.hpp"

namespace dsm::verdict {

namespace {

DnssecField dnssec_field(const dane::DaneFacts& f) {
    using dns::DnssecState;
    switch (f.mx_dnssec) {
        case DnssecState::secure:
            return DnssecField::secure;
        case DnssecState::insecure:
            return DnssecField::insecure;
        case DnssecState::bogus:
            return DnssecField::bogus;
        case DnssecState::indeterminate:
            return DnssecField::error;
    }
    return DnssecField::error;
}

DaneField dane_field(dane::DomainDane d) {
    switch (d) {
        case dane::DomainDane::pass:
            return DaneField::pass;
        case dane::DomainDane::unusable:
            return DaneField::unusable;
        case dane::DomainDane::none:
            return DaneField::none;
        case dane::DomainDane::error:
            return DaneField::error;
    }
    return DaneField::error;
}

}  // namespace

DomainVerdict verdict_from_dane(const dane::DaneFacts& facts,
                                std::chrono::system_clock::time_point now) {
    DomainVerdict v;
    v.domain = facts.domain;
    v.dnssec = dnssec_field(facts);
    v.dane = dane_field(facts.dane);
    v.sts = StsField::skipped;
    v.null_mx = facts.null_mx;
    v.nxdomain = facts.nxdomain;
    v.mx_insecure = facts.mx_dnssec == dns::DnssecState::insecure;
    v.dane_why = facts.why;
    v.at = now;
    v.ttl = facts.ttl;
    return v;
}

}  // namespace dsm::verdict
