#include "core/decision/verdict_header.hpp"

#include <fmt/format.h>

#include <ctime>
#include <vector>

namespace dsm::decision {

namespace {

constexpr std::size_t kFoldAt = 78;

std::string join(const std::vector<std::string>& v, std::string_view sep) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) {
            out += sep;
        }
        out += s;
    }
    return out;
}

}  // namespace

std::string log_value(std::string_view s) {
    bool needs = s.empty();
    for (char ch : s) {
        if (ch == ' ' || ch == '"' || ch == '=' || static_cast<unsigned char>(ch) < 0x20) {
            needs = true;
        }
    }
    if (!needs) {
        return std::string(s);
    }
    std::string out = "\"";
    for (char ch : s) {
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (static_cast<unsigned char>(ch) < 0x20) {
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(ch));
        } else {
            out += ch;
        }
    }
    out += '"';
    return out;
}

std::string format_utc(std::chrono::system_clock::time_point t) {
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string format_verdict_header(std::string_view header_name, const config::Connector& c,
                                  const verdict::DomainVerdict& v, const Decision& d) {
    std::vector<std::string> parts;
    parts.push_back(v.domain);
    parts.push_back("connector=" + c.name);
    parts.push_back(fmt::format("dane_mode={}", config::to_string(c.dane)));
    parts.push_back(fmt::format("sts_mode={}", config::to_string(c.mta_sts)));
    parts.push_back(fmt::format("dnssec={}", verdict::to_string(d.dnssec)));
    parts.push_back(fmt::format("dane={}", verdict::to_string(d.dane)));
    parts.push_back(fmt::format("sts={}", verdict::to_string(d.sts)));
    parts.push_back(fmt::format("require={}", to_string(d.require)));
    if (!c.tags.empty()) {
        parts.push_back("tags=" + join(c.tags, ","));
    }
    if (d.test_mode) {
        parts.emplace_back("test_mode=yes");
        if (d.would != Action::accept) {
            parts.push_back(fmt::format("would={}", to_string(d.would)));
        }
        if (d.result != ResultType::none) {
            parts.push_back(fmt::format("result={}", to_string(d.result)));
        }
    }
    parts.push_back("at=" + format_utc(v.at));

    // Fold between pairs, never inside one.
    std::string out;
    std::size_t line = header_name.size() + 2;  // "Name: "
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const bool last = i + 1 == parts.size();
        const std::string piece = last ? parts[i] : parts[i] + ";";
        if (i > 0) {
            if (line + 1 + piece.size() > kFoldAt) {
                out += "\n\t";
                line = 8;  // a tab counts as up to 8 columns
            } else {
                out += ' ';
                line += 1;
            }
        }
        out += piece;
        line += piece.size();
    }
    return out;
}

std::string format_decision_log(const LogContext& ctx, const config::Connector& c,
                                const verdict::DomainVerdict& v, const Decision& d) {
    std::string out;
    if (!ctx.queue_id.empty()) {
        out += fmt::format("{}: ", ctx.queue_id);
    }
    out += fmt::format(
        "rcpt={} domain={} connector={} dane_mode={} sts_mode={} dnssec={} dane={} sts={} "
        "require={} action={}",
        log_value(ctx.recipient), log_value(v.domain), log_value(c.name), config::to_string(c.dane),
        config::to_string(c.mta_sts), verdict::to_string(d.dnssec), verdict::to_string(d.dane),
        verdict::to_string(d.sts), to_string(d.require), to_string(d.action));
    if (v.stale) {
        // RFC 8767 style: the refresh failed and the previous verdict serves.
        out += " stale=yes";
    }
    if (d.test_mode) {
        out += fmt::format(" test_mode=yes would={}", to_string(d.would));
    }
    if (d.result != ResultType::none) {
        out += fmt::format(" result={}", to_string(d.result));
    }
    if (!d.reply_code.empty()) {
        out += " reply=" +
               log_value(fmt::format("{} {} {}", d.reply_code, d.enhanced_code, d.reply_text));
    }
    if (!c.tags.empty()) {
        out += " tags=" + join(c.tags, ",");
    }
    out += fmt::format(" row={}", d.row);
    return out;
}

}  // namespace dsm::decision
