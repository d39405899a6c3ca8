// MTA-STS policies in the verdict store (SPEC §6; RFC 8461 §3.3, §5.1): the
// PolicyCache's backing, so that a fetched policy keeps applying for its
// max_age after a restart (SQLite) and on every milter of a fleet (Redis),
// also when the TXT record is stripped or the policy host is unreachable.
//
// Record, version 1, LF-separated lines:
//   dsm-sts-policy v1
//   domain: <domain>
//   id: <the TXT id the policy was fetched under>
//   fetched: <nanoseconds since the Unix epoch>
//   <the policy as a policy file, core/sts/policy.hpp format_policy()>
// The policy part is parsed with the same strict parser as a fetched body,
// so a damaged record is refused, never half read. A record of another
// version, or of another domain, is a miss.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/cache/store.hpp"
#include "core/sts/policy_cache.hpp"

namespace dsm::cache {

class StorePolicies final : public sts::PolicyBacking {
  public:
    explicit StorePolicies(std::shared_ptr<Store> store) : store_(std::move(store)) {}
    std::optional<Record> load(const std::string& domain) override;
    void save(const std::string& domain, const Record& record) override;

  private:
    std::shared_ptr<Store> store_;
};

std::string encode_policy(const std::string& domain, const sts::PolicyBacking::Record& record);
std::optional<sts::PolicyBacking::Record> decode_policy(const std::string& domain,
                                                        const std::string& text);

}  // namespace dsm::cache
