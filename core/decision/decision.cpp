#include "core/decision/decision.hpp"

#include <fmt/format.h>

namespace dsm::decision {

using config::DaneMode;
using config::StsMode;
using verdict::DaneField;
using verdict::DnssecField;
using verdict::StsField;

std::string_view to_string(Action a) {
    switch (a) {
        case Action::accept:
            return "accept";
        case Action::defer:
            return "defer";
        case Action::reject:
            return "reject";
    }
    return "?";
}

std::string_view to_string(Require r) {
    switch (r) {
        case Require::dane:
            return "dane";
        case Require::sts:
            return "sts";
        case Require::encrypt:
            return "encrypt";
        case Require::none:
            return "none";
    }
    return "?";
}

std::string_view to_string(ResultType r) {
    switch (r) {
        case ResultType::none:
            return "";
        case ResultType::dnssec_invalid:
            return "dnssec-invalid";
        case ResultType::tlsa_invalid:
            return "tlsa-invalid";
        case ResultType::dane_required:
            return "dane-required";
        case ResultType::validation_failure:
            return "validation-failure";
        case ResultType::sts_policy_invalid:
            return "sts-policy-invalid";
        case ResultType::certificate_host_mismatch:
            return "certificate-host-mismatch";
        case ResultType::certificate_not_trusted:
            return "certificate-not-trusted";
        case ResultType::starttls_not_supported:
            return "starttls-not-supported";
    }
    return "?";
}

namespace {

// Reasons come from DNS (why_bogus) and may be long; an SMTP reply line must
// stay under 512 octets (RFC 5321 §4.5.3.1.5).
constexpr std::size_t kMaxReasonLength = 200;

std::string short_reason(const std::string& why, std::string_view fallback) {
    std::string r = why.empty() ? std::string(fallback) : why;
    if (r.size() > kMaxReasonLength) {
        r.resize(kMaxReasonLength);
        r += "...";
    }
    return r;
}

class Builder {
  public:
    Builder(const config::Connector& c, const verdict::DomainVerdict& v) : c_(c), v_(v) {
        d_.test_mode = c.test_mode;
        d_.dnssec = v.dnssec;
        d_.dane = c.dane == DaneMode::none ? DaneField::skipped : v.dane;
        d_.sts = c.mta_sts == StsMode::none ? StsField::skipped : v.sts;
    }

    Decision accept(int row, Require require) {
        d_.row = row;
        d_.require = require;
        return finish(Action::accept);
    }

    Decision refuse(int row, Action action, ResultType result, std::string_view code,
                    std::string_view enhanced, std::string text) {
        d_.row = row;
        d_.result = result;
        d_.reply_code = code;
        d_.enhanced_code = enhanced;
        d_.reply_text = std::move(text);
        if (result != ResultType::none) {
            d_.reply_text += fmt::format(" ({})", to_string(result));
        }
        return finish(action);
    }

    [[nodiscard]] std::string who() const {
        return fmt::format("{}: connector \"{}\"", v_.domain, c_.name);
    }

    Decision only_skipped(int row) {
        d_.dnssec = DnssecField::skipped;
        d_.dane = DaneField::skipped;
        d_.sts = StsField::skipped;
        return accept(row, Require::none);
    }

  private:
    // Test mode runs the same table and only changes the final action
    // (STYLE §4): the decision and its reply are kept for the log/header.
    Decision finish(Action would) {
        d_.would = would;
        d_.action = c_.test_mode ? Action::accept : would;
        return d_;
    }

