// The pieces of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): one line a
// sample, `name{label="value",...} value`, after `# HELP name text` and
// `# TYPE name type` lines. Registry::render() puts them together.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsm::metrics {

// The Content-Type of a scrape answer.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// HELP text: backslash and line feed escaped as \\ and \n.
std::string escape_help(std::string_view s);
// A label value: backslash, double quote and line feed escaped as \\, \" and \n.
std::string escape_label_value(std::string_view s);
// A sample value (or an `le` bound): integers without a fraction ("3"),
// others in the shortest form that reads back the same ("0.005"); "+Inf",
// "-Inf", "NaN".
std::string format_value(double v);

// `{a="x",b="y"}`, or "" without labels.
std::string format_labels(const std::vector<std::pair<std::string_view, std::string_view>>& labels);

// "# HELP name help\n# TYPE name type\n".
void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type);
// "name{labels} value\n".
void append_sample(std::string& out, std::string_view name,
                   const std::vector<std::pair<std::string_view, std::string_view>>& labels,
                   double value);

}  // namespace dsm::metrics
