// The SPEC §7 table on top of decision::decide(), so that delivery enforces
// what the RCPT path promised. How Postfix reads the answers
// (smtp_tls_policy.c, dict_sockmap.c):
//   - OK <policy>: the destination's TLS security level and attributes;
//   - NOTFOUND: smtp_tls_security_level (main.cf) applies;
//   - TEMP and PERM alike: a lookup error; the delivery is deferred with
//     "4.7.5 client TLS configuration problem" and the reason is logged as
//     "socketmap server temporary|permanent error: <text>" (first 200 chars).
//
// Decisions beyond the table:
//   - Null MX (row 2): NOTFOUND. RCPT already rejected with 556 5.1.10; for
//     mail that reached the queue anyway, Postfix's smtp client finds the
//     null MX itself and bounces at once, where TEMP or PERM would only
//     defer it until maximal_queue_lifetime.
//   - A reject of row 9 (on_failure = reject, 550 5.7.4): PERM with the reply.
//     NOTFOUND would let the mail go out without the DANE the connector
//     demands; Postfix defers on PERM as on TEMP, and its log then says the
//     cause is permanent.
//   - Test mode (SPEC §2): the table runs unchanged and only the final action
//     changes, as at RCPT (STYLE §4). Rows that accept keep their answer
//     (OK dane-only / encrypt / secure: what the header promised); a would-be
//     defer or reject answers NOTFOUND, because RCPT accepted the mail and
//     only reported what it would have done.
//
// Sendmail 8.17 with FEATURE(`sts') (map name "sts", key: the recipient's
// domain, lower case, no trailing dot) asks per delivery: once before it
// connects (deliver(): SNI from "servername=hostname"), once in tls_server
// after STARTTLS and once per recipient in tls_rcpt (cf/m4/proto.m4 rulesets
// STS_secure and STS_Check). How it reads the answers (tried with the test
// bed, tests/e2e/sendmail_sts_test.sh):
//   - OK with a "secure" word: the MX must present a certificate that
//     verifies against CACertFile (${verify} OK), its name must be in the
//     ":"-separated match= list (exact, or ".parent" for "*.parent") and in
//     the certificate's subjectAltNames; else "450 <mx> not found in <list>"
//     or "450 <mx> not listed in SANs": deferred.
//   - OK without "secure" (dane-only, encrypt, may): nothing is checked.
//   - TEMP: the -T<TMPF> string, "450 STS lookup temp fail": deferred.
//   - PERM: read like NOTFOUND; the mail goes out unchecked.
//   - NOTFOUND: no policy.
// So for "sts" the answers are those of postfix-mta-sts-resolver: secure
// for require=sts, TEMP for every refusal (a reject too: PERM would let the
// mail out), and NOTFOUND for the rest. Postfix's dane-only, encrypt and may
// mean nothing to Sendmail; its own DANE (confDANE) is separate.
//
// Postfix 3.10's TLSRPT support (map name "postfix-tlsrpt", SPEC §7). Read
// from Postfix's own sources (vdukhovni/postfix: proto/TLSRPT_README.html
// "MTA-STS Support via smtp_tls_policy_maps", src/smtp/smtp_tls_policy.c
// tls_policy_lookup_one(), src/tls/tlsrpt_wrapper.c,
// src/smtp/smtp_tlsrpt.c):
//   - An STS plugin's answer may add policy_type, policy_domain, policy_ttl
//     (seconds Postfix's SMTP client caches the answer), mx_host_pattern
//     (one per policy "mx:" line, as written, "*." included) and
//     policy_string (one per policy line, in "{ policy_string = ... }"
//     because the value has spaces). An unknown attribute or value makes the
//     whole policy invalid: the delivery is deferred ("4.7.5 client TLS
//     configuration problem").
//   - policy_type accepts only "sts" and "no-policy-found", and these
//     attributes are "an error" for a non-STS policy. So only the require=sts
//     answer carries them. dane-only stays as it is: Postfix reports DANE
//     itself, with the TLSA records it looked up (policy type tlsa). may,
//     encrypt, NOTFOUND, TEMP and PERM stay as they are too.
//   - With policy_type=sts, smtp_tlsrpt.c reads the policy_string and
//     mx_host_pattern lists without checking that they exist: the answer
//     always has both (a secure answer has at least one usable pattern).
//   - policy_failure (sts-policy-fetch-error, sts-policy-invalid,
//     sts-webpki-invalid, validation-failure) would make Postfix connect and
//     then fail the policy, but smtp_tlsrpt.c leaves forcing that failure as
//     a TODO. A refusal therefore stays TEMP (never weaker than RCPT's
//     promise), and is reported by the milter's own TLSRPT sender (SPEC §12).
//   - Postfix gives up on replies over 100000 octets (dict_sockmap.c). An
//     answer whose attributes would pass kMaxTlsrptAnswer goes out without
//     them: the same enforcement, only unreported.
#include "core/policymap/policy_answer.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/sts/mx_pattern.hpp"
#include "core/util/ascii.hpp"