    const config::Connector& c_;
    const verdict::DomainVerdict& v_;
    Decision d_;
};

std::string dane_required_cause(const verdict::DomainVerdict& v) {
    if (v.destination == verdict::Destination::address_literal) {
        return "an address literal has no DNS name";
    }
    if (v.nxdomain) {
        return fmt::format("{} does not exist in DNS", v.domain);
    }
    if (v.mx_insecure) {
        return fmt::format("the MX records of {} are not DNSSEC-signed", v.domain);
    }
    return fmt::format("no MX host of {} publishes TLSA records", v.domain);
}

}  // namespace

Decision decide(const config::Connector& c, const verdict::DomainVerdict& v) {
    Builder b(c, v);

    // Row 1: nothing to validate, nothing looked up.
    if (c.validates_nothing()) {
        return b.only_skipped(1);
    }
    // Row 2: RFC 7505 §3: a null MX means the domain accepts no mail.
    if (v.null_mx) {
        return b.refuse(2, Action::reject, ResultType::none, "556", "5.1.10",
                        fmt::format("{}: {} publishes a null MX and accepts no mail (RFC 7505)",
                                    v.domain, v.domain));
    }

    if (c.dane != DaneMode::none) {
        // Row 3: RFC 7672 §2.1.1: a bogus or failed lookup is never "no DANE";
        // the mail waits until DNS can be validated.
        if (v.dnssec == DnssecField::bogus || v.dnssec == DnssecField::error ||
            v.dane == DaneField::error) {
            return b.refuse(3, Action::defer, ResultType::dnssec_invalid, "450", "4.7.5",
                            fmt::format("{} validates DANE, but the DNSSEC lookup failed: {}",
                                        b.who(), short_reason(v.dane_why, "bogus or failed")));
        }
        // Row 4: RFC 7672 §2.2: a DANE MX exists; delivery must use it.
        if (v.dane == DaneField::pass) {
            return b.accept(4, Require::dane);
        }
        // Row 5: the probe found no DANE MX whose certificate matches.
        if (v.dane == DaneField::fail) {
            return b.refuse(
                5, Action::defer, ResultType::tlsa_invalid, "450", "4.7.5",
                fmt::format("{}: no MX host of {} presented a certificate matching its TLSA "
                            "records",
                            b.who(), v.domain));
        }
        if (v.dane == DaneField::unusable) {
            // Row 6: RFC 7672 §2.2, §3.1: unusable TLSA records still demand TLS.
            if (c.dane == DaneMode::opportunistic) {
                return b.accept(6, Require::encrypt);
            }
            // Row 7.
            return b.refuse(7, Action::defer, ResultType::tlsa_invalid, "450", "4.7.5",
                            fmt::format("{} requires DANE, but every TLSA record published for "
                                        "the MX hosts of {} is unusable",
                                        b.who(), v.domain));
        }
        if (c.dane == DaneMode::mandatory) {
            // Row 8: not known yet; never let it through unauthenticated.
            if (v.dane == DaneField::pending || v.dnssec == DnssecField::pending) {
                return b.refuse(8, Action::defer, ResultType::validation_failure, "450", "4.7.5",
                                fmt::format("{} requires DANE, but the DNSSEC lookup for {} has "
                                            "not completed yet; try again later",
                                            b.who(), v.domain));
            }
            // Row 9: DANE is required and the destination has none: a
            // permanent cause, so on_failure may turn it into a reject.
            const bool reject = c.on_failure == config::OnFailure::reject;
            return b.refuse(
                9, reject ? Action::reject : Action::defer, ResultType::dane_required,
                reject ? "550" : "450", reject ? "5.7.4" : "4.7.4",
                fmt::format("{} requires DANE, but {}", b.who(), dane_required_cause(v)));
        }
    }

    // RFC 8461 §2: MTA-STS only where DANE did not decide.
    if (c.mta_sts != StsMode::none) {
        // Row 10.
        if (v.sts == StsField::enforce) {
            return b.accept(10, Require::sts);
        }
        // Row 11.
        if (v.sts == StsField::fail) {
            return b.refuse(
                11, Action::defer, ResultType::validation_failure, "450", "4.7.5",
                fmt::format("{}: MTA-STS requires TLS to an MX host named in the policy, but {}",
                            b.who(), short_reason(v.sts_why, "no MX host is eligible")));
        }
    }
    // Row 12: no support, testing, STS error or pending: the mail goes out.
    return b.accept(12, Require::none);
}

}  // namespace dsm::decision
