#include "milter/check_command.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <chrono>

#include "core/address/recipient.hpp"
#include "core/cache/clock.hpp"
#include "core/verdict/verdict_builder.hpp"
#include "core/decision/decision.hpp"
#include "core/decision/verdict_header.hpp"
#include "core/dns/unbound_resolver.hpp"
#include "core/verdict/dane_verdict.hpp"

namespace dsm::milter {

namespace {

std::string json_escape(std::string_view s) {
    std::string out;
    for (char ch : s) {
        switch (ch) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                if (static_cast<unsigned char>(ch) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<unsigned char>(ch));
                } else {
                    out += ch;
                }
        }
    }
    return out;
}

std::string state(dns::DnsOutcome o, dns::DnssecState s) {
    return fmt::format("{} ({})", dns::to_string(o), dns::to_string(s));
}

void print_facts(const dane::DaneFacts& f, std::ostream& out) {
    fmt::print(out, "  MX {}: {}\n", f.domain, state(f.mx_outcome, f.mx_dnssec));
    if (!f.mx_why_bogus.empty()) {
        fmt::print(out, "    why bogus: {}\n", f.mx_why_bogus);
    }
    if (!f.mx_error.empty()) {
        fmt::print(out, "    error: {}\n", f.mx_error);
    }
    if (f.null_mx) {
        fmt::print(out, "    null MX (RFC 7505): the domain accepts no mail\n");
    }
    if (f.implicit_mx) {
        fmt::print(out, "    no MX records: implicit MX {} (RFC 5321 §5.1)\n", f.domain);
    }
    for (const auto& h : f.hosts) {
        fmt::print(out, "  MX host {} (preference {})\n", h.name, h.preference);
        if (!h.canonical_name.empty() && h.canonical_name != h.name) {
            fmt::print(out, "    CNAME -> {}\n", h.canonical_name);
        }
        fmt::print(out, "    addresses: {}{}\n", dns::to_string(h.address_dnssec),
                   h.address_lookup_failed ? " (lookup failed)" : "");
        for (const auto& a : h.addresses) {
            fmt::print(out, "      {}\n", a);
        }
        for (const auto& t : h.tlsa) {
            fmt::print(out, "    TLSA {}: {}\n", t.qname, state(t.outcome, t.dnssec));
            if (!t.why_bogus.empty()) {
                fmt::print(out, "      why bogus: {}\n", t.why_bogus);
            }
            if (!t.error.empty()) {
                fmt::print(out, "      error: {}\n", t.error);
            }
            for (const auto& r : t.records) {
                fmt::print(out, "      {} ({})\n", r.to_string(),
                           r.usable() ? "usable" : "unusable");
            }
        }
        fmt::print(out, "    DANE: {}{}{}\n", dane::to_string(h.dane), h.why.empty() ? "" : ": ",
                   h.why);
    }
    if (f.mx_hosts_skipped > 0) {
        fmt::print(out, "  ({} more MX hosts not examined)\n", f.mx_hosts_skipped);
    }
    fmt::print(out, "  DANE: {}{}{}\n", dane::to_string(f.dane), f.why.empty() ? "" : ": ", f.why);
}

void print_sts(const sts::StsFacts& f, std::ostream& out) {
    fmt::print(out, "  TXT {}: {}\n", f.txt_name, state(f.txt_outcome, f.txt_dnssec));
    for (const auto& r : f.txt_records) {
        fmt::print(out, "    \"{}\"\n", r);
    }
    if (!f.discovery.why.empty()) {
        fmt::print(out, "    {}\n", f.discovery.why);
    }
    if (f.fetch) {
        const auto& r = *f.fetch;
        fmt::print(out, "  fetch {}: {}", r.url, sts::to_string(r.outcome));
        if (!r.address.empty()) {
            fmt::print(out, ", address {}", r.address);
        }
        if (r.status != 0) {
            fmt::print(out, ", status {}", r.status);
        }
        if (!r.content_type.empty()) {
            fmt::print(out, ", content type {}", r.content_type);
        }
        fmt::print(out, ", {} octets, {} ms\n", r.size, r.took.count());
        if (!r.error.empty()) {
            fmt::print(out, "    error: {}\n", r.error);
        }
    }
    if (f.fetch_skipped_after_failure) {
        fmt::print(out, "  fetch skipped: the same policy id failed less than 5 minutes ago\n");
    }
    if (!f.parse_error.empty()) {
        fmt::print(out, "  policy invalid: {}\n", f.parse_error);
    }
    if (f.policy) {
        fmt::print(out, "  policy id {}{}: mode {}, max_age {}\n", f.policy_id,
                   f.policy_from_cache ? " (cached)" : "", sts::to_string(f.policy->mode),
                   f.policy->max_age);
        for (const auto& p : f.policy->mx) {
            fmt::print(out, "    mx: {}\n", p);
        }
    }
    for (const auto& m : f.mx) {
        fmt::print(out, "  MX host {}: {}\n", m.host,
                   m.eligible ? "eligible (matches an mx pattern)" : "not eligible");
    }
    fmt::print(out, "  MTA-STS: {}{}{}\n", sts::to_string(f.state), f.why.empty() ? "" : ": ",
               f.why);
}

}  // namespace

