#include "core/report/readiness_format.hpp"

#include <fmt/format.h>

namespace dsm::report {

namespace {

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

void text_scenario(std::string& out, std::string_view title, const Scenario& s, bool would) {
    const std::string_view verb = would ? "would be" : "were";
    if (s.recipients == 0) {
        out += fmt::format("  {}: no recipient {} deferred or rejected\n", title,
                           would ? "would be" : "was");
        return;
    }
    out += fmt::format("  {}: {}, {} ({:.1f}%) {} deferred or rejected\n", title,
                       plural(s.domains, "domain", "domains"),
                       plural(s.recipients, "recipient", "recipients"), s.share_percent, verb);
    for (const auto& d : s.refused) {
        out += fmt::format("    {:>7}  {:<6}  {:<26}  {}\n", d.recipients, d.action, d.cause,
                           d.domain);
    }
}

// JSON string: our values are connector names, domains and fixed words, but
// a store may hold anything.
std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (const char ch : s) {
        const auto u = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (u < 0x20) {
            out += fmt::format("\\u{:04x}", u);
        } else {
            out += ch;
        }
    }
    out += '"';
    return out;
}

std::string json_scenario(const Scenario& s, std::string_view indent) {
    std::string out = "{\n";
    out += fmt::format("{}  \"dane_mode\": {},\n", indent, quoted(s.dane_mode));
    out += fmt::format("{}  \"test_mode\": {},\n", indent, s.test_mode ? "true" : "false");
    out += fmt::format("{}  \"domains\": {},\n", indent, s.domains);
    out += fmt::format("{}  \"recipients\": {},\n", indent, s.recipients);
    out += fmt::format("{}  \"deferred\": {},\n", indent, s.deferred);
    out += fmt::format("{}  \"rejected\": {},\n", indent, s.rejected);
    out += fmt::format("{}  \"share_percent\": {:.1f},\n", indent, s.share_percent);
    out += fmt::format("{}  \"refused\": [", indent);
    for (std::size_t i = 0; i < s.refused.size(); ++i) {
        const auto& d = s.refused[i];
        out += fmt::format(
            "{}\n{}    {{\"domain\": {}, \"action\": {}, \"cause\": {}, \"recipients\": {}}}",
            i == 0 ? "" : ",", indent, quoted(d.domain), quoted(d.action), quoted(d.cause),
            d.recipients);
    }
    out += s.refused.empty() ? "]\n" : fmt::format("\n{}  ]\n", indent);
    out += fmt::format("{}}}", indent);
    return out;
}

}  // namespace

std::string format_readiness_text(const ReadinessReport& r) {
    std::string out = fmt::format("readiness report: {} to {} (UTC, {}), store {}\n", r.first_day,
                                  r.last_day, plural(r.days, "day", "days"), r.store);
    for (const auto& c : r.connectors) {
        out += fmt::format("\nconnector {}: dane={} mta_sts={}{}\n", c.name, c.dane_mode,
                           c.sts_mode, c.test_mode ? " test_mode=yes" : "");
        out += fmt::format("  seen: {}, {}\n", plural(c.domains, "domain", "domains"),
                           plural(c.recipients, "recipient", "recipients"));
        if (c.recipients == 0) {
            continue;
        }
        text_scenario(out,
                      c.test_mode ? fmt::format("as configured ({}, test mode)", c.dane_mode)
                                  : fmt::format("as configured ({})", c.dane_mode),
                      c.configured, c.test_mode);
        if (c.mandatory) {
            text_scenario(out, "if mandatory", *c.mandatory, true);
        } else if (c.dane_mode == "none" && c.sts_mode == "none") {
            out += "  if mandatory: not known (mode none looks nothing up)\n";
        }
    }
    return out;
}

std::string format_readiness_json(const ReadinessReport& r) {
    std::string out = "{\n";
    out += fmt::format("  \"first_day\": {},\n", quoted(r.first_day));
    out += fmt::format("  \"last_day\": {},\n", quoted(r.last_day));
    out += fmt::format("  \"days\": {},\n", r.days);
    out += fmt::format("  \"store\": {},\n", quoted(r.store));
    out += "  \"connectors\": [";
    for (std::size_t i = 0; i < r.connectors.size(); ++i) {
        const auto& c = r.connectors[i];
        out += i == 0 ? "\n" : ",\n";
        out += "    {\n";
        out += fmt::format("      \"name\": {},\n", quoted(c.name));
        out += fmt::format("      \"dane_mode\": {},\n", quoted(c.dane_mode));
        out += fmt::format("      \"sts_mode\": {},\n", quoted(c.sts_mode));
        out += fmt::format("      \"test_mode\": {},\n", c.test_mode ? "true" : "false");
        out += fmt::format("      \"domains\": {},\n", c.domains);
        out += fmt::format("      \"recipients\": {},\n", c.recipients);
        out += fmt::format("      \"configured\": {},\n", json_scenario(c.configured, "      "));
        out += fmt::format("      \"mandatory\": {}\n",
                           c.mandatory ? json_scenario(*c.mandatory, "      ") : "null");
        out += "    }";
    }
    out += r.connectors.empty() ? "]\n" : "\n  ]\n";
    out += "}\n";
    return out;
}

}  // namespace dsm::report
