#include "milter/check_command.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <algorithm>
#include <chrono>

#include "core/address/recipient.hpp"
#include "core/decision/decision.hpp"
#include "core/decision/verdict_header.hpp"
#include "core/dns/unbound_resolver.hpp"
#include "core/probe/source_address.hpp"
#include "core/util/clock.hpp"
#include "core/verdict/dane_verdict.hpp"
#include "core/verdict/verdict_builder.hpp"

namespace dsm::milter {

namespace {

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

using Poco::JSON::Array;
using Poco::JSON::Object;

Object::Ptr dane_json(const dane::DaneFacts& f) {
    Object::Ptr o = new Object;
    o->set("mx_outcome", std::string(dns::to_string(f.mx_outcome)));
    o->set("mx_dnssec", std::string(dns::to_string(f.mx_dnssec)));
    o->set("mx_why_bogus", f.mx_why_bogus);
    o->set("mx_error", f.mx_error);
    o->set("null_mx", f.null_mx);
    o->set("implicit_mx", f.implicit_mx);
    o->set("nxdomain", f.nxdomain);
    o->set("mx_hosts_skipped", f.mx_hosts_skipped);
    Array::Ptr hosts = new Array;
    for (const auto& h : f.hosts) {
        Object::Ptr jh = new Object;
        jh->set("name", h.name);
        jh->set("preference", h.preference);
        jh->set("canonical_name", h.canonical_name);
        jh->set("address_dnssec", std::string(dns::to_string(h.address_dnssec)));
        jh->set("address_lookup_failed", h.address_lookup_failed);
        Array::Ptr addresses = new Array;
        for (const auto& a : h.addresses) {
            addresses->add(a);
        }
        jh->set("addresses", addresses);
        Array::Ptr tlsa = new Array;
        for (const auto& t : h.tlsa) {
            Object::Ptr jt = new Object;
            jt->set("qname", t.qname);
            jt->set("outcome", std::string(dns::to_string(t.outcome)));
            jt->set("dnssec", std::string(dns::to_string(t.dnssec)));
            jt->set("why_bogus", t.why_bogus);
            jt->set("error", t.error);
            Array::Ptr records = new Array;
            for (const auto& r : t.records) {
                Object::Ptr jr = new Object;
                jr->set("record", r.to_string());
                jr->set("usable", r.usable());
                records->add(jr);
            }
            jt->set("records", records);
            tlsa->add(jt);
        }
        jh->set("tlsa", tlsa);
        jh->set("dane", std::string(dane::to_string(h.dane)));
        jh->set("why", h.why);
        hosts->add(jh);
    }
    o->set("mx_hosts", hosts);
    o->set("dane", std::string(dane::to_string(f.dane)));
    o->set("why", f.why);
    return o;
}

Object::Ptr sts_json(const sts::StsFacts& f) {
    Object::Ptr o = new Object;
    o->set("txt_name", f.txt_name);
    o->set("txt_outcome", std::string(dns::to_string(f.txt_outcome)));
    o->set("txt_dnssec", std::string(dns::to_string(f.txt_dnssec)));
    Array::Ptr txt = new Array;
    for (const auto& r : f.txt_records) {
        txt->add(r);
    }
    o->set("txt_records", txt);
    o->set("discovery_why", f.discovery.why);
    if (f.fetch) {
        Object::Ptr jf = new Object;
        jf->set("url", f.fetch->url);
        jf->set("outcome", std::string(sts::to_string(f.fetch->outcome)));
        jf->set("address", f.fetch->address);
        jf->set("status", f.fetch->status);
        jf->set("content_type", f.fetch->content_type);
        jf->set("size", f.fetch->size);
        jf->set("error", f.fetch->error);
        jf->set("took_ms", static_cast<Poco::Int64>(f.fetch->took.count()));
        o->set("fetch", jf);
    }
    o->set("fetch_skipped_after_failure", f.fetch_skipped_after_failure);
    o->set("parse_error", f.parse_error);
    if (f.policy) {
        Object::Ptr jp = new Object;
        jp->set("id", f.policy_id);
        jp->set("from_cache", f.policy_from_cache);
        jp->set("mode", std::string(sts::to_string(f.policy->mode)));
        jp->set("max_age", f.policy->max_age);
        Array::Ptr mx = new Array;
        for (const auto& p : f.policy->mx) {
            mx->add(p);
        }
        jp->set("mx", mx);
        o->set("policy", jp);
    }
    Array::Ptr mx = new Array;
    for (const auto& m : f.mx) {
        Object::Ptr jm = new Object;
        jm->set("host", m.host);
        jm->set("eligible", m.eligible);
        mx->add(jm);
    }
    o->set("mx_eligibility", mx);
    o->set("state", std::string(sts::to_string(f.state)));
    o->set("why", f.why);
    return o;
}

void print_probes(const verdict::DomainFacts& all, std::ostream& out) {
    for (const auto* probes : {&all.dane_probes, &all.sts_probes}) {
        for (const auto& r : *probes) {
            fmt::print(out, "  probe {} [{}] ({}): {}{}{} ({} ms)\n", r.host, r.address,
                       probes == &all.dane_probes ? "DANE" : "WebPKI", probe::to_string(r.outcome),
                       r.detail.empty() ? "" : ": ", r.detail, r.took.count());
        }
    }
}

void print_domain(const std::string& domain, const verdict::DomainFacts& all,
                  const verdict::DomainVerdict& v, std::ostream& out) {
    fmt::print(out, "{}\n", domain);
    print_facts(all.dane, out);
    if (all.sts) {
        print_sts(*all.sts, out);
    } else {
        fmt::print(out, "  MTA-STS: skipped (no connector for {} validates it)\n", domain);
    }
    print_probes(all, out);
    fmt::print(out, "  verdict: dnssec={} dane={} sts={}\n", verdict::to_string(v.dnssec),
               verdict::to_string(v.dane), verdict::to_string(v.sts));
}

// SPEC §8: every step, the STARTTLS probes (SPEC §5) included.
Array::Ptr probes_json(const verdict::DomainFacts& all) {
    Array::Ptr jprobes = new Array;
    for (const auto* probes : {&all.dane_probes, &all.sts_probes}) {
        for (const auto& r : *probes) {
            Object::Ptr jp = new Object;
            jp->set("kind", std::string(probes == &all.dane_probes ? "dane" : "webpki"));
            jp->set("host", r.host);
            jp->set("address", r.address);
            jp->set("outcome", std::string(probe::to_string(r.outcome)));
            // RFC 8460 §4.3 result type; "" when nothing failed.
            jp->set("result", std::string(probe::result_type(r.outcome)));
            jp->set("failure", probe::is_failure(r.outcome));
            jp->set("detail", r.detail);
            jp->set("took_ms", static_cast<Poco::Int64>(r.took.count()));
            jp->set("tls_version", r.tls_version);
            jp->set("cipher", r.cipher);
            jp->set("peer_subject", r.peer_subject);
            jp->set("verify_error", r.verify_error);
            jp->set("matched_tlsa", r.matched_tlsa);
            jprobes->add(jp);
        }
    }
    return jprobes;
}

Object::Ptr domain_json(const std::string& domain, const verdict::DomainFacts& all,
                        const verdict::DomainVerdict& v) {
    Object::Ptr jd = new Object;
    jd->set("domain", domain);
    jd->set("dnssec", std::string(verdict::to_string(v.dnssec)));
    jd->set("dane", std::string(verdict::to_string(v.dane)));
    jd->set("sts", std::string(verdict::to_string(v.sts)));
    jd->set("dane_why", v.dane_why);
    jd->set("sts_why", v.sts_why);
    jd->set("dane_steps", dane_json(all.dane));
    if (all.sts) {
        jd->set("sts_steps", sts_json(*all.sts));
    }
    jd->set("probes", probes_json(all));
    return jd;
}

// Every connector whose recipient_domains cover the domain, whatever its
// sender_domains: the administrator sees each outcome.
std::vector<const config::Connector*> applicable_connectors(const config::ConnectorTable& table,
                                                            const std::string& domain) {
    std::vector<const config::Connector*> applicable;
    for (const auto& c : table.connectors()) {
        if (std::any_of(c.recipient_domains.begin(), c.recipient_domains.end(),
                        [&](const config::DomainPattern& p) { return p.matches(domain); })) {
            applicable.push_back(&c);
        }
    }
    if (applicable.empty()) {
        applicable.push_back(&table.select(domain));
    }
    return applicable;
}

void print_connector(const config::Connector& c, const decision::Decision& d, std::ostream& out) {
    fmt::print(out, "  connector {} (dane={}, mta_sts={}{}): {}", c.name, config::to_string(c.dane),
               config::to_string(c.mta_sts), c.test_mode ? ", test_mode" : "",
               decision::to_string(d.would));
    if (d.would == decision::Action::accept) {
        fmt::print(out, ", require={}\n", decision::to_string(d.require));
    } else {
        fmt::print(out, " {} {} {}\n", d.reply_code, d.enhanced_code, d.reply_text);
    }
}

Object::Ptr connector_json(const config::Connector& c, const decision::Decision& d) {
    Object::Ptr jc = new Object;
    jc->set("name", c.name);
    jc->set("dane_mode", std::string(config::to_string(c.dane)));
    jc->set("sts_mode", std::string(config::to_string(c.mta_sts)));
    jc->set("test_mode", c.test_mode);
    jc->set("action", std::string(decision::to_string(d.would)));
    jc->set("require", std::string(decision::to_string(d.require)));
    jc->set("result", std::string(decision::to_string(d.result)));
    jc->set("reply", d.reply_code.empty()
                         ? std::string()
                         : d.reply_code + " " + d.enhanced_code + " " + d.reply_text);
    return jc;
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
    util::SystemClock clock;
    std::unique_ptr<probe::Prober> prober;
    if (config.probe.enabled) {
        if (auto error = probe::check_source_addresses(config.probe)) {
            fmt::print(stderr, "dane-sts-milter: {}: {}\n", config.path, *error);
            return 2;
        }
        prober = probe::make_smtp_prober(config.probe, config.sts.ca_file);
    }
    const verdict::VerdictBuilder builder(**resolver, fetcher.get(), policies, clock, prober.get());
    bool all_accept = true;
    Array::Ptr report = new Array;
    for (const auto& input : domains) {
        auto rcpt = address::parse_recipient("<postmaster@" + input + ">");
        if (rcpt.kind != address::RecipientKind::domain) {
            fmt::print(stderr, "dane-sts-milter: {}: not a domain name: {}\n", input,
                       rcpt.error.empty() ? "no DNS name" : rcpt.error);
            return 2;  // SPEC §8: a usage error
        }
        const auto all =
            builder.lookup(rcpt.domain, config.connectors.validates_sts_for(rcpt.domain));
        const auto v = verdict::verdict_from_facts(all, clock.wall());
        Object::Ptr jd;
        Array::Ptr jconnectors = new Array;
        if (json) {
            jd = domain_json(rcpt.domain, all, v);
            jd->set("connectors", jconnectors);
            report->add(jd);
        } else {
            print_domain(rcpt.domain, all, v, out);
        }
        for (const auto* c : applicable_connectors(config.connectors, rcpt.domain)) {
            const auto d = decision::decide(*c, v);
            all_accept = all_accept && d.would == decision::Action::accept;
            if (json) {
                jconnectors->add(connector_json(*c, d));
            } else {
                print_connector(*c, d, out);
            }
        }
    }
    if (json) {
        report->stringify(out, 2);
        out << "\n";
    }
    return all_accept ? 0 : 1;
}

}  // namespace dsm::milter