int run_check(const config::Config& config, const std::vector<std::string>& domains, bool json,
              std::ostream& out) {
    auto resolver = dns::UnboundResolver::create(config.resolver);
    if (!resolver) {
        fmt::print(stderr, "dane-sts-milter: {}: [resolver]: {}\n", config.path, resolver.error());
        return 2;
    }
    auto fetcher = sts::make_https_fetcher(**resolver, config.sts);
    sts::PolicyCache policies;
    cache::SystemClock clock;
    const verdict::VerdictBuilder builder(**resolver, fetcher.get(), policies, clock);
    bool all_accept = true;
    if (json) {
        out << "[";
    }
    bool first_domain = true;
    for (const auto& input : domains) {
        auto rcpt = address::parse_recipient("<postmaster@" + input + ">");
        if (rcpt.kind != address::RecipientKind::domain) {
            fmt::print(stderr, "dane-sts-milter: {}: not a domain name: {}\n", input,
                       rcpt.error.empty() ? "no DNS name" : rcpt.error);
            all_accept = false;
            continue;
        }
        const auto all = builder.lookup(rcpt.domain,
                                        config.connectors.validates_sts_for(rcpt.domain));
        const auto& facts = all.dane;
        const auto v = verdict::verdict_from_facts(all, clock.wall());
        if (!json) {
            fmt::print(out, "{}\n", rcpt.domain);
            print_facts(facts, out);
            if (all.sts) {
                print_sts(*all.sts, out);
            } else {
                fmt::print(out, "  MTA-STS: skipped (no connector for {} validates it)\n",
                           rcpt.domain);
            }
            fmt::print(out, "  verdict: dnssec={} dane={} sts={}\n", verdict::to_string(v.dnssec),
                       verdict::to_string(v.dane), verdict::to_string(v.sts));
        } else {
            fmt::print(out,
                       "{}{{\"domain\":\"{}\",\"dnssec\":\"{}\",\"dane\":\"{}\",\"sts\":\"{}\","
                       "\"why\":\"{}\",\"sts_why\":\"{}\",\"mx_hosts\":[",
                       first_domain ? "" : ",", json_escape(rcpt.domain),
                       verdict::to_string(v.dnssec), verdict::to_string(v.dane),
                       verdict::to_string(v.sts), json_escape(v.dane_why), json_escape(v.sts_why));
            for (std::size_t i = 0; i < facts.hosts.size(); ++i) {
                const auto& h = facts.hosts[i];
                fmt::print(out, "{}{{\"name\":\"{}\",\"preference\":{},\"dane\":\"{}\"}}",
                           i == 0 ? "" : ",", json_escape(h.name), h.preference,
                           dane::to_string(h.dane));
            }
            out << "],\"connectors\":[";
        }
        first_domain = false;

        // Every connector whose recipient_domains cover the domain, whatever
        // its sender_domains: the administrator sees each outcome.
        std::vector<const config::Connector*> applicable;
        for (const auto& c : config.connectors.connectors()) {
            if (std::any_of(
                    c.recipient_domains.begin(), c.recipient_domains.end(),
                    [&](const config::DomainPattern& p) { return p.matches(rcpt.domain); })) {
                applicable.push_back(&c);
            }
        }
        if (applicable.empty()) {
            applicable.push_back(&config.connectors.select(rcpt.domain));
        }
        bool first_connector = true;
        for (const auto* c : applicable) {
            const auto d = decision::decide(*c, v);
            if (d.would != decision::Action::accept) {
                all_accept = false;
            }
            if (!json) {
                fmt::print(out, "  connector {} (dane={}, mta_sts={}{}): {}", c->name,
                           config::to_string(c->dane), config::to_string(c->mta_sts),
                           c->test_mode ? ", test_mode" : "", decision::to_string(d.would));
                if (d.would == decision::Action::accept) {
                    fmt::print(out, ", require={}\n", decision::to_string(d.require));
                } else {
                    fmt::print(out, " {} {} {}\n", d.reply_code, d.enhanced_code, d.reply_text);
                }
            } else {
                fmt::print(
                    out,
                    "{}{{\"name\":\"{}\",\"action\":\"{}\",\"require\":\"{}\",\"result\":"
                    "\"{}\",\"reply\":\"{}\"}}",
                    first_connector ? "" : ",", json_escape(c->name), decision::to_string(d.would),
                    decision::to_string(d.require), decision::to_string(d.result),
                    json_escape(d.reply_code.empty()
                                    ? ""
                                    : d.reply_code + " " + d.enhanced_code + " " + d.reply_text));
            }
            first_connector = false;
        }
        if (json) {
            out << "]}";
        }
    }
    if (json) {
        out << "]\n";
    }
    return all_accept ? 0 : 1;
}

}  // namespace dsm::milter
