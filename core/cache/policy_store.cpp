#include "core/cache/policy_store.hpp"

#include <charconv>
#include <string_view>

namespace dsm::cache {

namespace {

constexpr std::string_view kMagic = "dsm-sts-policy v1\n";

// The value of line "KEY: value\n" at `pos`; advances `pos` past it.
std::optional<std::string_view> field(std::string_view text, std::size_t& pos,
                                      std::string_view key) {
    const auto end = text.find('\n', pos);
    if (end == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view line = text.substr(pos, end - pos);
    if (!line.starts_with(key) || line.substr(key.size(), 2) != ": ") {
        return std::nullopt;
    }
    pos = end + 1;
    return line.substr(key.size() + 2);
}

}  // namespace

std::string encode_policy(const std::string& domain, const sts::PolicyBacking::Record& record) {
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(record.fetched.time_since_epoch());
    std::string out(kMagic);
    out += "domain: " + domain + '\n';
    out += "id: " + record.id + '\n';
    out += "fetched: " + std::to_string(ns.count()) + '\n';
    out += sts::format_policy(record.policy);
    return out;
}

std::optional<sts::PolicyBacking::Record> decode_policy(const std::string& domain,
                                                        const std::string& text) {
    const std::string_view t = text;
    if (!t.starts_with(kMagic)) {
        return std::nullopt;
    }
    std::size_t pos = kMagic.size();
    const auto d = field(t, pos, "domain");
    const auto id = field(t, pos, "id");
    const auto fetched = field(t, pos, "fetched");
    if (!d || *d != domain || !id || id->empty() || !fetched) {
        return std::nullopt;
    }
    std::int64_t ns = 0;
    const auto [ptr, ec] = std::from_chars(fetched->data(), fetched->data() + fetched->size(), ns);
    if (ec != std::errc() || ptr != fetched->data() + fetched->size()) {
        return std::nullopt;
    }
    auto policy = sts::parse_policy(t.substr(pos));
    if (!policy) {
        return std::nullopt;
    }
    sts::PolicyBacking::Record r;
    r.policy = std::move(*policy);
    r.id = std::string(*id);
    r.fetched = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(ns)));
    return r;
}

std::optional<sts::PolicyBacking::Record> StorePolicies::load(const std::string& domain) {
    const auto text = store_->get_policy(domain);
    return text ? decode_policy(domain, *text) : std::nullopt;
}

void StorePolicies::save(const std::string& domain, const Record& record) {
    store_->put_policy(domain, encode_policy(domain, record),
                       record.fetched + std::chrono::seconds(record.policy.max_age));
}

}  // namespace dsm::cache
