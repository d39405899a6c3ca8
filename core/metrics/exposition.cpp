#include "core/metrics/exposition.hpp"

#include <fmt/format.h>

#include <cmath>

namespace dsm::metrics {

namespace {
std::string escape(std::string_view s, bool quote) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (quote && c == '"') {
            out += "\\\"";
        } else {
            out += c;
        }
    }
    return out;
}
}  // namespace

std::string escape_help(std::string_view s) {
    return escape(s, false);
}

std::string escape_label_value(std::string_view s) {
    return escape(s, true);
}

std::string format_value(double v) {
    if (std::isnan(v)) {
        return "NaN";
    }
    if (std::isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    // Counters are whole numbers: print them without an exponent up to 2^53.
    if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
        return fmt::format("{}", static_cast<long long>(v));
    }
    return fmt::format("{}", v);  // shortest round-trip form
}

std::string format_labels(
    const std::vector<std::pair<std::string_view, std::string_view>>& labels) {
    if (labels.empty()) {
        return {};
    }
    std::string out = "{";
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) {
            out += ',';
        }
        out += labels[i].first;
        out += "=\"";
        out += escape_label_value(labels[i].second);
        out += '"';
    }
    out += '}';
    return out;
}

void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += escape_help(help);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void append_sample(std::string& out, std::string_view name,
                   const std::vector<std::pair<std::string_view, std::string_view>>& labels,
                   double value) {
    out += name;
    out += format_labels(labels);
    out += ' ';
    out += format_value(value);
    out += '\n';
}

}  // namespace dsm::metrics