namespace dsm::policymap {

namespace {

using decision::Action;
using decision::Decision;
using decision::Require;

// SPEC §4 rows (Decision::row) that the map answers apart from the action.
constexpr int kRowValidatesNothing = 1;
constexpr int kRowNullMx = 2;

// Postfix logs at most 200 characters of a TEMP/PERM reason; ours stay one
// short line (the reply texts are built for SMTP, under 512 octets).
constexpr std::size_t kMaxReasonLength = 400;

constexpr std::string_view kNotFound = "NOTFOUND ";

// Well below dict_sockmap.c's 100000-octet limit on a reply.
constexpr std::size_t kMaxTlsrptAnswer = 65536;

// One printable US-ASCII line: the reason ends up in Postfix's log via
// printable() and must not break the reply.
std::string one_line(std::string_view text) {
    std::string out;
    out.reserve(std::min(text.size(), kMaxReasonLength));
    for (const char c : text) {
        if (out.size() == kMaxReasonLength) {
            out.replace(kMaxReasonLength - 3, 3, "...");
            break;
        }
        out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    }
    return out;
}

// "TEMP 4.7.5 partner.example: connector ... (dnssec-invalid)".
std::string refusal(std::string_view status, const Decision& d) {
    std::string reason = d.enhanced_code;
    reason += ' ';
    reason += d.reply_text;
    std::string out(status);
    out += ' ';
    out += one_line(reason);
    return out;
}

// The policy's mx patterns that may go into an answer: lower case, valid
// (RFC 8461 §3.2, so that nothing from the network can add an attribute to
// the policy), repeats dropped, in policy order, "*." kept.
std::vector<std::string> usable_patterns(const std::vector<std::string>& patterns) {
    std::vector<std::string> out;
    for (const auto& p : patterns) {
        std::string lp(p.size(), '\0');
        std::transform(p.begin(), p.end(), lp.begin(), util::ascii::lower);
        if (sts::valid_mx_pattern(lp) && std::find(out.begin(), out.end(), lp) == out.end()) {
            out.push_back(std::move(lp));
        }
    }
    return out;
}

// As postfix-mta-sts-resolver answers an enforce policy: "OK secure
// match=<patterns> servername=hostname", each pattern with its leading "*"
// dropped (Postfix's secure level reads ".example.com" as "any sub-domain"),
// joined by ":" (smtp_tls_policy.c splits `match` on ":"). servername=hostname
// sends SNI with the MX name, as RFC 8461 §4.1 relies on. Empty when no
// pattern is usable.
std::string secure_answer(const std::vector<std::string>& patterns) {
    const auto usable = usable_patterns(patterns);
    if (usable.empty()) {
        return {};
    }
    std::string out = "OK secure match=";
    for (std::size_t i = 0; i < usable.size(); ++i) {
        if (i > 0) {
            out += ':';
        }
        // "*.example.com" -> ".example.com"; no two valid patterns meet here.
        out += usable[i].starts_with("*.") ? usable[i].substr(1) : usable[i];
    }
    out += " servername=hostname";
    return out;
}

// The attributes Postfix 3.10's TLSRPT support reads (TLSRPT_README.html),
// for the enforce policy of `verdict`: the answer's policy strings are the
// policy's lines as RFC 8460 §4.3 policy-string shows them ("version:
// STSv1", "mode: enforce", "mx: ...", "max_age: N"), from the verdict, and
// max_age from `tlsrpt.policy` when that is the same policy. Empty when no
// pattern is usable (the caller then has no secure answer either).
std::string tlsrpt_attributes(const verdict::DomainVerdict& verdict,
                              const std::vector<std::string>& patterns,
                              const TlsrptExtras& tlsrpt) {
    const auto usable = usable_patterns(patterns);
    if (usable.empty()) {
        return {};
    }
    std::string out = " policy_type=sts policy_domain=" + verdict.domain;
    if (tlsrpt.ttl && tlsrpt.ttl->count() > 0) {
        out += " policy_ttl=" + std::to_string(tlsrpt.ttl->count());
    }
    for (const auto& p : usable) {
        out += " mx_host_pattern=" + p;
    }
    const std::string_view mode = verdict::to_string(verdict.sts);
    out += " { policy_string = version: STSv1 }";
    out += " { policy_string = mode: ";
    out += mode;
    out += " }";
    for (const auto& p : usable) {
        out += " { policy_string = mx: " + p + " }";
    }
    const auto& policy = tlsrpt.policy;
    if (policy && sts::to_string(policy->mode) == mode && usable_patterns(policy->mx) == usable) {
        out += " { policy_string = max_age: " + std::to_string(policy->max_age) + " }";
    }
    return out;
}

std::string answer_for(const config::Connector& connector, const verdict::DomainVerdict& verdict,
                       const Decision& d, const std::vector<std::string>& sts_mx_patterns) {
    if (d.row == kRowValidatesNothing) {
        return "OK may";
    }
    if (d.row == kRowNullMx) {
        return std::string(kNotFound);
    }
    switch (d.would) {
        case Action::defer:
            return refusal("TEMP", d);
        case Action::reject:
            return refusal("PERM", d);
        case Action::accept:
            break;
    }
    switch (d.require) {
        case Require::dane:
            return "OK dane-only";
        case Require::encrypt:
            return "OK encrypt";
        case Require::sts: {
            auto secure = secure_answer(sts_mx_patterns);
            if (secure.empty()) {
                // Never weaker than the promise: without patterns Postfix
                // could not check the MX name, so defer rather than downgrade.
                return "TEMP 4.7.5 " +
                       one_line(verdict.domain + ": connector \"" + connector.name +
                                "\" enforces MTA-STS, but the policy in force lists no usable mx "
                                "pattern (internal error)");
            }
            return secure;
        }
        case Require::none:
            break;
    }
    return std::string(kNotFound);
}

}  // namespace

MapClient map_client(std::string_view map_name) {
    if (map_name == "sts") {
        return MapClient::sendmail_sts;
    }
    return map_name == kTlsrptMapName ? MapClient::postfix_tlsrpt : MapClient::postfix;
}

std::string policy_answer(const config::Connector& connector, const verdict::DomainVerdict& verdict,
                          const std::vector<std::string>& sts_mx_patterns, MapClient client,
                          const TlsrptExtras& tlsrpt) {
    const Decision d = decision::decide(connector, verdict);
    std::string answer = answer_for(connector, verdict, d, sts_mx_patterns);
    // Test mode: RCPT accepted and only reported; the map must not enforce it.
    if (connector.test_mode && (answer.starts_with("TEMP ") || answer.starts_with("PERM "))) {
        return std::string(kNotFound);
    }
    if (client == MapClient::sendmail_sts) {
        if (answer.starts_with("PERM ")) {
            answer.replace(0, 4, "TEMP");
        } else if (answer.starts_with("OK ") && !answer.starts_with("OK secure ")) {
            answer = std::string(kNotFound);
        }
    }
    if (client == MapClient::postfix_tlsrpt && answer.starts_with("OK secure ")) {
        const auto attributes = tlsrpt_attributes(verdict, sts_mx_patterns, tlsrpt);
        if (answer.size() + attributes.size() <= kMaxTlsrptAnswer) {
            answer += attributes;
        }
    }
    return answer;
}

}  // namespace dsm::policymap
