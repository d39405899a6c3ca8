// Connector selection (SPEC §2): among connectors whose recipient_domains
// match (and whose sender_domains, if set, match the envelope sender), the
// most specific recipient pattern wins; ties go to the first in the file.
// Without any connector an implicit `default` (`*`, opportunistic) applies.
// Immutable after construction: safe to share between threads.
#pragma once

#include <string_view>
#include <vector>

#include "core/config/connector.hpp"

namespace dsm::config {

class ConnectorTable {
  public:
    ConnectorTable();  // the implicit default only
    explicit ConnectorTable(std::vector<Connector> connectors);

    // `recipient_domain`: normalised (lower-case A-label, no trailing dot),
    // or an address literal such as "[192.0.2.1]" (matched only by `*`).
    // `sender_domain`: normalised, empty for the null sender <> (which then
    // matches only connectors without sender_domains). Never fails: when no
    // connector matches, the implicit default is returned.
    [[nodiscard]] const Connector& select(std::string_view recipient_domain,
                                          std::string_view sender_domain) const;

    // Selection by recipient alone (the policy map, SPEC §7): connectors with
    // sender_domains are skipped.
    [[nodiscard]] const Connector& select(std::string_view recipient_domain) const;

    // The file's connectors in file order; the implicit default alone when the
    // file has none (so a listing per connector is never empty).
    [[nodiscard]] const std::vector<Connector>& connectors() const { return connectors_; }

    // Whether any connector that can apply to `recipient_domain`, for any
    // sender, validates MTA-STS: otherwise no policy need be fetched for it.
    [[nodiscard]] bool validates_sts_for(std::string_view recipient_domain) const;

    // What select() falls back to when no connector matches: `default`, `*`,
    // opportunistic.
    [[nodiscard]] const Connector& implicit_default() const { return implicit_default_; }

  private:
    std::vector<Connector> connectors_;
    Connector implicit_default_;
};

}  // namespace dsm::config
